"""The studies' queries: studies, sessions, markers, notes and results in and out of the database (Core, async).

Every function takes the ``Database`` first; ids are the random tokens made here
(``new_id``: 256 random bits, URL-safe). Values always travel as bound parameters.
"""

from __future__ import annotations

import secrets
import time
from typing import AsyncIterator

from sqlalchemy import Integer, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ml.labels import CLASSES
from ml.schema import HELD, seen

from ..storage.db import Database
from ..storage.models import markers, notes, results, screen_recordings, sessions, studies
from .rows import FACE_FIELDS as FACE_COLUMNS


def new_id() -> str:
    return secrets.token_urlsafe(32)


STUDY_SETTINGS = ("closed", "max_sessions", "retention_days", "check_required", "quality")


def _study(row) -> dict:
    return {"id": row.id, "participant_token": row.participant_token, "title": row.title, "consent": row.consent,
            "tasks": list(row.tasks), "feedback": bool(row.feedback), "created": row.created, "closed": row.closed,
            "max_sessions": row.max_sessions, "retention_days": row.retention_days,
            "check_required": bool(row.check_required), "quality": row.quality, "screen": bool(row.screen)}


async def create_study(db: Database, title: str, consent: str, tasks: list[str], feedback: bool = True,
                       screen: bool = False, **settings) -> dict:
    """A new study (``screen``: participants' screens are recorded); ``settings``: any of ``STUDY_SETTINGS``
    (checked by the caller)."""
    values = {"id": new_id(), "participant_token": new_id(), "title": title, "consent": consent, "tasks": list(tasks),
              "feedback": bool(feedback), "created": time.time(), "closed": None, "max_sessions": None,
              "retention_days": None, "check_required": False, "quality": None, "screen": bool(screen)}
    values.update({k: v for k, v in settings.items() if k in STUDY_SETTINGS})
    async with db.engine.begin() as conn:
        await conn.execute(insert(studies), values)
    return values


async def update_study(db: Database, study_id: str, **settings) -> dict | None:
    """Change a study's ``STUDY_SETTINGS``; the study after it, None if there is none."""
    values = {k: v for k, v in settings.items() if k in STUDY_SETTINGS}
    async with db.engine.begin() as conn:
        if values:
            await conn.execute(update(studies).where(studies.c.id == study_id).values(**values))
        row = (await conn.execute(select(studies).where(studies.c.id == study_id))).first()
    return None if row is None else _study(row)


async def list_studies(db: Database) -> list[dict]:
    """Every study, newest first, with its number of sessions of each status (``statuses``: running ones
    under None), and when its newest session started (``last_session``)."""
    counts = (select(sessions.c.study_id, sessions.c.status, sessions.c.ended.is_(None).label("running"),
                     func.count().label("n"), func.max(sessions.c.started).label("last"))
              .group_by(sessions.c.study_id, sessions.c.status, sessions.c.ended.is_(None)))
    async with db.engine.connect() as conn:
        found = [_study(r) for r in await conn.execute(select(studies).order_by(studies.c.created.desc()))]
        per: dict = {}
        for r in await conn.execute(counts):
            entry = per.setdefault(r.study_id, {"statuses": {}, "last_session": None})
            status = "live" if r.running and r.status is None else (r.status or "incomplete")
            entry["statuses"][status] = entry["statuses"].get(status, 0) + r.n
            entry["last_session"] = max(entry["last_session"] or 0, r.last)
    for study in found:
        extra = per.get(study["id"], {"statuses": {}, "last_session": None})
        study.update(extra, sessions=sum(extra["statuses"].values()))
    return found


async def get_study(db: Database, study_id: str) -> dict | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(studies).where(studies.c.id == study_id))).first()
    return None if row is None else _study(row)


async def study_by_token(db: Database, participant_token: str) -> dict | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(studies).where(studies.c.participant_token == participant_token))).first()
    return None if row is None else _study(row)


async def study_sessions(db: Database, study_id: str) -> list[dict]:
    """The study's sessions, oldest first, each with every column of ``sessions`` (``figures``: the kept
    ``definitions.summarize`` of an ended session, or None)."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(sessions).where(sessions.c.study_id == study_id)
                                  .order_by(sessions.c.started, sessions.c.id))
        return [dict(r._mapping) for r in rows]


async def session_list(db: Database, study_id: str) -> list[dict]:
    """The study's sessions, oldest first: id, started, ended."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(sessions.c.id, sessions.c.started, sessions.c.ended)
                                  .where(sessions.c.study_id == study_id).order_by(sessions.c.started))
        return [dict(r._mapping) for r in rows]


def counted_sessions(study_id):
    """The sessions a study's participant cap counts: every one but the withdrawn."""
    return (select(func.count()).select_from(sessions)
            .where(sessions.c.study_id == study_id, sessions.c.status.is_distinct_from("withdrawn")))


async def create_session(db: Database, study_id: str) -> str | None:
    """A new session of an open study with room for it (not closed, under its ``max_sessions``): its id;
    None when the study is closed or full. Decided in one statement, so parallel participants cannot
    pass the cap together (PostgreSQL: the study's row is locked first)."""
    sid = new_id()
    room = (select(studies.c.id).where(studies.c.id == study_id, studies.c.closed.is_(None),
                                       or_(studies.c.max_sessions.is_(None),
                                           studies.c.max_sessions > counted_sessions(study_id).scalar_subquery())))
    values = select(literal(sid, sessions.c.id.type), literal(study_id, sessions.c.study_id.type),
                    literal(time.time(), sessions.c.started.type)).where(room.exists())
    async with db.engine.begin() as conn:
        await conn.execute(select(studies.c.id).where(studies.c.id == study_id).with_for_update())
        done = await conn.execute(insert(sessions).from_select(["id", "study_id", "started"], values))
    return sid if done.rowcount else None


async def count_sessions(db: Database, study_id: str) -> int:
    """The sessions the participant cap counts."""
    async with db.engine.connect() as conn:
        return (await conn.execute(counted_sessions(study_id))).scalar_one()


async def end_session(db: Database, session_id: str, status: str, ended: float | None = None) -> None:
    """The session ended (``status``: completed or incomplete; ``ended``: when, default now), unless it
    has an end already; a withdrawn session stays withdrawn. One statement: a second update of the row
    in the same transaction would check its study's row too (PostgreSQL's foreign-key check on a row
    the transaction changed), which the study's delete holds: a deadlock."""
    async with db.engine.begin() as conn:
        await conn.execute(update(sessions).where(sessions.c.id == session_id).values(
            ended=func.coalesce(sessions.c.ended, time.time() if ended is None else ended),
            status=case((sessions.c.status == "withdrawn", sessions.c.status), else_=literal(status))))


async def set_check(db: Database, session_id: str, status: str, time_s: float) -> None:
    """The session's camera check: ``status`` passed or failed, at ``time_s`` on the stream's clock."""
    async with db.engine.begin() as conn:
        await conn.execute(update(sessions).where(sessions.c.id == session_id)
                           .values(check_status=status, check_s=time_s))


async def set_figures(db: Database, session_id: str, figures: dict | None) -> None:
    """Keep (or, None, forget) an ended session's ``definitions.summarize``."""
    async with db.engine.begin() as conn:
        await conn.execute(update(sessions).where(sessions.c.id == session_id).values(figures=figures))


async def withdraw_session(db: Database, session_id: str) -> bool:
    """The participant withdrew: the session's rows, markers, notes and screen recording's row are deleted
    (its files: ``ScreenRecordings.delete``), its camera check and figures forgotten; what is left is the
    line ``withdrawn`` with its start and end. False if none."""
    async with db.engine.begin() as conn:
        for table in (results, markers, notes, screen_recordings):
            await conn.execute(delete(table).where(table.c.session_id == session_id))
        done = await conn.execute(update(sessions).where(sessions.c.id == session_id).values(
            status="withdrawn", ended=func.coalesce(sessions.c.ended, time.time()), frames=0, check_status=None,
            check_s=None, figures=None))
    return bool(done.rowcount)


async def get_session(db: Database, session_id: str) -> dict | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
    return None if row is None else dict(row._mapping)


async def add_marker(db: Database, session_id: str, task: int, event: str, time_s: float, utc: str) -> dict:
    values = {"session_id": session_id, "task": task, "event": event, "time_s": time_s, "utc": utc}
    async with db.engine.begin() as conn:
        await conn.execute(insert(markers), values)
    return values


async def session_markers(db: Database, session_id: str) -> list[dict]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(markers.c.task, markers.c.event, markers.c.time_s, markers.c.utc)
                                  .where(markers.c.session_id == session_id).order_by(markers.c.id))
        return [dict(r._mapping) for r in rows]


async def study_markers(db: Database, study_id: str) -> dict[str, list[dict]]:
    """Every session's markers, in order: {session id: [{task, event, time_s, utc}, ...]}."""
    query = _scoped(select(markers.c.session_id, markers.c.task, markers.c.event, markers.c.time_s, markers.c.utc),
                    markers, None, study_id)
    out: dict[str, list[dict]] = {}
    async with db.engine.connect() as conn:
        for r in await conn.execute(query):
            out.setdefault(r.session_id, []).append({"task": r.task, "event": r.event, "time_s": r.time_s,
                                                     "utc": r.utc})
    return out


async def live_sessions(db: Database, study_id: str) -> list[dict]:
    """The study's sessions not ended (oldest first): id, started and their markers in order."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(sessions.c.id, sessions.c.started)
                                   .where(sessions.c.study_id == study_id, sessions.c.ended.is_(None))
                                   .order_by(sessions.c.started))).all()
        found = {r.id: {"id": r.id, "started": r.started, "markers": []} for r in rows}
        if found:
            marks = await conn.execute(
                select(markers.c.session_id, markers.c.task, markers.c.event, markers.c.time_s, markers.c.utc)
                .join(sessions, sessions.c.id == markers.c.session_id)
                .where(sessions.c.study_id == study_id, sessions.c.ended.is_(None)).order_by(markers.c.id))
            for m in marks:
                if m.session_id in found:
                    found[m.session_id]["markers"].append({"task": m.task, "event": m.event, "time_s": m.time_s,
                                                           "utc": m.utc})
    return list(found.values())


async def last_time_s(db: Database, session_id: str) -> float | None:
    """The stream time of the session's newest stored result."""
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.max(results.c.time_s))
                                   .where(results.c.session_id == session_id))).scalar_one()


async def add_note(db: Database, session_id: str, time_s: float, utc: str, text: str) -> dict:
    values = {"session_id": session_id, "time_s": time_s, "utc": utc, "text": text}
    async with db.engine.begin() as conn:
        done = await conn.execute(insert(notes).returning(notes.c.id), values)
        note_id = done.scalar_one()
    return {"id": note_id, **values}


def _scoped(query, table, session_id: str | None, study_id: str | None):
    """``query`` of ``table`` (a session's rows, in ``id`` order) for one session, or for every session of
    a study (in start order)."""
    if session_id is not None:
        return query.where(table.c.session_id == session_id).order_by(table.c.id)
    return (query.join(sessions, sessions.c.id == table.c.session_id).where(sessions.c.study_id == study_id)
            .order_by(sessions.c.started, table.c.session_id, table.c.id))


async def notes_of(db: Database, *, session_id: str | None = None, study_id: str | None = None) -> list[dict]:
    """The notes of a session or of a whole study (its sessions in start order): session_id, time_s, utc, text."""
    query = _scoped(select(notes.c.session_id, notes.c.time_s, notes.c.utc, notes.c.text), notes, session_id, study_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


class floor_(FunctionElement):
    """FLOOR(x) in every database (SQLite has no FLOOR without its math functions)."""
    type = Integer()
    inherit_cache = True


@compiles(floor_)
def _floor(element, compiler, **kw):
    return f"FLOOR({compiler.process(element.clauses, **kw)})"


@compiles(floor_, "sqlite")
def _floor_sqlite(element, compiler, **kw):
    x = compiler.process(element.clauses, **kw)
    return f"(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))"


def measured_face():
    """SQL for ``ml.schema.seen``: a row whose face counts (not a held one; NULL: stored before the
    ``source`` column, a face found)."""
    return results.c.source.is_distinct_from(HELD)


async def task_bins(db: Database, study_id: str, bin_s: float) -> list[dict]:
    """The study's frames with the participant's face (``definitions.has_face``), per session and task, in bins of ``bin_s`` seconds
    since the task's first start marker: the bin's number ``bin``, ``n`` frames and each class's mean
    probability."""
    starts = (select(markers.c.session_id, markers.c.task, func.min(markers.c.time_s).label("t0"))
              .join(sessions, sessions.c.id == markers.c.session_id)
              .where(sessions.c.study_id == study_id, markers.c.event == "start")
              .group_by(markers.c.session_id, markers.c.task).subquery())
    b = floor_((results.c.time_s - starts.c.t0) / bin_s).label("bin")
    query = (select(results.c.session_id, results.c.task, b, func.count().label("n"),
                    *(func.avg(results.c[c]).label(c) for c in CLASSES))
             .join(starts, (starts.c.session_id == results.c.session_id) & (starts.c.task == results.c.task))
             .where(results.c.face.is_not(None), results.c.participant.is_(True), measured_face())
             .group_by(results.c.session_id, results.c.task, b)
             .order_by(results.c.session_id, results.c.task, b))
    async with db.engine.connect() as conn:
        return [{"session_id": r.session_id, "task": r.task, "bin": int(r.bin), "n": r.n,
                 "means": {c: float(r._mapping[c]) for c in CLASSES}} for r in await conn.execute(query)]


async def result_rows(db: Database, *, session_id: str | None = None, study_id: str | None = None,
                      participant_only: bool = False, chunk: int = 5000) -> AsyncIterator:
    """The stored results rows of a session or of a whole study (its sessions in start order), streamed;
    ``participant_only``: the participant's row of each analysed frame only (no other faces)."""
    query = _scoped(select(results), results, session_id, study_id)
    if participant_only:
        query = query.where(results.c.participant.is_(True))
    async with db.engine.connect() as conn:
        stream = await conn.stream(query.execution_options(yield_per=chunk))
        keys = list(stream.keys())
        async for part in stream.partitions(chunk):  # a chunk at a time: no await per row
            for row in part:
                yield dict(zip(keys, row))


class FrameGrouper:
    """Rows of a session (``results`` columns, in ``id`` order) into frames: the participant's row with
    ``others`` (the ids of the other faces found in that frame: not a held one, ``ml.schema.seen``)
    and ``last_id`` (the frame's last row id)."""

    def __init__(self):
        self.current = None

    def feed(self, m: dict) -> dict | None:
        """One row; the frame it completes, or None."""
        current = self.current
        if not m["participant"] and current is not None and \
                (m["frame"], m["time_s"], m["file"]) == (current["frame"], current["time_s"], current["file"]):
            if seen(m["source"]):
                current["others"].append(m["face"])
            current["last_id"] = m["id"]
            return None
        if m["participant"]:
            m["others"] = []
            m["last_id"] = m["id"]
            self.current = m
        else:  # someone else's face without the frame's participant row (not written so): a frame of its own
            self.current = {**m, **dict.fromkeys(FACE_COLUMNS), "brightness": None, "participant": True,
                            "others": [m["face"]] if seen(m["source"]) else [], "last_id": m["id"]}
        return current

    def end(self) -> dict | None:
        current, self.current = self.current, None
        return current


def frames_of(keys: list[str], rows) -> list[dict]:
    """Pure (for a worker thread): a session's row tuples (``session_rows``) as its participant's frames."""
    grouper = FrameGrouper()
    out = []
    for row in rows:
        done = grouper.feed(dict(zip(keys, row)))
        if done is not None:
            out.append(done)
    last = grouper.end()
    if last is not None:
        out.append(last)
    return out


async def session_rows(db: Database, session_id: str, after: int = 0, chunk: int = 500) -> tuple[list[str], list]:
    """A session's stored rows after row id ``after``, in order, as (column names, tuples): read in the
    database's own thread or I/O, turned into frames elsewhere (``frames_of``)."""
    query = (select(results).where(results.c.session_id == session_id, results.c.id > after)
             .order_by(results.c.id))
    rows: list = []
    async with db.engine.connect() as conn:
        stream = await conn.stream(query.execution_options(yield_per=chunk))
        async for part in stream.partitions(chunk):  # the loop is held for a chunk at a time, at most
            rows.extend(part)
        return list(stream.keys()), rows


async def participant_frames(db: Database, session_id: str, chunk: int = 5000) -> AsyncIterator[dict]:
    """THE participant's timeline of a session: one dict per analysed frame, in order, the participant's
    row (the ``results`` columns; the face fields None where the participant was not found) with
    ``others``: the ids of the other faces in view in that frame. ``definitions.summarize`` takes it."""
    query = select(results).where(results.c.session_id == session_id).order_by(results.c.id)
    grouper = FrameGrouper()
    async with db.engine.connect() as conn:
        stream = await conn.stream(query.execution_options(yield_per=chunk))
        keys = list(stream.keys())
        async for part in stream.partitions(chunk):  # a chunk at a time: no await per row
            for row in part:
                done = grouper.feed(dict(zip(keys, row)))
                if done is not None:
                    yield done
    last = grouper.end()
    if last is not None:
        yield last


async def count_rows(db: Database, session_id: str) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(results)
                                   .where(results.c.session_id == session_id))).scalar_one()


async def expired_sessions(db: Database, now: float) -> list[str]:
    """Sessions older than their study's retention period: ended (or, never ended, started) more than
    ``retention_days`` before ``now``."""
    age = func.coalesce(sessions.c.ended, sessions.c.started)
    query = (select(sessions.c.id).join(studies, studies.c.id == sessions.c.study_id)
             .where(studies.c.retention_days.is_not(None), age < now - studies.c.retention_days * 86400.0)
             .order_by(sessions.c.started))
    async with db.engine.connect() as conn:
        return [r.id for r in await conn.execute(query)]


async def delete_study(db: Database, study_id: str) -> list[str] | None:
    """Delete a study with its sessions, markers and results; its session ids, None if there was no such study.
    Its sessions' rows are locked first, then the study's (PostgreSQL): a transaction that changed a
    session (a session ending) and then checks the session's study finishes first, instead of
    waiting for the study's row while this delete waits for the session's: a deadlock."""
    async with db.engine.begin() as conn:
        ids = [r[0] for r in await conn.execute(select(sessions.c.id).where(sessions.c.study_id == study_id)
                                                .order_by(sessions.c.id).with_for_update())]
        gone = await conn.execute(delete(studies).where(studies.c.id == study_id))
    return ids if gone.rowcount else None


async def delete_session(db: Database, session_id: str, study_id: str | None = None) -> bool:
    """Delete a session with its markers and results (of ``study_id`` only, if given); False if none."""
    query = delete(sessions).where(sessions.c.id == session_id)
    if study_id is not None:
        query = query.where(sessions.c.study_id == study_id)
    async with db.engine.begin() as conn:
        gone = await conn.execute(query)
    return bool(gone.rowcount)
