"""Counts per client address, with a cap per address and, optionally, one for all together.

    sockets = ClientCounter(per_client=32, total=256, what="connections")
    refusal = sockets.acquire(address)     # None: counted; else a Refusal (HTTP status, text)
    ...
    sockets.release(address)

The address is ``request.remote`` (behind a reverse proxy: the proxy's, so put the
per-address limits on the proxy there). It lives in memory only and is never logged.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from aiohttp import web


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


class Refusal(NamedTuple):
    status: int  # 503: the server's overall cap; 429: this address's
    text: str


class ClientCounter:
    def __init__(self, per_client: int, total: int | None = None, what: str = "connections"):
        self.per_client = per_client
        self.total = total
        self.what = what
        self.counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return sum(self.counts.values())

    def acquire(self, client: str) -> Refusal | None:
        """Count one more for ``client`` unless a cap is reached; the ``Refusal`` if one is, else None."""
        if self.total is not None and len(self) >= self.total:
            return Refusal(503, f"the server has too many open {self.what} ({self.total}); try again later")
        if self.counts[client] >= self.per_client:
            return Refusal(429, f"too many open {self.what} from your address ({self.per_client}); close some first")
        self.counts[client] += 1
        return None

    def release(self, client: str) -> None:
        self.counts[client] -= 1
        if self.counts[client] <= 0:
            del self.counts[client]
