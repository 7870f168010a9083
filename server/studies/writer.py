"""The batched result writer: results of study sessions stored at least once a second, off the event loop.

    writer = ResultWriter(db, interval=0.5)
    hub.subscribe(writer.add)        # each StudyResult becomes its rows, kept in memory
    task = writer.start()            # flushes every ``interval`` seconds on its own task
    await writer.close()             # the last flush

A flush is one transaction: the rows into ``results`` and each session's ``frames``
counter. The database I/O is asynchronous (aiosqlite's thread, asyncpg), so the event
loop keeps serving the streams. A killed server loses at most the rows of the last
``interval``. If the database fails, the rows are kept and tried again (up to
``max_pending`` rows; beyond that the oldest are dropped, and logged once a minute); an
outage is logged once (``db.health``), not at every flush.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import asynccontextmanager

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..storage.db import Database
from .hub import StudyResult
from ..storage.models import results, sessions
from .rows import stored_rows

log = logging.getLogger(__name__)


class ResultWriter:
    def __init__(self, db: Database, interval: float = 0.5, max_pending: int = 1_000_000):
        self.db = db
        self.interval = interval
        self.max_pending = max_pending
        self.rows_written = 0
        self.frames_written = 0
        self.flushes = 0
        self.rows_dropped = 0
        self.slowest_flush_s = 0.0  # the longest flush so far (its database transaction)
        self._rows: list[dict] = []
        self._frames: Counter = Counter()  # session id -> analysed frames among the pending rows
        self._forgotten: set[str] = set()  # deleted sessions: their late results are not stored
        self._lock = asyncio.Lock()
        self._in_flight = 0
        self._task: asyncio.Task | None = None
        self._dropped_logged_at = -60.0

    @property
    def pending(self) -> int:
        """Rows not stored yet: waiting, or in the flush under way."""
        return len(self._rows) + self._in_flight

    def add(self, result: StudyResult) -> None:
        if result.session_id in self._forgotten:
            return
        self._rows.extend(stored_rows(result.session_id, result.task, result.message))
        self._frames[result.session_id] += 1
        if len(self._rows) > self.max_pending:
            excess = len(self._rows) - self.max_pending
            del self._rows[:excess]
            self.rows_dropped += excess
            if time.monotonic() - self._dropped_logged_at >= 60:
                self._dropped_logged_at = time.monotonic()
                log.error("studies: the database is not keeping up; %d result rows dropped so far", self.rows_dropped)

    def forget(self, session_ids) -> None:
        """Sessions being deleted: their pending rows go, and their later results are not stored."""
        ids = set(session_ids)
        self._forgotten |= ids
        self._rows = [r for r in self._rows if r["session_id"] not in ids]
        for sid in ids:
            self._frames.pop(sid, None)

    @asynccontextmanager
    async def paused(self):
        """No flush runs inside this block (a delete runs here, so no batch lands after it)."""
        async with self._lock:
            yield

    def start(self) -> asyncio.Task:
        self._task = asyncio.ensure_future(self._run())
        return self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as e:
                if not self.db.health.failed(e, "storing results"):  # an outage is logged once
                    log.exception("studies: storing results failed; they are kept and tried again")

    async def flush(self) -> int:
        """Store the pending rows now; returns how many were stored."""
        async with self._lock:
            rows, frames = self._rows, self._frames
            if not rows:
                return 0
            self._rows, self._frames = [], Counter()
            started = time.perf_counter()
            self._in_flight = len(rows)
            try:
                try:
                    await self._store(rows, frames)
                except IntegrityError:  # a session deleted meanwhile: store the others' rows
                    rows, frames = await self._existing(rows, frames)
                    if rows:
                        await self._store(rows, frames)
            except BaseException:
                self._rows[:0] = rows  # first in line for the next flush
                self._frames.update(frames)
                raise
            finally:
                self._in_flight = 0
            self.rows_written += len(rows)
            self.frames_written += sum(frames.values())
            self.flushes += 1
            self.slowest_flush_s = max(self.slowest_flush_s, time.perf_counter() - started)
            return len(rows)

    async def _store(self, rows: list[dict], frames: Counter) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(results), rows)
            for sid, n in frames.items():
                await conn.execute(update(sessions).where(sessions.c.id == sid).values(frames=sessions.c.frames + n))

    async def _existing(self, rows: list[dict], frames: Counter):
        async with self.db.engine.connect() as conn:
            found = await conn.execute(select(sessions.c.id).where(sessions.c.id.in_(list(frames))))
            alive = {r[0] for r in found}
        self.forget(set(frames) - alive)
        return [r for r in rows if r["session_id"] in alive], Counter({s: n for s, n in frames.items() if s in alive})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("studies: the last %d result rows could not be stored", len(self._rows))
