"""Between the live ``result`` message, the stored ``results`` rows and the exports: the app's one row schema.

    stored_rows(session_id, task, message)   -> rows for the results table (typed values)
    export_row(stored, tasks, label)          -> the row as ml.schema formats it for CSV, plus the study's columns
    EXPORT_COLUMNS                            -> ml.schema.COLUMNS + STUDY_COLUMNS

Each analysed frame has one row for the participant (their face, or empty face fields when
they were not found: ``participant`` true) and one row per other face in view (``participant``
false). Which face is the participant's is chosen before (``participant_face.py``): the
``result`` message's faces say it (``"participant": true``).
"""

from __future__ import annotations

from sqlalchemy import Float, Integer

from ml.labels import CLASSES
from ml.schema import COLUMNS, face_row, frame_row

from ..storage.models import RESULT_TYPES

# after the schema's columns: the session (its id and its label on the pages: S1, S2, ...), the task
# running (1-based, as on the pages, and its title), whose face, its lighting
STUDY_COLUMNS = ("session", "task", "task_title", "session_label", "participant", "brightness")
EXPORT_COLUMNS = (*COLUMNS, *STUDY_COLUMNS)
FACE_FIELDS = tuple(c for c in COLUMNS if c not in ("frame", "time_s", "utc", "file"))  # empty without a face
_CASTS = {name: {Integer: int, Float: float}.get(kind, str) for name, kind in RESULT_TYPES.items()}


def _typed(row: dict) -> dict:
    return {name: None if row[name] == "" else _CASTS[name](row[name]) for name in COLUMNS}


def _brightness(face: dict | None) -> float | None:
    value = None if face is None else face.get("brightness")
    return None if value is None else round(float(value), 1)


def stored_rows(session_id: str, task: int | None, message: dict) -> list[dict]:
    """The results-table rows of one ``result`` message (server/live/protocol.py): the participant's row
    first (their face, or one without a face), then one per other face."""
    time_s = message.get("timestamp") or 0.0
    frame = message["frame"]
    faces = message["faces"]
    if faces and not any("participant" in f for f in faces):  # not chosen (a bare message): the largest
        mine = faces[0]
    else:
        mine = next((f for f in faces if f.get("participant")), None)
    rows = [(face_row(frame, time_s, mine) if mine is not None else frame_row(frame, time_s), True, mine)]
    rows += [(face_row(frame, time_s, f), False, f) for f in faces if f is not mine]
    out = []
    for row, participant, face in rows:
        row["utc"] = message.get("utc") or ""
        typed = _typed(row)
        typed.update(session_id=session_id, task=task, participant=participant, brightness=_brightness(face))
        out.append(typed)
    return out


def task_number(task: int | None) -> int | str:
    """A stored task index as the pages and exports show it: 1-based ("" outside tasks)."""
    return "" if task is None else task + 1


def task_title(tasks: list[str], task: int | None) -> str:
    return tasks[task] if task is not None and 0 <= task < len(tasks) else ""


def export_row(stored, tasks: list[str], label: str = "") -> dict:
    """A stored results row (a mapping with the table's columns) as an export's row (``EXPORT_COLUMNS``)."""
    if stored["face"] is None:
        row = frame_row(stored["frame"], stored["time_s"], file=stored["file"] or "")
    else:
        face = {
            "id": stored["face"],
            "box": (stored["x"], stored["y"], stored["w"], stored["h"]),
            "label": stored["label"],
            "probs": {c: stored[c] for c in CLASSES},
        }
        row = face_row(stored["frame"], stored["time_s"], face, file=stored["file"] or "")
        row["source"] = stored["source"] or ""  # empty: stored before the column existed
    row["utc"] = stored["utc"] or ""
    row["session"] = stored["session_id"]
    row["task"] = task_number(stored["task"])
    row["task_title"] = task_title(tasks, stored["task"])
    row["session_label"] = label
    row["participant"] = 1 if stored["participant"] else 0
    row["brightness"] = "" if stored["brightness"] is None else f"{stored['brightness']:.1f}"
    return row


def recording_row(row: dict, session_id: str, task: int | None, participant: bool) -> dict:
    """A row of a recording's CSV (``ml.schema`` text, as ``python -m ml.analyze`` writes it) as a results-table
    row of ``session_id`` (server/uploads/recordings.py)."""
    typed = _typed(row)
    typed.update(session_id=session_id, task=task, participant=participant, brightness=None)
    return typed
