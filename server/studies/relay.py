"""Live events between server replicas that share one PostgreSQL database: LISTEN/NOTIFY, no other service.

    relay = PgRelay(hub, "postgresql://user:pw@host/db")   # Studies.lifespan, when the database is PostgreSQL
    await relay.start()     # connects (a dedicated connection), LISTENs, hub.add_relay(relay.send)
    await relay.close()     # what is queued goes out, then the connection closes

Every ``LiveEvent`` made on this replica (``ResultHub.emit``) is queued by ``send`` (on the event
loop, never blocks); a task sends what is queued as NOTIFY payloads on ``CHANNEL``, in one
statement (up to ``BATCH_MAX`` events), then waits ``interval`` seconds: an event after a quiet
spell goes at once, a stream's results at most once per interval. A session's newer result
replaces its older one still queued (observers show the newest; ``Pending``), so the relay's
cost is bounded by the number of live sessions, not by their frame rate. Every replica LISTENs
on the same connection and hands the other replicas' events to ``hub.deliver`` (its own
observers only). SQLite is one process: no relay.

A payload is JSON text under PostgreSQL's limit (``PAYLOAD_MAX`` bytes, the server refuses
8000 and more): ``{"r": replica, "e": [event, ...]}`` carries whole events (``LiveEvent.to_json``),
and an event too big for one payload (a result with dozens of faces, a long note) goes as
pieces, ``{"r": replica, "f": piece-set id, "i": index, "n": count, "d": base64 of part of
the event's UTF-8 JSON}``, put together by the receivers. Nothing is dropped silently:

- the database unreachable: events wait in the queue (at most ``QUEUE_MAX``, then the oldest
  go, counted) and go out when the connection is back; the loss and the return are logged
  once each. Events other replicas sent meanwhile are not seen here (NOTIFY is not stored);
  an observer's snapshot on (re)connecting comes from the database.
- a payload that is not ours (not JSON, wrong shape, a piece set never completed) is logged
  (the first, then a count at most once a minute) and ignored; the events after it still come.

LISTEN needs a session of its own: behind PgBouncer, give the replicas a direct connection
(session pooling), docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections import deque

import asyncpg
from sqlalchemy.engine import make_url

from .hub import LiveEvent, ResultHub

log = logging.getLogger(__name__)

CHANNEL = "fer_live_events"
PAYLOAD_MAX = 7900  # bytes of one NOTIFY payload (PostgreSQL refuses 8000 and more)
QUEUE_MAX = 20_000  # events waiting for the database; beyond it the oldest are dropped (and counted)
BATCH_MAX = 200  # events in one NOTIFY statement: bounded work on the event loop between awaits
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between reconnection attempts, the last one repeated
PING_S = 10.0  # an idle connection is checked this often (a dead TCP peer shows no error by itself)
PIECES_TTL_S = 10.0  # a piece set not complete by then is dropped (logged)
PIECES_MAX = 64  # piece sets being put together at once
BAD_LOG_EVERY_S = 60.0
# the connection is gone (or never came): the events wait, the relay reconnects
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                     asyncpg.exceptions.OperatorInterventionError)
NETWORK_ERRORS = CONNECTION_ERRORS + (asyncpg.PostgresError,)  # connecting: any refusal is retried


def listen_dsn(url: str) -> str:
    """The user's ``postgresql://`` URL (any driver suffix dropped) as asyncpg's DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def payloads(replica: str, events: list[dict], limit: int = PAYLOAD_MAX) -> list[str]:
    """The NOTIFY payloads for ``events`` (JSON-safe dicts), in order, each at most ``limit`` bytes."""
    head = '{"r":' + dumps(replica) + ',"e":['
    out: list[str] = []
    batch: list[str] = []
    size = len(head.encode()) + 2  # + "]}"

    def close_batch():
        nonlocal batch, size
        if batch:
            out.append(head + ",".join(batch) + "]}")
        batch, size = [], len(head.encode()) + 2

    for event in events:
        text = dumps(event)
        n = len(text.encode())
        if size + n + 1 <= limit:
            batch.append(text)
            size += n + 1
            continue
        close_batch()
        if size + n <= limit:
            batch.append(text)
            size += n + 1
        else:  # too big for a payload of its own: pieces
            out.extend(pieces(replica, text, limit))
    close_batch()
    return out


def pieces(replica: str, text: str, limit: int) -> list[str]:
    data = base64.b64encode(text.encode()).decode("ascii")
    set_id = secrets.token_hex(6)
    overhead = len(dumps({"r": replica, "f": set_id, "i": 10**6, "n": 10**6, "d": ""}).encode())
    step = (limit - overhead) // 4 * 4
    parts = [data[i:i + step] for i in range(0, len(data), step)]
    return [dumps({"r": replica, "f": set_id, "i": i, "n": len(parts), "d": part}) for i, part in enumerate(parts)]


class BadPayload(ValueError):
    pass


class Pending:
    """The events waiting to be sent, in order; a session's newer result replaces its older one
    still waiting (and moves to the end): observers show a session's newest result, so a relay
    carries at most one result per session per batch, however fast the stream. At most ``limit``
    items: beyond it the oldest go, counted in ``dropped``."""

    def __init__(self, limit: int = QUEUE_MAX):
        self.limit = limit
        self.dropped = 0
        self._items: deque = deque()  # LiveEvent, or a session id whose newest result is in _results
        self._results: dict[str, LiveEvent] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: LiveEvent) -> None:
        if event.kind == "result":
            if event.session_id in self._results:
                self._items.remove(event.session_id)
            self._results[event.session_id] = event
            self._items.append(event.session_id)
        else:
            self._items.append(event)
        self._trim()

    def take(self, n: int) -> list[LiveEvent]:
        """The oldest ``n`` events (fewer if fewer wait)."""
        out = []
        while self._items and len(out) < n:
            item = self._items.popleft()
            out.append(self._results.pop(item) if isinstance(item, str) else item)
        return out

    def put_back(self, events: list[LiveEvent]) -> None:
        """Events taken but not sent go first again (a result not if a newer one of its session waits)."""
        for event in reversed(events):
            if event.kind != "result":
                self._items.appendleft(event)
            elif event.session_id not in self._results:
                self._results[event.session_id] = event
                self._items.appendleft(event.session_id)
        self._trim()

    def _trim(self) -> None:
        while len(self._items) > self.limit:  # the oldest go
            item = self._items.popleft()
            if isinstance(item, str):
                del self._results[item]
            self.dropped += 1


class PgRelay:
    def __init__(self, hub: ResultHub, url: str, interval: float = 0.05, channel: str = CHANNEL):
        self.hub = hub
        self.dsn = listen_dsn(url)
        self.interval = interval
        self.channel = channel
        self.sent = 0  # events NOTIFYed
        self.received = 0  # events from other replicas handed to the hub
        self.bad = 0  # payloads ignored
        self._queue = Pending()
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._unrelay = None
        self._pieces: dict[tuple[str, str], tuple[float, int, dict[int, str]]] = {}
        self._down_since: float | None = None
        self._dropped_logged = 0
        self._bad_logged_at = 0.0
        self._bad_unlogged = 0
        self._closing = False
        self._refused = 0

    @property
    def dropped(self) -> int:
        """Events lost: the queue was full while the database was unreachable, or the database refused them."""
        return self._queue.dropped + self._refused

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Connect and LISTEN (errors propagate: the database was just reachable), then relay."""
        await self._connect()
        log.info("studies: live events go to and come from the other replicas on this database "
                 "(LISTEN/NOTIFY channel %s)", self.channel)
        self._unrelay = self.hub.add_relay(self.send)
        self._task = asyncio.create_task(self._run(), name="studies-live-relay")

    def send(self, event: LiveEvent) -> None:
        """An event made on this replica (the hub calls it on the event loop): queued, sent by the task."""
        self._queue.put(event)
        self._wake.set()

    async def close(self) -> None:
        self._closing = True
        if self._unrelay is not None:
            self._unrelay()
        if self._task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, 5)
            except asyncio.TimeoutError:
                pass  # wait_for cancelled it
            except Exception:
                log.exception("studies: the live relay failed while closing")
        if self._queue:
            log.warning("studies: %d live events not sent to the other replicas at shutdown", len(self._queue))
        await self._disconnect()

    # the connection

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await conn.add_listener(self.channel, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(lambda _conn: self._wake.set())
        self._conn = conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()

    def _lost(self, reason: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("studies: the live relay lost its database connection (%s); other replicas' observers "
                        "miss this replica's events until it is back, reconnecting", reason)
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._connect()
            except NETWORK_ERRORS:
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                continue
            down = time.monotonic() - (self._down_since or time.monotonic())
            log.info("studies: the live relay is connected again after %.1f s%s", down,
                     f"; {self.dropped - self._dropped_logged} events were dropped meanwhile (queue full)"
                     if self.dropped > self._dropped_logged else "")
            self._dropped_logged = self.dropped
            self._down_since = None
            return

    # sending

    async def _run(self) -> None:
        while True:
            if not self.connected:
                if self._conn is not None or self._down_since is None:
                    self._lost("closed")
                await self._reconnect()
                if self._closing and not self.connected:
                    return
            if not self._queue:
                if self._closing:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), PING_S)
                except asyncio.TimeoutError:
                    try:
                        await self._conn.fetchval("SELECT 1", timeout=5)
                    except NETWORK_ERRORS as e:
                        self._lost(type(e).__name__)
                    continue
            self._wake.clear()
            if self._queue and self.connected:
                await self._flush()
                if not self._closing:  # what comes meanwhile goes in the next statement, results coalesced
                    await asyncio.sleep(self.interval)

    async def _flush(self) -> None:
        while self._queue and self.connected:
            events = self._queue.take(BATCH_MAX)
            try:
                texts = payloads(self.hub.replica, [e.to_json() for e in events])
            except (TypeError, ValueError):  # an event that is not JSON-safe (a bug where it was made): only it is lost
                events = [e for e in events if _json_safe(e)]
                texts = payloads(self.hub.replica, [e.to_json() for e in events])
            try:
                await self._conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) "
                                         "ORDER BY i", self.channel, texts, timeout=10)
                self.sent += len(events)
            except CONNECTION_ERRORS as e:
                self._queue.put_back(events)
                self._lost(type(e).__name__)
            except asyncpg.PostgresError as e:  # refused, not lost: sending them again would fail again
                self._refused += len(events)
                log.error("studies: the database refused %d live events for the other replicas: %s", len(events), e)

    # receiving

    def _on_notify(self, conn, pid: int, _channel: str, payload: str) -> None:
        if pid == conn.get_server_pid():
            return  # our own NOTIFY
        try:
            for event in self._events(payload):
                self.received += 1
                self.hub.deliver(event)
        except BadPayload as e:
            self._bad(str(e))

    def _events(self, payload: str) -> list[LiveEvent]:
        try:
            msg = json.loads(payload)
        except ValueError:
            raise BadPayload("not JSON") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("r"), str):
            raise BadPayload("not a relay message")
        if msg["r"] == self.hub.replica:
            return []
        if "e" in msg:
            if not isinstance(msg["e"], list):
                raise BadPayload("events are not a list")
            return [self._event(e) for e in msg["e"]]
        text = self._piece(msg)
        return [] if text is None else [self._event(_json(text))]

    @staticmethod
    def _event(d) -> LiveEvent:
        try:
            return LiveEvent.from_json(d)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BadPayload("not a live event") from None

    def _piece(self, msg: dict) -> str | None:
        set_id, i, n, data = msg.get("f"), msg.get("i"), msg.get("n"), msg.get("d")
        if not (isinstance(set_id, str) and isinstance(i, int) and isinstance(n, int) and isinstance(data, str)
                and 0 <= i < n <= 10_000):
            raise BadPayload("not a piece of an event")
        now = time.monotonic()
        for key, (seen, _, _) in list(self._pieces.items()):
            if now - seen > PIECES_TTL_S:
                del self._pieces[key]
                self._bad("an event's pieces did not all come")
        key = (msg["r"], set_id)
        if key not in self._pieces and len(self._pieces) >= PIECES_MAX:
            raise BadPayload("too many events in pieces at once")
        seen, count, parts = self._pieces.setdefault(key, (now, n, {}))
        if count != n:
            del self._pieces[key]
            raise BadPayload("pieces of one event disagree on their count")
        parts[i] = data
        if len(parts) < n:
            return None
        del self._pieces[key]
        try:
            return base64.b64decode("".join(parts[k] for k in range(n)), validate=True).decode()
        except ValueError:
            raise BadPayload("an event's pieces are not base64 of UTF-8") from None

    def _bad(self, reason: str) -> None:
        self.bad += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= BAD_LOG_EVERY_S:
            more = f" ({self._bad_unlogged} more since the last such message)" if self._bad_unlogged else ""
            log.warning("studies: ignored a live relay payload on channel %s: %s%s", self.channel, reason, more)
            self._bad_logged_at, self._bad_unlogged = now, 0
        else:
            self._bad_unlogged += 1


def _json_safe(event: LiveEvent) -> bool:
    try:
        dumps(event.to_json())
        return True
    except (TypeError, ValueError):
        log.error("studies: a live %s event is not JSON-safe; not sent to the other replicas", event.kind)
        return False


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        raise BadPayload("an event's pieces are not JSON") from None


__all__ = ["CHANNEL", "PAYLOAD_MAX", "PgRelay", "payloads"]
