"""The studies' tables (SQLAlchemy Core): studies, sessions, markers, notes and results.

``results`` holds the app's one row schema (``ml.schema.COLUMNS``: one row per face per
analysed frame, a row without face fields for a frame without a face) plus ``session_id``
and ``task``. Deleting a study deletes its sessions, and a session its markers, notes
and results (``ON DELETE CASCADE``). Times are seconds since the epoch (UTC); ``utc`` in
results, markers and notes is the schema's ISO 8601 text. The migrations in ``migrations/``
create exactly these tables (tests/test_studies.py compares them).
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text)

from ml.labels import CLASSES
from ml.schema import COLUMNS

ID_LENGTH = 43  # secrets.token_urlsafe(32): 256 random bits in 43 characters
TITLE_MAX, CONSENT_MAX, TASK_MAX, TASKS_MAX = 200, 20000, 500, 50

metadata = MetaData()

studies = Table(
    "studies",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),  # the researcher's id of the study
    Column("participant_token", String(ID_LENGTH), nullable=False, unique=True),  # in the participant link
    Column("title", String(TITLE_MAX), nullable=False),
    Column("consent", Text, nullable=False),
    Column("tasks", JSON, nullable=False),  # [str, ...]: the tasks, in order
    Column("feedback", Boolean, nullable=False),  # participants see the live readout and chart
    Column("created", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),  # also the participant's key to delete their data
    Column("study_id", String(ID_LENGTH), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Column("frames", Integer, nullable=False, server_default="0"),  # analysed frames stored
)

markers = Table(
    "markers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(ID_LENGTH), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("task", Integer, nullable=False),
    Column("event", String(8), nullable=False),  # "start" or "end"
    Column("time_s", Float, nullable=False),  # on the stream's clock, like results' time_s
    Column("utc", String(24), nullable=False),
)

NOTE_MAX = 2000  # characters of a researcher's note

notes = Table(  # the researcher's notes (or markers) on a live session, from the observer view
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(ID_LENGTH), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("time_s", Float, nullable=False),  # on the stream's clock when it was made, like results' time_s
    Column("utc", String(24), nullable=False),
    Column("text", Text, nullable=False),
)

# the one row schema's columns and their types
RESULT_TYPES = {
    "frame": Integer, "time_s": Float, "utc": String(24), "face": Integer,
    "x": Integer, "y": Integer, "w": Integer, "h": Integer, "label": String(16), "confidence": Float,
    **{c: Float for c in CLASSES}, "file": String(255),
}
assert tuple(RESULT_TYPES) == COLUMNS, "ml.schema.COLUMNS changed: update RESULT_TYPES and add a migration"

results = Table(
    "results",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("session_id", String(ID_LENGTH), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("task", Integer),  # the task running when the frame was analysed; NULL: none
    *(Column(name, kind, nullable=name not in ("frame", "time_s")) for name, kind in RESULT_TYPES.items()),
    Index("ix_results_session_id", "session_id", "id"),
)
