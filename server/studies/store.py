"""The studies' queries: studies, sessions, markers, notes and results in and out of the database (Core, async).

Every function takes the ``Database`` first; ids are the random tokens made here
(``new_id``: 256 random bits, URL-safe). Values always travel as bound parameters.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from typing import AsyncIterator

from sqlalchemy import Integer, delete, func, insert, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ml.labels import CLASSES

from ..storage.db import Database
from ..storage.models import markers, notes, results, sessions, studies


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _study(row) -> dict:
    return {"id": row.id, "participant_token": row.participant_token, "title": row.title, "consent": row.consent,
            "tasks": list(row.tasks), "feedback": bool(row.feedback), "created": row.created,
            "screen": bool(row.screen)}


async def create_study(db: Database, title: str, consent: str, tasks: list[str], feedback: bool = True,
                       screen: bool = False) -> dict:
    values = {"id": new_id(), "participant_token": new_id(), "title": title, "consent": consent, "tasks": list(tasks),
              "feedback": bool(feedback), "created": time.time(), "screen": bool(screen)}
    async with db.engine.begin() as conn:
        await conn.execute(insert(studies), values)
    return values


async def list_studies(db: Database) -> list[dict]:
    counts = select(sessions.c.study_id, func.count().label("n")).group_by(sessions.c.study_id).subquery()
    query = (select(studies, func.coalesce(counts.c.n, 0).label("sessions"))
             .outerjoin(counts, counts.c.study_id == studies.c.id).order_by(studies.c.created.desc()))
    async with db.engine.connect() as conn:
        return [{**_study(r), "sessions": r.sessions} for r in await conn.execute(query)]


async def get_study(db: Database, study_id: str) -> dict | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(studies).where(studies.c.id == study_id))).first()
    return None if row is None else _study(row)


async def study_by_token(db: Database, participant_token: str) -> dict | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(studies).where(studies.c.participant_token == participant_token))).first()
    return None if row is None else _study(row)


async def study_sessions(db: Database, study_id: str) -> list[dict]:
    """The study's sessions, oldest first: id, started, ended, frames, faces (rows with a face) and
    the share of each expression among those rows."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(sessions).where(sessions.c.study_id == study_id)
                                   .order_by(sessions.c.started))).all()
        labels = await conn.execute(
            select(results.c.session_id, results.c.label, func.count().label("n"))
            .join(sessions, sessions.c.id == results.c.session_id)
            .where(sessions.c.study_id == study_id, results.c.face.is_not(None))
            .group_by(results.c.session_id, results.c.label))
        counts: dict[str, Counter] = {}
        for sid, label, n in labels:
            counts.setdefault(sid, Counter())[label] = n
    out = []
    for r in rows:
        c = counts.get(r.id, Counter())
        faces = sum(c.values())
        out.append({"id": r.id, "started": r.started, "ended": r.ended, "frames": r.frames, "faces": faces,
                    "shares": {k: (c[k] / faces if faces else 0.0) for k in CLASSES}})
    return out


async def session_list(db: Database, study_id: str) -> list[dict]:
    """The study's sessions, oldest first: id, started, ended."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(sessions.c.id, sessions.c.started, sessions.c.ended)
                                  .where(sessions.c.study_id == study_id).order_by(sessions.c.started))
        return [dict(r._mapping) for r in rows]


async def create_session(db: Database, study_id: str) -> str:
    sid = new_id()
    async with db.engine.begin() as conn:
        await conn.execute(insert(sessions), {"id": sid, "study_id": study_id, "started": time.time()})
    return sid


async def end_session(db: Database, session_id: str, ended: float | None = None) -> None:
    """The session's end (``ended``: when, default now), unless it has one."""
    async with db.engine.begin() as conn:
        await conn.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.ended.is_(None))
                           .values(ended=time.time() if ended is None else ended))


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


async def task_counts(db: Database, study_id: str) -> list[dict]:
    """Per session, task and label, over the study's rows with a face: ``n`` rows and the sum of each
    class's probability (``sums``). One query, grouped in the database."""
    query = (select(results.c.session_id, results.c.task, results.c.label, func.count().label("n"),
                    *(func.sum(results.c[c]).label(c) for c in CLASSES))
             .join(sessions, sessions.c.id == results.c.session_id)
             .where(sessions.c.study_id == study_id, results.c.face.is_not(None))
             .group_by(results.c.session_id, results.c.task, results.c.label))
    async with db.engine.connect() as conn:
        return [{"session_id": r.session_id, "task": r.task, "label": r.label, "n": r.n,
                 "sums": {c: r._mapping[c] for c in CLASSES}} for r in await conn.execute(query)]


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


async def task_bins(db: Database, study_id: str, bin_s: float) -> list[dict]:
    """The study's rows with a face, per session and task, in bins of ``bin_s`` seconds since the
    task's first start marker: the bin's number ``bin``, ``n`` rows and each class's mean probability."""
    starts = (select(markers.c.session_id, markers.c.task, func.min(markers.c.time_s).label("t0"))
              .join(sessions, sessions.c.id == markers.c.session_id)
              .where(sessions.c.study_id == study_id, markers.c.event == "start")
              .group_by(markers.c.session_id, markers.c.task).subquery())
    b = floor_((results.c.time_s - starts.c.t0) / bin_s).label("bin")
    query = (select(results.c.session_id, results.c.task, b, func.count().label("n"),
                    *(func.avg(results.c[c]).label(c) for c in CLASSES))
             .join(starts, (starts.c.session_id == results.c.session_id) & (starts.c.task == results.c.task))
             .where(results.c.face.is_not(None))
             .group_by(results.c.session_id, results.c.task, b)
             .order_by(results.c.session_id, results.c.task, b))
    async with db.engine.connect() as conn:
        return [{"session_id": r.session_id, "task": r.task, "bin": int(r.bin), "n": r.n,
                 "means": {c: float(r._mapping[c]) for c in CLASSES}} for r in await conn.execute(query)]


async def result_rows(db: Database, *, session_id: str | None = None, study_id: str | None = None,
                      chunk: int = 5000) -> AsyncIterator:
    """The stored results rows of a session or of a whole study (its sessions in start order), streamed."""
    query = _scoped(select(results), results, session_id, study_id)
    async with db.engine.connect() as conn:
        stream = await conn.stream(query.execution_options(yield_per=chunk))
        async for row in stream:
            yield row._mapping


async def count_rows(db: Database, session_id: str) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(results)
                                   .where(results.c.session_id == session_id))).scalar_one()


async def delete_study(db: Database, study_id: str) -> list[str] | None:
    """Delete a study with its sessions, markers and results; its session ids, None if there was no such study."""
    async with db.engine.begin() as conn:
        ids = [r[0] for r in await conn.execute(select(sessions.c.id).where(sessions.c.study_id == study_id))]
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
