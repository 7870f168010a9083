"""Whether the database answers: outages told apart from bad queries, one log line each, a probe while it
is down, and writes that can wait (task markers, session ends) kept until it is back.

    health = db.health                         # one per Database
    health.is_outage(exc)                      # the database unreachable, stopped or full (not a bad query)
    if health.failed(exc, "storing results"):  # an outage: logged once per outage, the probe started
        ...                                    # else: not an outage, the caller reports it
    health.ok                                  # False from a failure until the probe wrote again
    health.defer(lambda: store.x(...), "a task marker")   # run, in order, once the database is back
    await health.check(max_age_s=5)            # /healthz: a probe unless one ran in the last max_age_s

While down, a probe runs every ``probe_s``: a real write (``UPDATE alembic_version SET
version_num = version_num``; a full disk refuses it while reads still work). When it goes
through, the deferred writes run in the order they came (new ones meanwhile queue behind
them, so a session's markers keep their order), then ``ok`` is True again. Two log lines
an outage: one when it begins (ERROR), one when it ends (how long, what was stored). Errors that are not outages (an integrity error: a session deleted
meanwhile) drop only the write they belong to.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections import deque
from typing import Awaitable, Callable

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

log = logging.getLogger("server.storage")

PROBE = text("UPDATE alembic_version SET version_num = version_num")
PROBE_TIMEOUT_S = 5.0
MAX_DEFERRED = 100_000  # writes kept for later at most (the oldest are dropped past it, and logged)

try:  # errors asyncpg raises itself (not wrapped by SQLAlchemy) when it cannot connect
    import asyncpg

    _DRIVER_OUTAGES: tuple = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                              asyncpg.InterfaceError)
except ImportError:  # pragma: no cover
    _DRIVER_OUTAGES = ()

# an OSError from connecting to the database: the network, not a file
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                   errno.ETIMEDOUT, errno.EPIPE, errno.ENETDOWN, errno.EHOSTDOWN}
# errors of a query, not of the database: the same query would fail again
_QUERY_ERRORS = (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError, sa_exc.NotSupportedError)


class DatabaseHealth:
    def __init__(self, db, probe_s: float = 1.0):
        self.db = db
        self.probe_s = probe_s
        self.down_since: float | None = None  # time.time() of the first failure of this outage
        self.last_error = ""
        self.outages = 0
        self.failures = 0  # operations failed during this outage
        self.checked_at = 0.0  # time.monotonic() of the last probe or failure
        self._deferred: deque[tuple[Callable[[], Awaitable], str]] = deque()
        self._probe: asyncio.Task | None = None
        self._draining = False

    # -- what went wrong ------------------------------------------------------------------

    @staticmethod
    def is_outage(exc: BaseException) -> bool:
        if isinstance(exc, _QUERY_ERRORS):
            return False
        if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, socket.gaierror, TimeoutError)):
            return exc.errno in _NETWORK_ERRNOS  # (a full uploads folder is not the database's outage)
        return isinstance(exc, (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, asyncio.TimeoutError,
                                *_DRIVER_OUTAGES))

    @property
    def ok(self) -> bool:
        """The database took its last write, and nothing waits to be written."""
        return self.down_since is None and not self._deferred and not self._draining

    @property
    def deferred(self) -> int:
        return len(self._deferred)

    def failed(self, exc: BaseException, what: str) -> bool:
        """An operation (``what``, for the log) failed with ``exc``: True if it was an outage (logged once
        per outage, the probe started), False if not (the caller reports it)."""
        if not self.is_outage(exc):
            return False
        self.failures += 1
        self.checked_at = time.monotonic()
        if self.down_since is None:
            self.down_since = time.time()
            self.outages += 1
            self.failures = 1
            self.last_error = _short(exc)
            log.error("database unavailable (%s, while %s): study results, task markers and session ends are "
                      "kept in memory and stored when it is back; new participants, studies, notes and "
                      "uploads are refused meanwhile", self.last_error, what)
        self._start_probe()
        return True

    def defer(self, write: Callable[[], Awaitable], what: str) -> None:
        """``write()`` once the database is back, after the writes deferred before it."""
        self._deferred.append((write, what))
        if len(self._deferred) > MAX_DEFERRED:
            _, lost = self._deferred.popleft()
            log.error("database unavailable for long: a deferred write (%s) dropped, %d kept", lost, MAX_DEFERRED)
        self._start_probe()

    # -- the probe ----------------------------------------------------------------------

    def _start_probe(self) -> None:
        if self._probe is None or self._probe.done():
            try:
                self._probe = asyncio.get_running_loop().create_task(self._recover())
            except RuntimeError:  # no event loop (a blocking caller): the next async one starts it
                pass

    async def _write_probe(self) -> None:
        async with self.db.engine.begin() as conn:
            await asyncio.wait_for(conn.execute(PROBE), PROBE_TIMEOUT_S)

    async def check(self, max_age_s: float = 5.0) -> bool:
        """``ok`` after a probe, unless one ran (or an operation failed) in the last ``max_age_s`` seconds."""
        if self.db.engine is None:
            return False
        if time.monotonic() - self.checked_at >= max_age_s and self.down_since is None:
            self.checked_at = time.monotonic()
            try:
                await asyncio.wait_for(self._write_probe(), PROBE_TIMEOUT_S)
            except Exception as e:
                if not self.failed(e, "checking the database"):
                    raise
        return self.ok

    async def _recover(self) -> None:
        """While down (or writes wait): probe every ``probe_s``; once it writes, the deferred writes in order."""
        while self.down_since is not None or self._deferred:
            if self.down_since is not None:
                await asyncio.sleep(self.probe_s)
                self.checked_at = time.monotonic()
                try:
                    await asyncio.wait_for(self._write_probe(), PROBE_TIMEOUT_S)
                except Exception as e:
                    if self.is_outage(e):
                        self.failures += 1
                        continue
                    log.exception("database: the probe failed (not an outage?)")
                    continue
            stored = await self._drain()
            if stored is None:
                continue
            if self.down_since is not None:
                log.warning("database available again after %.1f s (%d operations failed meanwhile, %d deferred "
                            "writes stored now)", time.time() - self.down_since, self.failures, stored)
                self.down_since = None
                self.failures = 0

    async def _drain(self) -> int | None:
        """The deferred writes, in order: how many were stored; None (the rest kept, from the one that
        failed) if the database fails again."""
        self._draining = True
        stored = 0
        try:
            while self._deferred:
                write, what = self._deferred[0]
                try:
                    await write()
                    stored += 1
                except Exception as e:
                    if self.is_outage(e):
                        if self.down_since is None:
                            self.failed(e, f"storing {what}")
                        return None
                    log.warning("database: a deferred write (%s) failed and was dropped: %s", what, _short(e))
                self._deferred.popleft()
        finally:
            self._draining = False
        return stored

    async def close(self) -> None:
        """At shutdown: the deferred writes tried once more; what cannot be stored is said, not kept."""
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self._deferred:
            try:
                await asyncio.wait_for(self._drain(), 10)
            except Exception:
                pass
        if self._deferred:
            log.error("database unavailable at shutdown: %d deferred writes (task markers, session ends) lost",
                      len(self._deferred))
            self._deferred.clear()


def _short(exc: BaseException) -> str:
    """The error's class and first line, without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text_ = str(orig).split("\n", 1)[0].split(" [SQL:", 1)[0]
    return f"{type(orig).__name__}: {text_}"[:200]
