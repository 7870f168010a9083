"""An upload's body must keep coming: a stalled or trickling client loses its upload (408), not its slot forever.

    deadline = BodyDeadline(request.content, idle_s=10, min_rate=16 * 1024, grace_s=10)
    chunk = await deadline.read(part.read_chunk(CHUNK))    # BodyTooSlow (an HTTP 408 for the client)

Two rules, checked while any read of the body waits (the multipart headers too), on the
bytes that reach the request's stream (a read may wait for several: a multipart part
is read up to its boundary):

- **idle**: at most ``idle_s`` seconds without a byte;
- **rate**: after its first ``grace_s`` seconds, the body has come at ``min_rate`` bytes a
  second on average at least: by ``grace_s + received / min_rate`` seconds after it began,
  more is due. A client that sends one byte every 9 s passes the idle rule and fails this
  one once the grace is over; 100 MB at the default 16 kB/s may take 107 minutes.

Together with the per-address and overall counts of uploads being received
(``UploadSettings``), clients that stall from a few addresses cannot refuse anyone else's upload.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, TypeVar

T = TypeVar("T")


class BodyTooSlow(Exception):
    """The body stalled or came too slowly; the text is for the client."""


class BodyDeadline:
    def __init__(self, stream, idle_s: float, min_rate: float, grace_s: float):
        """``stream``: the request's body (an aiohttp ``StreamReader``: its ``total_bytes`` is what came)."""
        self.stream = stream
        self.idle_s, self.min_rate, self.grace_s = idle_s, min_rate, grace_s
        self.started = self.last_byte_at = time.monotonic()
        self._seen = self._base = stream.total_bytes

    @property
    def received(self) -> int:
        return self._seen - self._base

    def _note_progress(self) -> None:
        if self.stream.total_bytes != self._seen:
            self._seen = self.stream.total_bytes
            self.last_byte_at = time.monotonic()

    def _due(self) -> tuple[float, str]:
        """When more is due, and the rule that says so."""
        idle = self.last_byte_at + self.idle_s
        rate = self.started + self.grace_s + self.received / self.min_rate
        if rate >= idle:
            return idle, f"nothing of the upload came for {self.idle_s:g} s; try again"
        if not self.received:
            return rate, f"nothing of the upload came in {self.grace_s:g} s; try again"
        return rate, (f"the upload came slower than {self.min_rate / 1024:.0f} kB/s on average; "
                      "try again on a faster connection")

    async def read(self, awaitable: Awaitable[T]) -> T:
        """The result of ``awaitable`` (a read of the body), or ``BodyTooSlow`` once more is due and has not come."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                self._note_progress()
                due, why = self._due()
                done, _ = await asyncio.wait({task}, timeout=max(0.0, due - time.monotonic()))
                if done:
                    self._note_progress()
                    return task.result()
                before = self._seen
                self._note_progress()
                if self._seen == before or time.monotonic() >= self._due()[0]:
                    raise BodyTooSlow(why)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
