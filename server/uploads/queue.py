"""The upload jobs' queue in the app's database (the ``jobs`` table; SQLAlchemy Core, async).

    refused = await reserve(db, row, max_pending, max_per_client, max_receiving)  # None: inserted ("receiving")
    await start(db, job_id, owner, values)        # receiving -> queued: any worker of its store may take it
    row = await claim(db, store, owner)           # the next queued job of ``store``, now "running", or None
    await progress(db, job_id, owner, done, total)  # False: the job is gone (deleted) or no longer ours
    await finish(db, job_id, owner, values, rows)   # running -> done/error (+ a recording's result rows)
    await release(db, job_id, owner)              # running -> queued (this server is stopping)
    await stale(db, store, cutoff)                # receiving/running jobs whose owner went quiet (died)

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED)``: on
PostgreSQL every replica's worker takes the next job and no two take the same one (a row
locked by one claim is skipped by the others); on SQLite (one server process) the
statement is atomic by itself and the ``FOR UPDATE`` clause is left out. Every change of
a job's state is conditional on its state (and owner), so a job deleted, expired or
taken over meanwhile is never written back.
"""

from __future__ import annotations

import time

from sqlalchemy import case, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ..storage.db import Database
from ..storage.models import jobs, results, sessions

PENDING = ("receiving", "queued", "running")
RESERVE_LOCK = 0x46455255  # PostgreSQL advisory lock: one reservation at a time, over every replica
INSERT_CHUNK = 5000


async def reserve(db: Database, row: dict, max_pending: int, max_per_client: int,
                  max_receiving: int | None = None) -> tuple[str, int] | None:
    """Insert ``row`` (a "receiving" job) unless its store has ``max_pending`` jobs queued or running, or
    ``max_receiving`` being received, or its client ``max_per_client`` in any of these states: then
    ("all" | "receiving" | "client", how many) and nothing is inserted. Uploads still being received do not
    count against ``max_pending``: clients that stall their bodies cannot refuse the others' uploads.
    The count and the insert are one transaction, serialised over replicas on PostgreSQL (an advisory
    lock; SQLite: one process, whose caller serialises)."""
    async with db.engine.begin() as conn:
        if not db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RESERVE_LOCK})
        receiving = jobs.c.status == "receiving"
        active, arriving, mine = (await conn.execute(
            select(func.coalesce(func.sum(case((receiving, 0), else_=1)), 0),
                   func.coalesce(func.sum(case((receiving, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((jobs.c.client == row["client"], 1), else_=0)), 0))
            .where(jobs.c.store == row["store"], jobs.c.status.in_(PENDING)))).one()
        if active >= max_pending:
            return "all", active
        if max_receiving is not None and arriving >= max_receiving:
            return "receiving", arriving
        if mine >= max_per_client:
            return "client", mine
        await conn.execute(insert(jobs), row)
    return None


async def start(db: Database, job_id: str, owner: str, values: dict) -> bool:
    """The upload is complete: receiving -> queued. False if the job is gone (its session was deleted)."""
    async with db.engine.begin() as conn:
        done = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner,
                                                     jobs.c.status == "receiving")
                                  .values(**values, status="queued", owner=None, heartbeat=None))
    return bool(done.rowcount)


async def claim(db: Database, store: str, owner: str):
    """The oldest queued job of ``store``, now "running" for ``owner`` (its row), or None."""
    now = time.time()
    nxt = jobs.alias("next_job")
    pick = (select(nxt.c.id).where(nxt.c.store == store, nxt.c.status == "queued")
            .order_by(nxt.c.created).limit(1).with_for_update(skip_locked=True).scalar_subquery())
    query = (update(jobs).where(jobs.c.id == pick, jobs.c.status == "queued")
             .values(status="running", owner=owner, heartbeat=now, started=now, frames_done=0,
                     attempts=jobs.c.attempts + 1)
             .returning(*jobs.c))
    async with db.engine.connect() as conn:  # an idle worker looks without writing (SQLite: no write lock)
        if (await conn.execute(select(jobs.c.id).where(jobs.c.store == store, jobs.c.status == "queued")
                               .limit(1))).first() is None:
            return None
    async with db.engine.begin() as conn:
        return (await conn.execute(query)).first()


async def heartbeat(db: Database, owner: str, running: dict[str, tuple[int, int]]) -> set[str]:
    """``owner`` is alive: its receiving jobs' heartbeat, and its running jobs' progress
    (``running``: id -> (frames done, frames total)). Returns the running ids that are gone."""
    now = time.time()
    gone = set()
    async with db.engine.begin() as conn:
        await conn.execute(update(jobs).where(jobs.c.owner == owner, jobs.c.status == "receiving")
                           .values(heartbeat=now))
        for job_id, (done, total) in running.items():
            found = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner,
                                                          jobs.c.status == "running")
                                       .values(heartbeat=now, frames_done=done, frames_total=total))
            if not found.rowcount:
                gone.add(job_id)
    return gone


async def finish(db: Database, job_id: str, owner: str, values: dict, rows: list[dict] | None = None) -> bool:
    """running -> ``values["status"]`` (done or error), with a recording's result ``rows`` in the same
    transaction. False (nothing written) if the job, or its session, is gone or no longer ours."""
    try:
        async with db.engine.begin() as conn:
            found = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner,
                                                          jobs.c.status == "running")
                                       .values(**values, owner=None, heartbeat=None, client=None))
            if not found.rowcount:
                return False
            for i in range(0, len(rows or ()), INSERT_CHUNK):
                await conn.execute(insert(results), rows[i:i + INSERT_CHUNK])
            if rows:  # the session's kept figures are made again, with these rows
                await conn.execute(update(sessions).where(sessions.c.id == rows[0]["session_id"]).values(figures=None))
    except IntegrityError:  # the session was deleted meanwhile
        return False
    return True


async def release(db: Database, job_id: str, owner: str) -> bool:
    """This server stops mid-analysis: the job goes back to the queue (this try not counted)."""
    async with db.engine.begin() as conn:
        found = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner,
                                                      jobs.c.status == "running")
                                   .values(status="queued", owner=None, heartbeat=None, frames_done=0,
                                           attempts=jobs.c.attempts - 1))
    return bool(found.rowcount)


async def stale(db: Database, store: str, cutoff: float) -> list:
    """Jobs of ``store`` being received or analysed by a server that gave no sign of life since ``cutoff``."""
    async with db.engine.connect() as conn:
        return (await conn.execute(select(jobs).where(jobs.c.store == store, jobs.c.status.in_(("receiving", "running")),
                                                      jobs.c.heartbeat < cutoff))).all()


async def requeue(db: Database, job_id: str, cutoff: float) -> bool:
    """A stale running job back to the queue (if no other replica took it up first)."""
    async with db.engine.begin() as conn:
        found = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running",
                                                      jobs.c.heartbeat < cutoff)
                                   .values(status="queued", owner=None, heartbeat=None, frames_done=0))
    return bool(found.rowcount)


async def fail(db: Database, job_id: str, cutoff: float, message: str) -> bool:
    """A stale running job that cannot be analysed again: failed, with ``message`` for its status."""
    async with db.engine.begin() as conn:
        found = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running",
                                                      jobs.c.heartbeat < cutoff)
                                   .values(status="error", error=message, owner=None, heartbeat=None, client=None,
                                           finished=time.time()))
    return bool(found.rowcount)


async def get(db: Database, job_id: str):
    async with db.engine.connect() as conn:
        return (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()


async def session_jobs(db: Database, session_id: str) -> list:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(jobs).where(jobs.c.session_id == session_id, jobs.c.status != "receiving")
                                   .order_by(jobs.c.created))).all()


async def pending(db: Database, store: str) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(jobs)
                                   .where(jobs.c.store == store, jobs.c.status.in_(PENDING)))).scalar_one()


async def existing(db: Database, ids: list[str]) -> set[str]:
    """Which of ``ids`` are jobs."""
    found = set()
    async with db.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            found |= {r[0] for r in await conn.execute(select(jobs.c.id).where(jobs.c.id.in_(ids[i:i + 500])))}
    return found


async def expire(db: Database, before: float) -> list[tuple[str, str]]:
    """Delete every job (of any store) created before ``before``; their (id, store)."""
    async with db.engine.begin() as conn:
        rows = (await conn.execute(delete(jobs).where(jobs.c.created < before)
                                   .returning(jobs.c.id, jobs.c.store))).all()
    return [(r.id, r.store) for r in rows]


async def remove(db: Database, job_ids: list[str]) -> int:
    async with db.engine.begin() as conn:
        return (await conn.execute(delete(jobs).where(jobs.c.id.in_(job_ids)))).rowcount


async def remove_store(db: Database, store: str) -> list[str]:
    """Delete every job of ``store`` (a throw-away database's server stops: nothing could reach them again);
    their ids."""
    async with db.engine.begin() as conn:
        return [r[0] for r in await conn.execute(delete(jobs).where(jobs.c.store == store).returning(jobs.c.id))]
