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

While the database is down (``db.health``), a marker, the camera check's result and the session's
end are kept and stored, in order, when it is back: the participant goes on (the marker's answer
says ``stored: false``).
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
    def __init__(self, db: Database, hub: ResultHub, study: dict, session_id: str, on_end=None, flush=None,
                 max_markers: int | None = None):
        self.db = db
        self.max_markers = max_markers  # task markers this session takes at most
        self.markers = 0
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
        mine = self.face.choose(faces, message.get("timestamp"))
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
            await self._write(lambda: store.set_check(self.db, self.session_id, status, time_s),
                              "the camera check's result")
        except Exception:  # not an outage: the session's data is complete without it; say so
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
        if self.max_markers is not None and self.markers >= self.max_markers:
            raise StudyError(f"this session has {self.markers} task markers, the most one session takes")
        if event == "end" and self.task != task:
            raise StudyError(f"task {task} is not running, it cannot end"
                             + ("" if self.task is None else f" (task {self.task} is)"))
        if event == "start" and self.check_status is None:
            if self.study.get("check_required"):
                raise StudyError("the camera check has not passed yet: this study needs it before the tasks "
                                 "(one face, large enough, lit well enough, for 2 seconds)")
            self._decide_check("failed", round(self.stream_time(), 3))
        marker = {"session_id": self.session_id, "task": task, "event": event,
                  "time_s": round(self.stream_time(), 3), "utc": utc_iso(time.time())}
        marker["stored"] = await self._write(lambda: store.add_marker(self.db, **{k: marker[k] for k in (
            "session_id", "task", "event", "time_s", "utc")}), "a task marker")
        self.markers += 1
        self.task = task if event == "start" else None
        if event == "end":
            self.done.add(task)
        self._emit("marker", {k: v for k, v in marker.items() if k not in ("session_id", "stored")})
        return marker

    async def _write(self, write, what: str) -> bool:
        """``write()`` now, or, while the database is down, once it is back: whether it was stored now."""
        health = self.db.health
        if health.ok:
            try:
                await write()
                return True
            except Exception as e:
                if not health.failed(e, f"storing {what}"):
                    raise
        health.defer(write, what)
        return False

    async def _store_end(self, status: str, ended: float) -> None:
        """The results still waiting (the writer's) stored, then the session's end: an ended session has
        all its rows, so its figures are final. An outage raises (``_write`` keeps it for later)."""
        if self._flush is not None:
            try:
                await self._flush()
            except Exception as e:
                if self.db.health.is_outage(e):
                    raise
                log.exception("studies: storing a session's last results failed")  # the writer tries again
        await store.end_session(self.db, self.session_id, status, ended)

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
                ended = time.time()
                status = self.status
                await self._write(lambda: self._store_end(status, ended), "a session's end")
                self._emit("ended", {"ended": ended})
        finally:  # no longer live once its end is stored
            if self._on_end is not None:
                self._on_end(self)
