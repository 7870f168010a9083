"""A participant's visit on ``/ws``: one study session, its task markers and its results.

    participation = await studies.join(participant_token)     # StudyError: unknown study
    participation.on_result(message)       # from the track processor: published to the hub (stored)
    await participation.mark(task, "start" | "end")             # StudyError: out of range, not running
    await participation.end()              # the WebSocket closed: the session's end time

Each result is stamped with the task running when its frame was analysed. While the
database is down (``db.health``), a marker and the session's end are kept and stored, in
order, when it is back: the participant goes on (the marker's answer says ``stored: false``).
"""

from __future__ import annotations

import time

from ml.schema import utc_iso

from . import store
from ..storage.db import Database
from .hub import LiveEvent, ResultHub, StudyResult


class StudyError(ValueError):
    """A study request that cannot be taken; its text goes back to the participant."""


class Participation:
    def __init__(self, db: Database, hub: ResultHub, study: dict, session_id: str, on_end=None,
                 max_markers: int | None = None):
        self.db = db
        self.max_markers = max_markers  # task markers this session takes at most
        self.markers = 0
        self.hub = hub
        self.study = study
        self.session_id = session_id
        self.task: int | None = None
        self.closed = False
        self.results = 0
        self.last: dict | None = None  # the newest result message (the observers' snapshot)
        self._on_end = on_end
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
        self.results += 1
        self.last = message
        self.hub.publish(StudyResult(self.study["id"], self.session_id, self.task, message))

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
        marker = {"session_id": self.session_id, "task": task, "event": event,
                  "time_s": round(self.stream_time(), 3), "utc": utc_iso(time.time())}
        marker["stored"] = await self._write(lambda: store.add_marker(self.db, **{k: marker[k] for k in (
            "session_id", "task", "event", "time_s", "utc")}), "a task marker")
        self.markers += 1
        self.task = task if event == "start" else None
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

    def _emit(self, kind: str, data: dict) -> None:
        self.hub.emit(LiveEvent(self.study["id"], self.session_id, kind, data))

    def close(self) -> None:
        """No more results or markers are taken (the session was deleted); observers see it end."""
        if not self.closed:
            self.closed = True
            self._emit("ended", {"ended": time.time(), "deleted": True})

    async def end(self) -> None:
        was_closed, self.closed = self.closed, True
        try:
            if not was_closed:
                ended = time.time()
                await self._write(lambda: store.end_session(self.db, self.session_id, ended), "a session's end")
                self._emit("ended", {"ended": ended})
        finally:  # no longer live once its end is stored
            if self._on_end is not None:
                self._on_end(self)
