"""The app's tables (SQLAlchemy Core): studies, sessions, markers, notes and results; the researchers'
tokens and logins; and the upload jobs.

``results`` holds the app's one row schema (``ml.schema.COLUMNS``: one row per face per
analysed frame, a row without face fields for a frame without a face) plus ``session_id``
and ``task``. Deleting a study deletes its sessions, and a session its markers, notes
and results (``ON DELETE CASCADE``). Times are seconds since the epoch (UTC); ``utc`` in
results, markers and notes is the schema's ISO 8601 text. The migrations in ``migrations/``
create exactly these tables (tests/test_studies.py compares them).

``screen_recordings``: one per session whose participant shared their screen (its chunks and
file are in the recordings folder, server/studies/screen.py; deleted with the session).

``jobs`` is the queue of recorded-media uploads (server/uploads/): any server replica's
worker claims the next queued job whose files it can read (same ``store``: the uploads
folder's id), a job attached to a study session goes with it (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, false, true)

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
    Column("screen", Boolean, nullable=False, server_default=false()),  # participants' screens are recorded
    # the study's lifecycle (server/studies/lifecycle.py): closed (no new sessions) since this time,
    # at most this many sessions (withdrawn ones not counted), sessions deleted this many days after
    # they ended; a failed camera check blocks the tasks (else it flags the session); quality thresholds
    Column("closed", Float),
    Column("max_sessions", Integer),
    Column("retention_days", Float),
    Column("check_required", Boolean, nullable=False, server_default=false()),
    Column("quality", JSON),  # {name: threshold} over definitions.QUALITY_DEFAULTS; NULL: the defaults
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),  # also the participant's key to delete their data
    Column("study_id", String(ID_LENGTH), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Column("frames", Integer, nullable=False, server_default="0"),  # analysed frames stored
    Column("status", String(12)),  # completed, incomplete, withdrawn; NULL while it runs
    Column("check_status", String(8)),  # the camera check: passed, failed; NULL: none was done
    Column("check_s", Float),  # its moment on the stream's clock (passed: the end of the 2 s held)
    Column("figures", JSON),  # definitions.summarize of an ended session, kept (NULL: to compute)
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

meta = Table(  # facts about this database itself: "database_id", a random id the screen recordings' folder keeps
    "meta",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
)

SCREEN_STATUS_MAX = 12

screen_recordings = Table(  # a session's screen recording (server/studies/screen.py): its chunks, then one file
    "screen_recordings",
    metadata,
    Column("session_id", String(ID_LENGTH), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("store", String(ID_LENGTH), nullable=False),  # the recordings folder holding its files (its .store id)
    Column("status", String(SCREEN_STATUS_MAX), nullable=False),  # recording, ending, finalizing, ready, failed
    Column("started", Float, nullable=False),  # when the browser's recorder started (server clock, epoch)
    Column("offset_s", Float),  # the recording's start on the session's stream clock (results' time_s)
    Column("chunks", Integer, nullable=False, server_default="0"),  # chunks stored
    Column("bytes", BigInteger, nullable=False, server_default="0"),  # their bytes
    Column("expected", Integer),  # chunks the browser said it sent, once it ended the recording
    Column("last_chunk", Float),  # when the newest chunk arrived
    Column("ended", Float),  # when the recording was ended (by the browser, the session's end, a limit)
    Column("stop_reason", String(32)),  # why it ended: stopped, finished, closed, limit, disk full, idle ...
    Column("finalizing_since", Float),  # the join and remux began (a stale one is taken up again)
    Column("duration_s", Float),  # of the file, once ready
    Column("size", BigInteger),  # the file's bytes, once ready
    Column("missing", Integer),  # chunks that never arrived (holes in the file)
    Column("error", Text),
)
SOURCE_MAX = 12  # ml.schema.SOURCES: "detected", "held", "interpolated" (migration 0005_i24)

# the one row schema's columns and their types
RESULT_TYPES = {
    "frame": Integer, "time_s": Float, "utc": String(24), "face": Integer, "source": String(SOURCE_MAX),
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
    # true: the participant's row of its frame (their face, or empty face fields when they were not
    # found); false: someone else's face (server/studies/participant_face.py)
    Column("participant", Boolean, nullable=False, server_default=true()),
    Column("brightness", Float),  # mean luma (0-255) of the face's box
    Index("ix_results_session_id", "session_id", "id"),
)

NAME_MAX = 64  # characters of a researcher's name

researchers = Table(  # named researcher tokens (server/studies/researchers.py): only their hash is stored
    "researchers",
    metadata,
    Column("name", String(NAME_MAX), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the token
    Column("created", Float, nullable=False),
)

logins = Table(  # the researchers' login cookies: valid while the token they were made with is
    "logins",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 hex of the cookie's random value
    Column("token_hash", String(64), nullable=False),  # the token logged in with
    Column("name", String(NAME_MAX), nullable=False),  # whose: a researcher's name, or "admin"
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)

JOB_STATUS_MAX = 12

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),  # the upload's id: its folder u-ID, its URL
    Column("store", String(ID_LENGTH), nullable=False),  # the uploads folder holding its files (its .store id)
    Column("status", String(JOB_STATUS_MAX), nullable=False),  # receiving, queued, running, done, error
    Column("owner", String(ID_LENGTH)),  # the server process receiving or analysing it
    Column("heartbeat", Float),  # the owner's last sign of life; a stale one: the job is recovered
    Column("attempts", Integer, nullable=False),  # analyses begun (an interrupted one is tried again)
    Column("filename", String(255), nullable=False),
    Column("kind", String(8), nullable=False),  # video or image
    Column("input", String(64)),  # the uploaded file's name in its folder (removed once analysed)
    Column("output", String(64)),  # the annotated video's or image's name in its folder
    Column("size", BigInteger, nullable=False),
    Column("client", String(64)),  # keyed hash of the uploader's address while pending (per-address limit)
    Column("delete_hash", String(64), nullable=False),  # SHA-256 of the delete token only the uploader got
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
    Column("frames_done", Integer, nullable=False),
    Column("frames_total", Integer, nullable=False),
    Column("error", Text),
    Column("summary", JSON),
    # a recording of a study session: its rows go into results (file set), its job goes with the session
    Column("session_id", String(ID_LENGTH), ForeignKey("sessions.id", ondelete="CASCADE"), index=True),
    Column("recording_start", Float),  # when the recording began (seconds since the epoch), if known
    Index("ix_jobs_queue", "store", "status", "created"),
)
