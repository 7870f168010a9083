"""``Studies``: the studies' database, result writer and hub, the live participations, the researcher token.

    studies = Studies(settings)                 # app[keys.STUDIES]; settings.database, settings.admin_token
    app.cleanup_ctx.append(studies.lifespan)    # opens and migrates the database (a first start without a
                                                # token makes one: studies.made_token), runs the writer, the
                                                # retention sweep and, on PostgreSQL, the relay (relay.py)
    participation = await studies.join(token)   # a participant's offer (signaling.py); StudyError: closed, full
    await studies.withdraw(session_id, study_id)          # the participant stops: their data deleted
    await studies.delete_session(id) / delete_study(id)   # nothing left: pending rows, rows, disk pages,
                                                          # screen recordings
    await studies.change_study(id, {...})       # close, reopen, cap, retention, thresholds
    studies.on_deleted.append(hook)             # await hook(session_ids) after their data was deleted
    studies.screen                              # the sessions' screen recordings (screen.py)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from ..rate_limit import SlidingWindow
from ..settings import Settings
from . import lifecycle, researchers, store
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
WITHDRAW_DOWN = ("the study's database is unavailable just now, so nothing was deleted yet; "
                 "please try again in a few minutes")


class DatabaseUnavailable(StudyError):
    """The database is down: what was asked was not done (nothing lost, nothing half done); try again."""


class Studies:
    def __init__(self, settings: Settings, flush_interval: float = 0.5):
        self.db = Database(settings.database)
        self.admin_token = settings.admin_token  # --admin-token / FER_ADMIN_TOKEN, if given
        self.made_token: str | None = None  # a token made at this (first) start, printed once
        # the studies' pages are on (--features): only then is a first token made (one made while they are
        # off would never be shown, and the next start with them on would show none)
        self.pages_on = "studies" in settings.features
        self.retention_sweep_s = settings.retention_sweep_s
        self.hub = ResultHub()
        self.writer = ResultWriter(self.db, interval=flush_interval)
        self.hub.subscribe(self.writer.add)
        self.live: dict[str, Participation] = {}  # session id -> its participation, while its /ws is open
        self.relay: PgRelay | None = None  # live events to and from other replicas (PostgreSQL only)
        self.screen = ScreenRecordings(settings.screen, self.db)
        # called with the ids of sessions whose data was just deleted (withdrawn, deleted, past retention,
        # their study deleted): what other code keeps of a session (files) goes too; first: their screen
        # recordings (rows and files)
        self.on_deleted: list[Callable[[list[str]], Awaitable[None]]] = [self.screen.delete]
        # caps of one participant link (sessions a minute) and of one session (task markers)
        self.session_starts = SlidingWindow(settings.max_sessions_per_minute, 60.0)
        self.max_markers = settings.max_markers_per_session

    async def lifespan(self, _app):
        await self.db.open()
        try:
            if not self.db.is_sqlite:  # SQLite is one process: nobody to relay to
                self.relay = PgRelay(self.hub, self.db.url)
                await self.relay.start()
            if self.admin_token is None and self.pages_on:
                self.made_token = await researchers.first_token(self.db)
            await self.screen.open()
        except BaseException:
            if self.relay is not None:
                await self.relay.close()
            await self.db.close()
            raise
        self.writer.start()
        sweeper = lifecycle.start_sweeping(self, self.retention_sweep_s)
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
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
        if session_id is None:
            raise StudyError(await self.why_closed(study["id"]) or "this study takes no new participants")
        participation = Participation(self.db, self.hub, study, session_id, on_end=self._ended,
                                      flush=self.writer.flush, max_markers=self.max_markers)
        self.live[session_id] = participation
        log.info("studies: session started")
        return participation

    def _ended(self, participation: Participation) -> None:
        self.live.pop(participation.session_id, None)
        if participation.study["screen"]:  # its screen recording ends with it (its last chunks may still come)
            self.screen.session_ended_soon(participation.session_id)

    async def why_closed(self, study_id: str) -> str | None:
        """Why a study takes no new participants (closed, or its cap reached), None if it does."""
        study = await store.get_study(self.db, study_id)
        if study is None:
            return "unknown study: check the link you were given"
        if study["closed"] is not None:
            return "this study is closed: it takes no new participants. Thank you for your interest."
        if study["max_sessions"] is not None and await store.count_sessions(self.db, study_id) >= study["max_sessions"]:
            return "this study has all the participants it needs. Thank you for your interest."
        return None

    async def change_study(self, study_id: str, change: dict) -> dict | None:
        """Close or reopen a study, set its cap, retention period, camera check or quality thresholds."""
        study = await store.update_study(self.db, study_id, **change)
        if study is not None and change:
            log.info("studies: a study's settings changed (%s)", ", ".join(sorted(change)))
        return study

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
        await self._deleted([session_id])
        return True

    async def withdraw(self, session_id: str, study_id: str) -> bool:
        """The participant stopped and deleted their data: the stream's results are no longer taken, the
        session's rows, markers and notes are deleted (nothing left on disk); the session stays listed
        as withdrawn. False if there is no such session of the study (or it was withdrawn already).
        DatabaseUnavailable while the database is down: nothing is stopped or deleted, the caller says
        so and the participant tries again."""
        try:
            return await self._withdraw(session_id, study_id)
        except Exception as e:
            if self.db.health.failed(e, "withdrawing a session"):
                raise DatabaseUnavailable(WITHDRAW_DOWN) from None
            raise

    async def _withdraw(self, session_id: str, study_id: str) -> bool:
        if not self.db.health.ok:  # not while writes wait: they would land after the delete
            raise DatabaseUnavailable(WITHDRAW_DOWN)
        async with self.writer.paused():
            session = await store.get_session(self.db, session_id)
            if session is None or session["study_id"] != study_id or session["status"] == "withdrawn":
                return False
            self._stop([session_id])
            await store.withdraw_session(self.db, session_id)
        await self._deleted([session_id])
        log.info("studies: a participant withdrew; their session's data was deleted")
        return True

    async def delete_sessions(self, session_ids: list[str]) -> int:
        """Delete several sessions (retention): nothing left of them; how many there were."""
        gone = []
        async with self.writer.paused():
            self._stop(session_ids)
            for sid in session_ids:
                if await store.delete_session(self.db, sid):
                    gone.append(sid)
        if gone:
            await self._deleted(gone)
        return len(gone)

    async def delete_study(self, study_id: str) -> bool:
        async with self.writer.paused():
            ids = await store.delete_study(self.db, study_id)
            if ids is None:
                return False
            self._stop(ids)
        await self._deleted(ids)
        return True

    async def _deleted(self, session_ids: list[str]) -> None:
        for hook in list(self.on_deleted):
            try:
                await hook(session_ids)
            except Exception:  # one hook's failure does not keep the others (or the space) back
                log.exception("studies: a hook on deleted sessions failed")
        await self._reclaim()

    async def _reclaim(self) -> None:
        try:
            await self.db.reclaim()
        except Exception:  # the rows are deleted; their space is freed at the next delete or checkpoint
            log.exception("studies: freeing the deleted rows' space failed")


__all__ = ["DatabaseUnavailable", "Studies", "StudyError"]
