"""A participant's visit on ``/ws``: one study session, its task markers and its results.

    participation = await studies.join(participant_token)     # StudyError: unknown study
    participation.on_result(message)       # from the track processor: the participant's face marked in it,
                                           # then published to the hub (stored)
    await participation.mark(task, "start" | "end")             # StudyError: out of range, not running
    await participation.end()              # the WebSocket closed: the session's end time and status

Each result is stamped with the task running when its frame was analysed, and each of its faces
says whether it is the participant's (``"participant": true``, ``participant_face.py``). Until
the first task starts, the results carry the camera check's status (``"check"``, camera_check.py);
when it passes, its face is the participant's and the moment is stored (``sessions.check_s``). A
first task started without a passed check fails it (the session is flagged), or, when the study
requires the check, is refused. The session ends ``completed`` when the last task was done, else
``incomplete``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ml.schema import utc_iso

from . import store
from .camera_check import CameraCheck
from .definitions import thresholds
from ..storage.db import Database
from .hub import LiveEvent, ResultHub, StudyResult
from .participant_face import ParticipantFace


log = logging.getLogger(__name__)


class StudyError(ValueError):
    """A study request that cannot be taken; its text goes back to the participant."""


class Participation:
    def __init__(self, db: Database, hub: ResultHub, study: dict, session_id: str, on_end=None, flush=None):
        self.db = db
        self.hub = hub
        self.study = study
        self.session_id = session_id
        self.task: int | None = None
        self.done: set[int] = set()  # the tasks ended
        self.face = ParticipantFace()
        self.check = CameraCheck(thresholds(study.get("quality")))
        self.check_status: str | None = None  # passed or failed, once decided
        self.on_close = None  # called when the session is closed (withdrawn, deleted): the stream stops
        self._pending: set[asyncio.Task] = set()  # stores begun from on_result
        self.closed = False
        self.results = 0
        self.last: dict | None = None  # the newest result message (the observers' snapshot)
        self._on_end = on_end
        self._flush = flush  # stores the results still waiting (the writer's), before the session is ended
        self._clock: tuple[float, float] | None = None  # (stream time, wall clock) of the last result
        self._emit("started", {"started": time.time()})

    @property
    def token(self) -> str:
        return self.study["participant_token"]

    def on_result(self, message: dict) -> None:
        if self.closed:
            return
        if message.get("timestamp") is not None:
            self._clock = (message["timestamp"], time.time())
        faces = message.get("faces") or []
        if self.check_status is None:
            self._check(message, faces)
        mine = self.face.choose(faces)
        for face in faces:
            face["participant"] = face is mine
        self.results += 1
        self.last = message
        self.hub.publish(StudyResult(self.study["id"], self.session_id, self.task, message))

    def _check(self, message: dict, faces: list[dict]) -> None:
        t = message.get("timestamp")
        status = self.check.update(faces, time.monotonic() if t is None else t)
        message["check"] = status
        if status["state"] == "passed":
            self.face.adopt(self.check.face)
            self._decide_check("passed", round(self.check.passed_at, 3))

    def _decide_check(self, status: str, time_s: float) -> None:
        self.check_status = status
        task = asyncio.ensure_future(self._store_check(status, time_s))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        self._emit("check", {"status": status, "time_s": time_s})

    async def _store_check(self, status: str, time_s: float) -> None:
        try:
            await store.set_check(self.db, self.session_id, status, time_s)
        except Exception:  # the session's data is complete without it; say so
            log.exception("studies: the camera check's result could not be stored")

    def stream_time(self) -> float:
        """Now, on the stream's clock (results' ``time_s``)."""
        if self._clock is None:
            return 0.0
        stamp, at = self._clock
        return stamp + (time.time() - at)

    async def mark(self, task: int, event: str) -> dict:
        if self.closed:
            raise StudyError("this study session has ended (its data was deleted)")
        n = len(self.study["tasks"])
        if not 0 <= task < n:
            raise StudyError(f"task {task} is out of range: this study has {n} task{'s' * (n != 1)} (0 to {n - 1})")
        if event == "end" and self.task != task:
            raise StudyError(f"task {task} is not running, it cannot end"
                             + ("" if self.task is None else f" (task {self.task} is)"))
        if event == "start" and self.check_status is None:
            if self.study.get("check_required"):
                raise StudyError("the camera check has not passed yet: this study needs it before the tasks "
                                 "(one face, large enough, lit well enough, for 2 seconds)")
            self._decide_check("failed", round(self.stream_time(), 3))
        marker = await store.add_marker(self.db, self.session_id, task, event, round(self.stream_time(), 3),
                                        utc_iso(time.time()))
        self.task = task if event == "start" else None
        if event == "end":
            self.done.add(task)
        self._emit("marker", {k: v for k, v in marker.items() if k != "session_id"})
        return marker

    def _emit(self, kind: str, data: dict) -> None:
        self.hub.emit(LiveEvent(self.study["id"], self.session_id, kind, data))

    def close(self) -> None:
        """No more results or markers are taken (the session was withdrawn or deleted); its stream is
        stopped; observers see it end."""
        if not self.closed:
            self.closed = True
            for task in self._pending:
                task.cancel()
            self._emit("ended", {"ended": time.time(), "deleted": True})
            if self.on_close is not None:
                self.on_close()

    @property
    def status(self) -> str:
        """What the session is if it ends now: completed (its last task was done) or incomplete."""
        return "completed" if len(self.study["tasks"]) - 1 in self.done else "incomplete"

    async def end(self) -> None:
        was_closed, self.closed = self.closed, True
        try:
            if not was_closed:
                if self._pending:
                    await asyncio.gather(*self._pending, return_exceptions=True)
                if self._flush is not None:  # an ended session has all its rows: its figures are final
                    try:
                        await self._flush()
                    except Exception:  # the writer keeps them and tries again
                        log.exception("studies: storing a session's last results failed")
                await store.end_session(self.db, self.session_id, self.status)
                self._emit("ended", {"ended": time.time()})
        finally:  # no longer live once its end is stored
            if self._on_end is not None:
                self._on_end(self)
