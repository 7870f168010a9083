"""A study session's recordings: a video or image of the session, analysed as an upload job, its rows
stored with the session's own (so the session's and the study's exports include them).

    POST /api/sessions/{id}/recordings[?started=WHEN]   researcher; multipart "file", as /api/uploads
    GET  /api/sessions/{id}/recordings                  researcher; the session's recording jobs

Each row of the recording's CSV (``ml.schema``: one per face per analysed frame) becomes a
``results`` row of the session with

- ``file``: the recording's file name (a live stream's rows have none: that tells them apart;
  their ``time_s`` is on the recording's clock, seconds from its start);
- ``utc``: ``started + time_s`` when ``started`` is given (ISO 8601 UTC such as
  ``2026-11-26T12:00:00Z``, or seconds since the epoch), else the file's own creation time
  where a video carries one, else empty;
- ``task``: the task running at that moment by the session's markers (a task runs from its
  ``start`` marker until its ``end`` marker or the next ``start``), NULL when none ran or the
  moment is unknown;
- ``participant``: the participant's face is chosen as in a live session (``studies.participant_face``):
  each frame has the participant's row (their face, or empty face fields) and one per other face.
"""

from __future__ import annotations

import bisect
import csv
import math
from datetime import datetime, timezone
from pathlib import Path

from ml.schema import utc_epoch as epoch, utc_iso

from ..studies.participant_face import ParticipantFace
from ..studies.rows import FACE_FIELDS, recording_row


def parse_started(text: str) -> float:
    """``started``: ISO 8601 (UTC unless it names its zone) or seconds since the epoch; ValueError."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"started={text[:40]!r} is not a time: use ISO 8601 UTC (2026-11-26T12:00:00Z) "
                             "or seconds since the epoch") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        value = when.timestamp()
    if not math.isfinite(value) or not 0 < value < 32503680000:  # after 1970, before 3000
        raise ValueError(f"started={text[:40]!r} is out of range")
    return value


def task_spans(markers: list[dict]) -> tuple[list[float], list[int | None]]:
    """The session's markers as (moments, task from each moment on): a task runs from its start marker
    until its end marker or the next start."""
    moments, tasks, current = [], [], None
    for m in sorted(markers, key=lambda m: epoch(m["utc"]) or 0.0):
        at = epoch(m["utc"])
        if at is None:
            continue
        if m["event"] == "start":
            current = m["task"]
        elif m["event"] == "end" and current == m["task"]:
            current = None
        else:
            continue
        moments.append(at)
        tasks.append(current)
    return moments, tasks


def task_at(spans: tuple[list[float], list[int | None]], at: float | None) -> int | None:
    moments, tasks = spans
    if at is None:
        return None
    i = bisect.bisect_right(moments, at) - 1
    return tasks[i] if i >= 0 else None


def recording_rows(csv_path: Path, session_id: str, filename: str, started: float | None,
                   markers: list[dict]) -> list[dict]:
    """Blocking: the results-table rows of a recording's CSV, for ``session_id``."""
    spans = task_spans(markers)
    chooser = ParticipantFace()
    out = []

    def frame_rows(group: list[dict]) -> None:
        task = task_at(spans, epoch(group[0]["utc"]))
        faces = [{"id": int(r["face"]), "box": tuple(int(r[k]) for k in "xywh"), "source": r.get("source"), "row": r}
                 for r in group if r["face"]]
        mine = chooser.choose(faces, float(group[0]["time_s"]))
        if mine is not None:
            out.append(recording_row(mine["row"], session_id, task, True))
        else:  # the participant was not found: their row has empty face fields
            out.append(recording_row({**group[0], **dict.fromkeys(FACE_FIELDS, "")}, session_id, task, True))
        out.extend(recording_row(f["row"], session_id, task, False) for f in faces if f is not mine)

    with open(csv_path, newline="") as f:
        group: list[dict] = []
        for row in csv.DictReader(f):
            if started is not None:
                row["utc"] = utc_iso(started + float(row["time_s"]))
            row["file"] = filename
            if group and (row["frame"], row["time_s"]) != (group[0]["frame"], group[0]["time_s"]):
                frame_rows(group)
                group = []
            group.append(row)
        if group:
            frame_rows(group)
    return out
