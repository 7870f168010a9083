"""The studies' database: its URL, the async engine, migrations at start-up, space reclaimed after deletes.

    db = Database("sqlite:///data/fer.db")         # or "postgresql://user:pw@host:5432/fer", or None: throw-away
    await db.open()                                # connects and migrates to the newest schema (Alembic)
    async with db.engine.begin() as conn: ...      # SQLAlchemy Core, async (aiosqlite / asyncpg)
    await db.reclaim()                             # after a delete: nothing of the deleted rows left on disk
    db.health                                      # outages (storage/health.py)
    await db.close()

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a committed batch survives a killed
server), foreign keys on (the cascades) and ``secure_delete`` (deleted rows are
overwritten with zeros). On PostgreSQL, replicas starting at once migrate one after the other
(a transaction-scoped advisory lock), so none fails on tables another is creating.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .health import DatabaseHealth

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5  # PostgreSQL: a connection not made in this long fails (an outage, not a hang)
MIGRATION_LOCK = 0x66657231  # PostgreSQL advisory lock key ("fer1"): one replica migrates at a time
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA secure_delete=ON", "PRAGMA busy_timeout=10000")


class DatabaseError(ValueError):
    """A database URL the server cannot use."""


def async_url(url: str) -> str:
    """The SQLAlchemy async URL for a user's database URL.

    ``sqlite:///PATH`` -> aiosqlite (the folder is made, readable by its owner only),
    ``postgresql://...`` -> asyncpg."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r} (expected sqlite:///PATH or postgresql://...)") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:":
            raise DatabaseError("an in-memory SQLite database cannot be shared: use sqlite:///PATH")
        Path(u.database).expanduser().resolve().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")


def shown_url(url: str) -> str:
    """The URL for logs: without its password."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """``url`` None: a SQLite file in a temporary folder, removed by ``close()`` (tests, embedding)."""

    def __init__(self, url: str | None):
        self._tmp = None
        if url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fer-studies-")
            url = f"sqlite:///{self._tmp.name}/studies.db"
        self.url = url
        self.async_url = async_url(url)
        self.engine: AsyncEngine | None = None
        self.health = DatabaseHealth(self)  # outages: told apart, logged once, probed, writes deferred

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.startswith("sqlite")

    async def open(self) -> None:
        # hide_parameters: a failed statement's values (participant tokens, notes) stay out of error messages;
        # PostgreSQL: a pooled connection is checked before use (after a restart of the server, the first
        # statement does not fail on a dead connection), and connecting gives up after CONNECT_TIMEOUT_S
        options = {} if self.is_sqlite else {"pool_pre_ping": True, "connect_args": {"timeout": CONNECT_TIMEOUT_S}}
        self.engine = create_async_engine(self.async_url, hide_parameters=True, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with self.engine.begin() as conn:
                if not self.is_sqlite:  # replicas starting together: the others wait, then find the newest schema
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                await conn.run_sync(_upgrade)
        except BaseException:
            await self.engine.dispose()
            raise
        log.info("studies: database %s at the newest schema", shown_url(self.url))

    async def reclaim(self) -> None:
        """After a delete: SQLite's WAL is checkpointed and emptied (secure_delete already zeroed the
        rows' pages); PostgreSQL's tables are vacuumed, so the dead rows' space is freed."""
        if self.is_sqlite:
            async with self.engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM results, markers, notes, screen_recordings, sessions, studies, jobs"))

    async def close(self) -> None:
        if self.engine is not None:
            await self.health.close()
            await self.engine.dispose()
        if self._tmp is not None:
            self._tmp.cleanup()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
