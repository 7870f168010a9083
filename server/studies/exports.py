"""A study's downloads, in the names, units and task numbers (1-based, with their titles) of its pages:
result rows, markers, notes, the sessions table, the comparison, the moments, the per-task figures and
the hotspots as CSV; a session as JSON; all of it as one ``export.zip`` whose ``README.txt`` lists every
column with its unit.

    async for chunk in rows_csv(rows, tasks, labels): ...        # bytes, streamed
    sessions_csv(overview)  markers_csv(...)  notes_csv(...)  compare_csv(comparison)   # str
    moments_csv(sessions)  task_figures_csv(sessions)  hotspots_csv(hotspots)           # str (insights.py)
    await write_zip(response_write, db, study, overview, comparison, ..., insights)      # export.zip, streamed

Every figure comes from ``definitions.summarize`` (through ``figures.study_overview``), as on the pages.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import zipfile
from typing import AsyncIterator, Awaitable, Callable

from ml.labels import CLASSES
from ml.schema import COLUMNS, utc_iso

from . import store
from .definitions import GLOSSARY, QUALITY, STATUS_TEXT, thresholds
from .moments import GLOSSARY as INSIGHT_GLOSSARY, KINDS
from .rows import EXPORT_COLUMNS, export_row, task_number, task_title

CHUNK_ROWS = 2000

# every column of every CSV, with its unit and meaning: the README of export.zip, docs/studies.md
ROW_COLUMNS = {
    "frame": ("frame number", "the frame's index in the camera stream (every frame received counts, analysed or not)"),
    "time_s": ("s", "the frame's time since the stream began"),
    "utc": ("ISO 8601 UTC", "when the frame reached the server"),
    "face": ("id", "the face's id from the tracker, stable while it is in view; empty: the participant was not found"),
    "source": ("detected, held or interpolated", "how the face's row was made: detected, found in this frame; held, "
                                                  "live, not found in this frame but less than 0.5 s before, shown at "
                                                  "its last box with its last probabilities (not a measurement: no "
                                                  "figure counts it); interpolated, a recording's face between two "
                                                  "sightings; empty without a face or for rows stored before the column"),
    "x": ("px", "the face box's left edge in the analysed frame"),
    "y": ("px", "the face box's top edge"),
    "w": ("px", "the face box's width"),
    "h": ("px", "the face box's height"),
    "label": ("expression", "the most probable of the seven expressions"),
    "confidence": ("probability 0-1", "the label's probability"),
    **{c: ("probability 0-1", f"the probability of {c} (mean of the face's last 5 analysed frames)") for c in CLASSES},
    "file": ("file name", "the recording a row comes from; empty for the live stream"),
    "session": ("id", "the session's id"),
    "task": ("task number", "the task running (1 = the first task); empty outside tasks"),
    "task_title": ("text", "that task's title"),
    "session_label": ("label", "the session's label on the pages: S1, S2, ... in start order"),
    "participant": ("1 or 0", "1: the participant's row of the frame (their face, or empty face fields when they "
                              "were not found); 0: someone else's face"),
    "brightness": ("mean luma 0-255", "how well the face is lit"),
}
assert tuple(ROW_COLUMNS) == EXPORT_COLUMNS

FIGURE_COLUMNS = ("frames", "frames_with_face", "face_share", "seconds", "face_s",
                  *(f"share_{c}" for c in CLASSES), *(f"prob_{c}" for c in CLASSES),
                  "median_face_px", "brightness", "other_s", "other_faces")
SESSION_COLUMNS = ("session_label", "session", "status", "started", "ended", "check", "check_s", *FIGURE_COLUMNS,
                   "flags")
MARKER_COLUMNS = ("session", "session_label", "task", "task_title", "event", "time_s", "utc")
NOTE_COLUMNS = ("session", "time_s", "utc", "text", "session_label")
# the moments, per-task figures and hotspots (insights.py, moments.py)
MOMENT_COLUMNS = ("session", "session_label", "kind", "expression", "task", "task_title", "start_s", "length_s",
                  "peak_s", "strength", "play_from_s")
TASK_FIGURE_COLUMNS = ("session", "session_label", "status", "task", "task_title", "frames_with_face", "face_s",
                       "valence", "expressiveness", *(f"moments_{k}" for k in KINDS))
HOTSPOT_COLUMNS = ("task", "task_title", "kind", "from_s", "to_s", "sessions", "of", "text", "session",
                   "session_label", "onset_s", "at_s", "play_from_s", "expression", "strength", "recording")
COMPARE_COLUMNS = ("task", "title", "session", "session_label", "status", "sessions", "frames", "frames_with_face",
                   "face_s", *(f"share_{c}" for c in CLASSES), *(f"prob_{c}" for c in CLASSES))


def _glossary_unit(key: str) -> tuple[str, str]:
    for k, name, unit, text in GLOSSARY:
        if k == key:
            return unit, f"{name}: {text}"
    raise KeyError(key)


def figure_columns() -> dict:
    """The sessions CSV's figure columns with their units (from ``definitions.GLOSSARY``)."""
    out = {}
    for col in FIGURE_COLUMNS:
        if col.startswith("share_"):
            unit, text = _glossary_unit("shares")
            out[col] = (unit, f"{text} ({col[6:]})")
        elif col.startswith("prob_"):
            unit, text = _glossary_unit("mean_probs")
            out[col] = (unit, f"{text} ({col[5:]})")
        else:
            out[col] = _glossary_unit(col)
    return out


def _csv(columns, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


async def rows_csv(rows: AsyncIterator, tasks: list[str], labels: dict) -> AsyncIterator[bytes]:
    """Stored result rows as CSV (``EXPORT_COLUMNS``), in chunks."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    n = 0
    async for row in rows:
        writer.writerow(export_row(row, tasks, labels.get(row["session_id"], "")))
        n += 1
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def json_row(stored, tasks: list[str], label: str) -> dict:
    """A stored row for a JSON export: the schema's columns typed, then the study's columns."""
    return {**{c: stored[c] for c in COLUMNS}, "session": stored["session_id"], "task": task_number(stored["task"]) or None,
            "task_title": task_title(tasks, stored["task"]), "session_label": label,
            "participant": bool(stored["participant"]), "brightness": stored["brightness"]}


def figure_cells(figures: dict) -> list:
    return [figures["frames"], figures["frames_with_face"], figures["face_share"], figures["seconds"], figures["face_s"],
            *(figures["shares"][c] for c in CLASSES), *(figures["mean_probs"][c] for c in CLASSES),
            "" if figures["median_face_px"] is None else figures["median_face_px"],
            "" if figures["brightness"] is None else figures["brightness"], figures["other_s"], figures["other_faces"]]


def sessions_csv(overview: list[dict]) -> str:
    """The sessions table: one row per session (``figures.study_overview``), as the results page shows it."""
    return _csv(SESSION_COLUMNS, ([s["label"], s["id"], s["status"], utc_iso(s["started"]), utc_iso(s["ended"]),
                                   s["check"] or "", "" if s["check_s"] is None else s["check_s"], *figure_cells(s),
                                   "; ".join(f["text"] for f in s["flags"])] for s in overview))


def marker_json(marker: dict, tasks: list[str]) -> dict:
    """A stored marker as the API and exports show it: ``task`` 1-based, with its title."""
    return {"task": marker["task"] + 1, "title": task_title(tasks, marker["task"]), "event": marker["event"],
            "time_s": marker["time_s"], "utc": marker["utc"]}


def markers_csv(session_id: str, label: str, markers: list[dict], tasks: list[str]) -> str:
    return _csv(MARKER_COLUMNS, ([session_id, label, m["task"] + 1, task_title(tasks, m["task"]), m["event"],
                                 f"{m['time_s']:.3f}", m["utc"]] for m in markers))


def notes_csv(notes: list[dict], labels: dict) -> str:
    return _csv(NOTE_COLUMNS, ([n["session_id"], f"{n['time_s']:.3f}", n["utc"], n["text"],
                                labels.get(n["session_id"], "")] for n in notes))


def compare_csv(compared: dict) -> str:
    """The comparison's table: per task, the study's mean then each session."""
    rows = []
    for t in compared["tasks"]:
        task = "" if t["task"] is None else t["task"]
        mean = t["mean"]
        rows.append([task, t["title"], "mean", "", "", mean["sessions"], mean["frames"], mean["frames_with_face"],
                     mean["face_s"], *(mean["shares"][c] for c in CLASSES), *(mean["mean_probs"][c] for c in CLASSES)])
        for r in t["sessions"]:
            rows.append([task, t["title"], r["session"], r["label"], r["status"], "", r["frames"], r["frames_with_face"],
                         r["face_s"], *(r["shares"][c] for c in CLASSES), *(r["mean_probs"][c] for c in CLASSES)])
    return _csv(COMPARE_COLUMNS, rows)


def moments_csv(sessions: list[dict]) -> str:
    """Every moment of the sessions (``insights``' entries: id, label, moments), one row each."""
    return _csv(MOMENT_COLUMNS, ([s["id"], s["label"], m["kind"], m["expression"], m["task"], m["title"], m["start_s"],
                                  m["length_s"], m["peak_s"], m["strength"], m["play_from_s"]]
                                 for s in sessions for m in s["moments"]))


def task_figures_csv(sessions: list[dict]) -> str:
    """Per session and task: the face's frames and time (``definitions``), valence, expressiveness, moments."""
    return _csv(TASK_FIGURE_COLUMNS, ([s["id"], s["label"], s["status"], t["task"], t["title"], t["frames_with_face"],
                                       t["face_s"], t["valence"], t["expressiveness"], *(t["moments"][k] for k in KINDS)]
                                      for s in sessions for t in s["tasks"]))


def hotspots_csv(hotspots: list[dict]) -> str:
    """One row per participant of each hotspot."""
    return _csv(HOTSPOT_COLUMNS, ([h["task"], h["title"], h["kind"], h["from_s"], h["to_s"], h["sessions"], h["of"],
                                   h["text"], m["session"], m["label"], m["onset_s"], m["at_s"], m["play_from_s"],
                                   m["expression"], m["strength"], int(m["recording"])]
                                  for h in hotspots for m in h["members"]))


def readme(study: dict, overview: list[dict], compared_statuses: str) -> str:
    """README.txt of export.zip: what each file is, every column with its unit, the definitions."""
    lines = [f"Study: {study['title']}", f"Exported: {utc_iso(time.time())}",
             "Tasks: " + "; ".join(f"{i + 1}. {t}" for i, t in enumerate(study["tasks"])), "",
             "FILES", "",
             "README.txt           this file",
             "sessions.csv         one row per session: status, camera check, figures, data-quality flags",
             "study.csv            every session's rows (the participant's row of each analysed frame)",
             f"compare.csv          the comparison task by task ({compared_statuses} sessions), as on the results page",
             "moments.csv          every session's moments (negative onsets, surprise peaks, smiles)",
             "figures.csv          per session and task: face time, valence, expressiveness, moments",
             f"hotspots.csv         moments several participants share, per task ({compared_statuses} sessions)",
             "S1/, S2/, ...        one folder per session with data (withdrawn sessions have none):",
             "  rows.csv           its rows (the participant's row of each analysed frame)",
             "  markers.csv        its task markers (start, end)",
             "  notes.csv          the researchers' notes taken while it was live",
             "  session.json       the session, its figures per task, baseline, moments, markers and notes",
             "Screen recordings are not in this file: play or download them from the results page.", "",
             "Times: time_s is seconds on the session's stream clock (rows, markers and notes share it);",
             "utc and started/ended are ISO 8601 UTC. Task numbers count from 1, as on the pages.", "",
             "SESSION STATUS", ""]
    lines += [f"{k:<12} {v}" for k, v in STATUS_TEXT.items() if k != "live"]
    lines += ["", "ROWS: rows.csv, study.csv (column, unit: meaning)", ""]
    lines += [f"{k:<15} {unit}: {text}" for k, (unit, text) in ROW_COLUMNS.items()]
    lines += ["", "SESSIONS: sessions.csv", "",
              "session_label   label: S1, S2, ... in start order, as on the pages",
              "session         id: the session's id",
              "status          completed, incomplete or withdrawn (see above)",
              "started         ISO 8601 UTC: when the session began",
              "ended           ISO 8601 UTC: when it ended (empty while it runs)",
              "check           the camera check: passed, failed, or empty (none was done)",
              "check_s         s: its moment on the stream clock (passed: the end of the 2 s the face was held)"]
    lines += [f"{k:<15} {unit}: {text}" for k, (unit, text) in figure_columns().items()]
    lines += ["flags           text: what is below the study's data-quality thresholds (empty: nothing)", "",
              "Data-quality thresholds of this study (a session beyond one is flagged, not left out):"]
    limits = thresholds(study.get("quality"))
    lines += [f"  {key} = {limits[key]}  ({text})" for key, _, _, _, text in QUALITY]
    lines += ["", "MARKERS: markers.csv", "",
              "session         id: the session's id",
              "session_label   label: S1, S2, ...",
              "task            task number (1 = the first)",
              "task_title      text",
              "event           start or end (the participant pressed Start or Done)",
              "time_s          s on the stream clock",
              "utc             ISO 8601 UTC", "",
              "NOTES: notes.csv", "",
              "session         id", "time_s          s on the stream clock when the note was taken",
              "utc             ISO 8601 UTC", "text            the researcher's note",
              "session_label   S1, S2, ...", "",
              "COMPARISON: compare.csv", "",
              "task            task number (empty: the time outside every task)",
              "title           the task's title",
              "session         a session's id, or mean: the study's mean over the compared sessions",
              "session_label   S1, S2, ... (empty on the mean row)",
              "status          completed or incomplete",
              "sessions        (mean row) the sessions with the participant's face in the task; each counts once",
              "frames, frames_with_face, face_s, share_*, prob_*: as in sessions.csv, for the task (the mean "
              "row adds the counts and seconds up and averages the shares and probabilities over sessions)", "",
              "MOMENTS: moments.csv (from the participant's face only, measured from their own baseline)", "",
              "session, session_label, task, task_title: as above (task empty: outside every task)",
              "kind            negative (onset), surprise (peak) or smile",
              "expression      the expression: for a negative onset the negative expression that rose most",
              "start_s         s on the stream clock: its first frame over the threshold",
              "length_s        s: to its last frame over the lower (off) threshold",
              "peak_s          s on the stream clock: its strongest frame",
              "strength        probability 0-1: the signal's peak above the participant's baseline",
              "play_from_s     s on the stream clock: 3 s before it (the results page plays the recording from there)", "",
              "FIGURES PER TASK: figures.csv", "",
              "frames_with_face, face_s: as in sessions.csv, for the task",
              "moments_*       count: the moments of that kind that started in the task"]
    lines += [f"{k:<15} {unit}: {text}" for k, _name, unit, text in INSIGHT_GLOSSARY]
    lines += ["", "HOTSPOTS: hotspots.csv (one row per participant of each hotspot)", "",
              "task, task_title: the task (each session aligned on its own start of it)",
              "kind            negative, surprise or smile",
              "from_s, to_s    s since the task's start: the first and last of the hotspot's moments' onsets",
              "sessions, of    count: sessions with such a moment there, of the sessions that ran the task",
              "text            the hotspot as the results page says it",
              "session, session_label: one participant of the hotspot",
              "onset_s         s since that participant started the task",
              "at_s            s on that session's stream clock; play_from_s: 3 s before it",
              "expression, strength: of that participant's moment",
              "recording       1: that session has a screen recording to play", "",
              f"Sessions in this export: {len(overview)} "
              f"({', '.join(f'{n} {k}' for k, n in _count(overview).items())})"]
    return "\n".join(lines) + "\n"


def _count(overview: list[dict]) -> dict:
    out: dict = {}
    for s in overview:
        out[s["status"]] = out.get(s["status"], 0) + 1
    return out


class _Sink:
    """zipfile's output: what it writes waits here until sent (zipfile needs no seeking for this)."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


async def write_zip(send: Callable[[bytes], Awaitable[None]], db, study: dict, overview: list[dict],
                    compared: dict, compared_statuses: str, session_json: Callable[[dict], Awaitable[dict]],
                    insights: dict) -> None:
    """export.zip, sent through ``send`` as it is made (compression runs off the event loop); ``insights``:
    ``insights.study_insights`` over the same sessions."""
    loop = asyncio.get_running_loop()
    sink = _Sink()
    zf = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
    labels = {s["id"]: s["label"] for s in overview}
    root = f"study-{study['id'][:8]}/"

    async def put(name: str, text: str) -> None:
        await loop.run_in_executor(None, zf.writestr, root + name, text.encode())
        await send(sink.take())

    async def put_rows(name: str, rows: AsyncIterator) -> None:
        handle = zf.open(root + name, "w", force_zip64=True)
        async for chunk in rows_csv(rows, study["tasks"], labels):
            await loop.run_in_executor(None, handle.write, chunk)
            await send(sink.take())
        await loop.run_in_executor(None, handle.close)
        await send(sink.take())

    await put("README.txt", readme(study, overview, compared_statuses))
    await put("sessions.csv", sessions_csv(overview))
    await put("compare.csv", compare_csv(compared))
    await put("moments.csv", moments_csv(insights["sessions"]))
    await put("figures.csv", task_figures_csv(insights["sessions"]))
    await put("hotspots.csv", hotspots_csv(insights["hotspots"]))
    await put_rows("study.csv", store.result_rows(db, study_id=study["id"], participant_only=True))
    for s in overview:
        if s["status"] == "withdrawn":
            continue
        folder = f"{s['label']}/"
        await put_rows(folder + "rows.csv", store.result_rows(db, session_id=s["id"], participant_only=True))
        markers = await store.session_markers(db, s["id"])
        await put(folder + "markers.csv", markers_csv(s["id"], s["label"], markers, study["tasks"]))
        await put(folder + "notes.csv", notes_csv(await store.notes_of(db, session_id=s["id"]), labels))
        await put(folder + "session.json", json.dumps(await session_json(s), indent=1))
    await loop.run_in_executor(None, zf.close)
    await send(sink.take())


