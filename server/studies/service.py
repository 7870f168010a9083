"""``Studies``: the studies' database, result writer and hub, the live participations, the researcher token.

    studies = Studies(settings)                 # app[keys.STUDIES]; settings.database, settings.admin_token
    app.cleanup_ctx.append(studies.lifespan)    # opens and migrates the database, runs the writer and,
                                                # on PostgreSQL, the relay to the other replicas (relay.py)
    participation = await studies.join(token)   # a participant's offer (signaling.py)
    await studies.delete_session(id) / delete_study(id)   # nothing left: pending rows, rows, disk pages,
                                                          # screen recordings
    studies.screen                              # the sessions' screen recordings (screen.py)
"""

from __future__ import annotations

import logging
import secrets

from ..rate_limit import SlidingWindow
from ..settings import Settings
from . import store
from ..storage.db import Database
from .hub import ResultHub
from .participation import Participation, StudyError
from .relay import PgRelay
from .screen import ScreenRecordings
from .writer import ResultWriter

log = logging.getLogger(__name__)

TOKEN_MAX = 128  # characters: a longer study token in an offer is refused before any query
DATABASE_DOWN = ("the study's database is unavailable just now, so nothing could be recorded; "
                 "please try again in a few minutes")


class Studies:
    def __init__(self, settings: Settings, flush_interval: float = 0.5):
        self.db = Database(settings.database)
        self.admin_token = settings.admin_token or secrets.token_urlsafe(32)
        self.generated_token = settings.admin_token is None
        self.hub = ResultHub()
        self.writer = ResultWriter(self.db, interval=flush_interval)
        self.hub.subscribe(self.writer.add)
        self.live: dict[str, Participation] = {}  # session id -> its participation, while its /ws is open
        self.relay: PgRelay | None = None  # live events to and from other replicas (PostgreSQL only)
        self.screen = ScreenRecordings(settings.screen, self.db)
        # caps of one participant link (sessions a minute) and of one session (task markers)
        self.session_starts = SlidingWindow(settings.max_sessions_per_minute, 60.0)
        self.max_markers = settings.max_markers_per_session

    async def lifespan(self, _app):
        await self.db.open()
        try:
            if not self.db.is_sqlite:  # SQLite is one process: nobody to relay to
                self.relay = PgRelay(self.hub, self.db.url)
                await self.relay.start()
            await self.screen.open()
        except BaseException:
            if self.relay is not None:
                await self.relay.close()
            await self.db.close()
            raise
        self.writer.start()
        try:
            yield
        finally:
            for p in list(self.live.values()):
                await p.end()
            if self.relay is not None:
                await self.relay.close()  # after the sessions' "ended" events
            await self.writer.close()
            await self.screen.close()
            await self.db.close()

    async def join(self, token: str, current: Participation | None = None) -> Participation:
        """The participation for a participant's study token: ``current`` if it is the same study (a new
        offer on the same WebSocket continues its session), else a new session."""
        if current is not None and not current.closed and current.token == token:
            return current
        if not self.db.health.ok:
            raise StudyError(DATABASE_DOWN)
        try:
            return await self._join(token)
        except Exception as e:
            if self.db.health.failed(e, "starting a session"):
                raise StudyError(DATABASE_DOWN) from None
            raise

    async def _join(self, token: str) -> Participation:
        study = await store.study_by_token(self.db, token) if len(token) <= TOKEN_MAX else None
        if study is None:
            raise StudyError("unknown study: check the link you were given")
        if not self.session_starts.take(study["id"]):
            log.info("studies: a session refused: too many started from one link in a minute")
            raise StudyError(f"too many participants started this study in the last minute (at most "
                             f"{self.session_starts.limit}); try again in a minute")
        session_id = await store.create_session(self.db, study["id"])
        participation = Participation(self.db, self.hub, study, session_id, on_end=self._ended,
                                      max_markers=self.max_markers)
        self.live[session_id] = participation
        log.info("studies: session started")
        return participation

    def _ended(self, participation: Participation) -> None:
        self.live.pop(participation.session_id, None)
        if participation.study["screen"]:  # its screen recording ends with it (its last chunks may still come)
            self.screen.session_ended_soon(participation.session_id)

    def _stop(self, session_ids) -> None:
        for sid in session_ids:
            if sid in self.live:
                self.live.pop(sid).close()
        self.writer.forget(session_ids)

    async def delete_session(self, session_id: str, study_id: str | None = None) -> bool:
        async with self.writer.paused():
            session = await store.get_session(self.db, session_id)
            if session is None or (study_id is not None and session["study_id"] != study_id):
                return False
            self._stop([session_id])
            await store.delete_session(self.db, session_id)
        await self.screen.delete([session_id])
        await self._reclaim()
        return True

    async def delete_study(self, study_id: str) -> bool:
        async with self.writer.paused():
            ids = await store.delete_study(self.db, study_id)
            if ids is None:
                return False
            self._stop(ids)
        await self.screen.delete(ids)
        await self._reclaim()
        return True

    async def _reclaim(self) -> None:
        try:
            await self.db.reclaim()
        except Exception:  # the rows are deleted; their space is freed at the next delete or checkpoint
            log.exception("studies: freeing the deleted rows' space failed")


__all__ = ["Studies", "StudyError"]
