"""Where every result of a study session goes: the writer stores it, other listeners (a live observer
view, say) subscribe too.

    hub = ResultHub()
    unsubscribe = hub.subscribe(lambda r: ...)    # r: StudyResult; called on the event loop, must not block
    hub.publish(StudyResult(study_id, session_id, task, message))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    study_id: str
    session_id: str
    task: int | None  # the task running when the frame was analysed (index into the study's tasks)
    message: dict  # the ``result`` message the participant got (server/protocol.py)


class ResultHub:
    def __init__(self):
        self._listeners: list[Callable[[StudyResult], None]] = []

    def subscribe(self, listener: Callable[[StudyResult], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, result: StudyResult) -> None:
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:  # one listener's bug does not stop the others, nor the stream
                log.exception("studies: a result listener failed")
