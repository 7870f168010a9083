"""Alembic's environment for the studies' tables.

The server migrates at start-up (``Database.open`` hands Alembic its connection). By hand:

    FER_DATABASE=sqlite:///data/fer.db alembic -c server/storage/alembic.ini upgrade head
"""

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from server.storage.db import async_url
from server.storage.models import metadata

config = context.config


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
elif context.is_offline_mode():
    context.configure(url=async_url(os.environ.get("FER_DATABASE")), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async(os.environ.get("FER_DATABASE") or "sqlite:///data/fer.db"))
