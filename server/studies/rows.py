"""Between the live ``result`` message, the stored ``results`` rows and the exports: the app's one row schema.

    stored_rows(session_id, task, message)   -> rows for the results table (typed values)
    schema_row(stored)                        -> the row as ml.schema formats it for CSV, plus session and task
    EXPORT_COLUMNS                            -> ml.schema.COLUMNS + ("session", "task")

A frame without a face is one row whose face fields are empty, like the page's own CSV.
"""

from __future__ import annotations

from sqlalchemy import Float, Integer

from ml.labels import CLASSES
from ml.schema import COLUMNS, face_row, frame_row

from ..storage.models import RESULT_TYPES

EXPORT_COLUMNS = (*COLUMNS, "session", "task")
_CASTS = {name: {Integer: int, Float: float}.get(kind, str) for name, kind in RESULT_TYPES.items()}


def _typed(row: dict) -> dict:
    return {name: None if row[name] == "" else _CASTS[name](row[name]) for name in COLUMNS}


def stored_rows(session_id: str, task: int | None, message: dict) -> list[dict]:
    """The results-table rows of one ``result`` message (server/live/protocol.py): one per face, or one without."""
    time_s = message.get("timestamp") or 0.0
    frame = message["frame"]
    faces = message["faces"]
    rows = [face_row(frame, time_s, face) for face in faces] if faces else [frame_row(frame, time_s)]
    out = []
    for row in rows:
        row["utc"] = message.get("utc") or ""
        typed = _typed(row)
        typed["session_id"], typed["task"] = session_id, task
        out.append(typed)
    return out


def schema_row(stored) -> dict:
    """A stored results row (a mapping with the table's columns) as the schema's CSV row, plus session and task."""
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
    row["task"] = "" if stored["task"] is None else stored["task"]
    return row


def recording_row(row: dict, session_id: str, task: int | None) -> dict:
    """A row of a recording's CSV (``ml.schema`` text, as ``python -m ml.analyze`` writes it) as a results-table
    row of ``session_id`` (server/uploads/recordings.py)."""
    typed = _typed(row)
    typed["session_id"], typed["task"] = session_id, task
    return typed
