"""Events counted per key over a sliding window: token guesses per address, sessions per participant link.

    guesses = SlidingWindow(limit=10, window_s=60)
    wait = guesses.wait(address)        # seconds until ``address`` may try again (0: now)
    guesses.add(address)                # one more event of ``address``
    starts.take(study_id)               # add one unless ``limit`` are in the window: True if added

In memory, per server process (with several replicas, each counts its own: put a limit on the
proxy too). At most ``max_keys`` keys are kept: past that, the keys idle longest are forgotten,
so that a flood of addresses cannot grow it without bound. Keys are never logged.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class SlidingWindow:
    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000):
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._events: OrderedDict[str, deque] = OrderedDict()  # key -> times (monotonic), oldest first

    def _recent(self, key: str, now: float) -> deque | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def count(self, key: str) -> int:
        events = self._recent(key, time.monotonic())
        return len(events) if events else 0

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has fewer than ``limit`` events in the window (0: it has now)."""
        now = time.monotonic()
        events = self._recent(key, now)
        if not events or len(events) < self.limit:
            return 0.0
        return events[len(events) - self.limit] + self.window_s - now

    def add(self, key: str) -> None:
        now = time.monotonic()
        events = self._recent(key, now)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        events.append(now)
        self._events.move_to_end(key)
        while len(events) > self.limit:  # older events than the limit never matter
            events.popleft()

    def take(self, key: str) -> bool:
        """One more event of ``key`` unless it has ``limit`` in the window; whether it was taken."""
        if self.wait(key) > 0:
            return False
        self.add(key)
        return True
