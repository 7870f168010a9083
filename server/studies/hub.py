"""Where everything that happens in a live study session goes.

Two kinds of listener:

- **storage** (the writer): every ``StudyResult`` made on *this* replica, to be stored once;
- **observers** (the researcher's live view): the ``LiveEvent``s of one study, made on this replica
  *or on another one* (a relay, e.g. PostgreSQL LISTEN/NOTIFY, carries them between replicas).

    hub = ResultHub()
    hub.subscribe(writer.add)                     # StudyResult, local only; called on the event loop, must not block
    hub.publish(StudyResult(study_id, session_id, task, message))    # also emits LiveEvent "result"
    hub.emit(LiveEvent(study_id, session_id, "marker", {...}))         # a local event for observers

    unwatch = hub.watch(study_id, listener)       # LiveEvent of that study, local and remote
    hub.add_relay(send)                           # send(event) for every event made on this replica
    hub.deliver(event)                            # an event from another replica: to observers only

Event kinds and their ``data`` (JSON-safe, small: a relay may have an 8000-byte limit):
``started`` {"started": epoch s}; ``result`` {"task": int|None, "message": the /ws result message};
``marker`` {"task", "event", "time_s", "utc"}; ``note`` {"text", "time_s", "utc", ...};
``check`` {"status": "passed" | "failed", "time_s"} (the camera check decided);
``ended`` {"ended": epoch s} (and ``"deleted": true`` when the session was withdrawn or deleted while live).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    study_id: str
    session_id: str
    task: int | None  # the task running when the frame was analysed (index into the study's tasks)
    message: dict  # the ``result`` message the participant got (server/live/protocol.py)


@dataclass(frozen=True)
class LiveEvent:
    study_id: str
    session_id: str
    kind: str  # "started" | "result" | "marker" | "note" | "check" | "ended"
    data: dict
    origin: str = ""  # the replica that made it (ResultHub.replica); set by emit()
    at: float = field(default_factory=time.time)  # wall clock when it was made (observer delay)

    def to_json(self) -> dict:
        return {"study": self.study_id, "session": self.session_id, "kind": self.kind, "data": self.data,
                "origin": self.origin, "at": self.at}

    @classmethod
    def from_json(cls, d: dict) -> "LiveEvent":
        return cls(str(d["study"]), str(d["session"]), str(d["kind"]), dict(d["data"]), str(d.get("origin", "")),
                   float(d.get("at", time.time())))


class ResultHub:
    def __init__(self, replica: str | None = None):
        self.replica = replica or secrets.token_hex(6)  # this process's id among replicas
        self._listeners: list[Callable[[StudyResult], None]] = []
        self._watchers: dict[str, list[Callable[[LiveEvent], None]]] = {}
        self._relays: list[Callable[[LiveEvent], None]] = []

    # storage: local results
    def subscribe(self, listener: Callable[[StudyResult], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, result: StudyResult) -> None:
        self._call(self._listeners, result)
        self.emit(LiveEvent(result.study_id, result.session_id, "result",
                            {"task": result.task, "message": result.message}))

    # observers: live events of a study, from every replica
    def watch(self, study_id: str, listener: Callable[[LiveEvent], None]) -> Callable[[], None]:
        self._watchers.setdefault(study_id, []).append(listener)

        def unwatch():
            listeners = self._watchers.get(study_id, [])
            if listener in listeners:
                listeners.remove(listener)
            if not listeners:
                self._watchers.pop(study_id, None)
        return unwatch

    def watched(self, study_id: str) -> bool:
        return bool(self._watchers.get(study_id))

    def emit(self, event: LiveEvent) -> None:
        """An event made on this replica: to its observers here, and to the relays (other replicas)."""
        if not event.origin:
            event = LiveEvent(event.study_id, event.session_id, event.kind, event.data, self.replica, event.at)
        self._call(self._watchers.get(event.study_id, ()), event)
        self._call(self._relays, event)

    def add_relay(self, send: Callable[[LiveEvent], None]) -> Callable[[], None]:
        self._relays.append(send)
        return lambda: self._relays.remove(send) if send in self._relays else None

    def deliver(self, event: LiveEvent) -> None:
        """An event from another replica (a relay received it): to this replica's observers only."""
        if event.origin == self.replica:
            return  # our own, come back through the relay
        self._call(self._watchers.get(event.study_id, ()), event)

    @staticmethod
    def _call(listeners, item) -> None:
        for listener in list(listeners):
            try:
                listener(item)
            except Exception:  # one listener's bug does not stop the others, nor the stream
                log.exception("studies: a live listener failed")
