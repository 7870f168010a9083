"""A study's lifecycle on the server: sessions older than the study's retention period are deleted.

    await sweep(studies)                  # once: every expired session deleted, nothing left (logged)
    task = start_sweeping(studies, 3600)  # every ``interval`` seconds (Studies.lifespan)

Closing a study and its participant cap are decided where a session starts
(``store.create_session``, ``Studies.join``); the participant link says so (pages.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from . import store

log = logging.getLogger(__name__)


async def sweep(studies, now: float | None = None) -> int:
    """Delete the sessions older than their study's retention period (not one streaming here now):
    rows, markers, notes, the session itself; the space reclaimed. Returns how many."""
    expired = [sid for sid in await store.expired_sessions(studies.db, time.time() if now is None else now)
               if sid not in studies.live]
    if not expired:
        return 0
    n = await studies.delete_sessions(expired)
    log.info("studies: retention: %d session(s) older than their study's retention period deleted", n)
    return n


async def _loop(studies, interval: float) -> None:
    while True:
        try:
            await sweep(studies)
        except Exception as e:  # tried again at the next round; an outage is logged once (storage/health.py)
            if not studies.db.health.failed(e, "deleting sessions past their retention period"):
                log.exception("studies: the retention sweep failed")
        await asyncio.sleep(interval)


def start_sweeping(studies, interval: float) -> asyncio.Task:
    return asyncio.ensure_future(_loop(studies, interval))
