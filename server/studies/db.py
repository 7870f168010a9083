"""The studies' database: its URL, the async engine, migrations at start-up, space reclaimed after deletes.

    db = Database("sqlite:///data/fer.db")         # or "postgresql://user:pw@host:5432/fer", or None: in memory
    await db.open()                                # connects and migrates to the newest schema (Alembic)
    async with db.engine.begin() as conn: ...      # SQLAlchemy Core, async (aiosqlite / asyncpg)
    await db.reclaim()                             # after a delete: nothing of the deleted rows left on disk
    await db.close()

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a committed batch survives a killed
server), foreign keys on (the cascades) and ``secure_delete`` (deleted rows are
overwritten with zeros).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA secure_delete=ON", "PRAGMA busy_timeout=10000")


class DatabaseError(ValueError):
    """A database URL the server cannot use."""


def async_url(url: str | None) -> str:
    """The SQLAlchemy async URL for a user's database URL (None: SQLite in memory).

    ``sqlite:///PATH`` -> aiosqlite (the folder is made), ``postgresql://...`` -> asyncpg."""
    if url is None:
        return "sqlite+aiosqlite://"
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r} (expected sqlite:///PATH or postgresql://...)") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")


def shown_url(url: str | None) -> str:
    """The URL for logs: without its password."""
    return "SQLite in memory" if url is None else make_url(url).render_as_string(hide_password=True)


class Database:
    def __init__(self, url: str | None):
        self.url = url
        self.async_url = async_url(url)
        self.engine: AsyncEngine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.startswith("sqlite")

    async def open(self) -> None:
        kwargs = {}
        if self.url is None:  # one shared connection: an in-memory database lives as long as it
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        self.engine = create_async_engine(self.async_url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with self.engine.begin() as conn:
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
                await conn.execute(text("VACUUM results, markers, sessions, studies"))

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


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
