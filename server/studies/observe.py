"""The researcher's live view of a study: ``GET /api/studies/{id}/live``, a WebSocket (docs/protocol.md).

    observer -> server  {"type": "note", "session": ID, "text": "..."}      stored, then an event "note"
    server -> observer  {"type": "snapshot", "study", "tasks", "sessions": [...]}   once, first
                        {"type": "event", **LiveEvent.to_json()}            every event of the study, any replica
                        {"type": "error", "message": "..."}                 a note that could not be taken

The researcher token (Bearer header or the login cookie) is checked before the upgrade (401);
an unknown study is 404. Observers get results only, never video.

Each observer has its own ``Outbox``: the hub's listeners put events in without waiting, and
one task per observer sends them. A session's newer ``result`` replaces its older one still
waiting, so a slow observer gets fewer results instead of older ones, and never slows the
streams or the other observers; one that falls behind on the rare events too (more than
``EVENTS_MAX`` waiting) or does not take a message within ``SEND_TIMEOUT_S`` is closed
(code 1013: reconnect for a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy.exc import IntegrityError

from ml.schema import utc_epoch, utc_iso

from .. import keys, strict_text
from . import store
from .auth import is_researcher, unauthorized
from .hub import LiveEvent
from ..storage.models import NOTE_MAX

log = logging.getLogger(__name__)

EVENTS_MAX = 512  # events other than results waiting for one observer
SEND_TIMEOUT_S = 10.0
MESSAGE_MAX = 64 * 1024  # bytes of one observer message (a note of NOTE_MAX characters, JSON-escaped)
RELAY_TEXT_MAX = 6000  # bytes of a note's JSON-escaped text in its event (relays may carry 8000 bytes)
CLOSE_TOO_SLOW = 1013  # "try again later"
NOTE_NOT_STORED = ("the study's database is unavailable just now: the note was not stored; "
                   "send it again in a minute")
NO_SNAPSHOT = "the study's database is unavailable just now; the live view reconnects in a moment"


class Outbox:
    """One observer's events waiting to be sent. ``put`` never blocks; a session's newest result
    replaces its older one still waiting (and moves to the end, after the events before it)."""

    def __init__(self, limit: int = EVENTS_MAX):
        self.limit = limit
        self._items: deque = deque()  # LiveEvent, or a session id whose newest result is in _results
        self._results: dict[str, LiveEvent] = {}
        self._events = 0
        self._ready = asyncio.Event()
        self.overflowed = False
        self.coalesced = 0  # results replaced before they were sent

    def put(self, event: LiveEvent) -> None:
        if event.kind == "result":
            sid = event.session_id
            if sid in self._results:
                self._items.remove(sid)
                self.coalesced += 1
            self._results[sid] = event
            self._items.append(sid)
        elif self._events >= self.limit:
            self.overflowed = True
        else:
            self._items.append(event)
            self._events += 1
        self._ready.set()

    async def take(self) -> list[LiveEvent]:
        """Everything waiting, in order, once there is something."""
        await self._ready.wait()
        self._ready.clear()
        out = []
        while self._items:
            item = self._items.popleft()
            if isinstance(item, str):
                out.append(self._results.pop(item))
            else:
                out.append(item)
                self._events -= 1
        return out


def _fitted(text: str) -> tuple[str, bool]:
    """A note's text for its event: cut (at a character) to fit a relay's message."""
    if len(json.dumps(text)) <= RELAY_TEXT_MAX:
        return text, False
    while len(json.dumps(text)) > RELAY_TEXT_MAX - 3:
        text = text[: len(text) * 9 // 10]
    return text + "…", True


def event_message(event: LiveEvent) -> dict:
    return {"type": "event", **event.to_json()}


async def snapshot(studies, study: dict) -> dict:
    """The study's sessions live now: not ended in the database, with what this replica knows
    (the newest result of its own participants)."""
    sessions = []
    for s in await store.live_sessions(studies.db, study["id"]):
        task = task_started = None
        for m in s["markers"]:
            if m["event"] == "start":
                task, task_started = m["task"], utc_epoch(m["utc"])
            elif m["task"] == task:
                task = task_started = None
        local = studies.live.get(s["id"])
        sessions.append({"id": s["id"], "started": s["started"], "task": task, "task_started": task_started,
                         "last": local.last if local is not None else None})
    return {"type": "snapshot", "study": study["id"], "tasks": study["tasks"], "sessions": sessions}


class Observer:
    """One researcher's live-view WebSocket."""

    def __init__(self, studies, study: dict, ws: web.WebSocketResponse, transport=None):
        self.studies = studies
        self.transport = transport  # the connection, cut if even the closing frame cannot be sent
        self.study = study
        self.ws = ws
        self.outbox = Outbox()
        self.clocks: dict[str, tuple[float, float]] = {}  # session -> (stream time, wall clock) of its newest result
        self._send_lock = asyncio.Lock()

    def on_event(self, event: LiveEvent) -> None:
        """The hub's listener: on the event loop, never blocks."""
        if event.kind == "result":
            stamp = event.data.get("message", {}).get("timestamp")
            if stamp is not None:
                self.clocks[event.session_id] = (float(stamp), event.at)
        elif event.kind == "ended":
            self.clocks.pop(event.session_id, None)
        self.outbox.put(event)

    async def send(self, message: dict) -> None:
        async with self._send_lock:
            await asyncio.wait_for(self.ws.send_str(json.dumps(message)), SEND_TIMEOUT_S)

    async def pump(self) -> None:
        """Sends the outbox's events until the socket closes; closes an observer that cannot keep up."""
        try:
            while not self.ws.closed and not self.outbox.overflowed:
                for event in await self.outbox.take():
                    await self.send(event_message(event))
        except (asyncio.TimeoutError, ConnectionError):
            pass
        if not self.ws.closed:
            log.info("studies: an observer fell behind; closed")
            await self.close_slow()

    async def close_slow(self) -> None:
        """Closes with 1013; cuts the connection if the closing frame did not go out within 2 s (a
        close stuck behind a full buffer is left to fail, not waited for)."""
        closing = asyncio.ensure_future(self.ws.close(code=CLOSE_TOO_SLOW, message=b"too slow: reconnect"))
        closing.add_done_callback(lambda t: t.cancelled() or t.exception())
        await asyncio.wait({closing}, timeout=2.0)
        clean = closing.done() and not closing.cancelled() and closing.exception() is None
        if self.transport is not None and (not clean or self.transport.get_write_buffer_size()):
            self.transport.abort()  # else the transport waits for its buffer to drain, forever

    async def handle(self, text: str) -> None:
        try:
            message = strict_text.loads(text, what="the message")
        except strict_text.TextError as e:  # not JSON, too deep, NUL or a lone surrogate
            return await self.error(f"not JSON that can be taken: {e}; every message is one JSON object")
        if not isinstance(message, dict) or message.get("type") != "note":
            return await self.error('unknown message: the live view takes {"type": "note", "session", "text"}')
        try:
            await self.note(message.get("session"), message.get("text"))
        except ValueError as e:
            await self.error(str(e))
        except IntegrityError:  # the session was deleted meanwhile
            await self.error("no such session in this study")
        except Exception as e:
            if not self.studies.db.health.failed(e, "storing a note"):  # an outage is logged once
                log.exception("studies: a note could not be stored")
                return await self.error("the server could not store the note; try again")
            await self.error(NOTE_NOT_STORED)

    async def error(self, text: str) -> None:
        await self.send({"type": "error", "message": text})

    async def note(self, session_id, text) -> None:
        """Stores a note on a live session of this study at the stream's time now, and tells every observer."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError('a note needs "text": a non-empty string')
        text = text.strip()
        if len(text) > NOTE_MAX:
            raise ValueError(f"the note is too long ({len(text)} characters; the limit is {NOTE_MAX})")
        if "\x00" in text:  # PostgreSQL's text cannot hold it
            raise ValueError("a note cannot contain NUL characters")
        if not isinstance(session_id, str) or len(session_id) > 64:
            raise ValueError('a note needs "session": the id of a live session of this study')
        session = await store.get_session(self.studies.db, session_id)
        if session is None or session["study_id"] != self.study["id"]:
            raise ValueError("no such session in this study")
        if session["ended"] is not None:
            raise ValueError("this session has ended: notes are taken while it is live")
        note = await store.add_note(self.studies.db, session_id, round(await self.stream_time(session_id), 3),
                                    utc_iso(time.time()), text)
        shown, cut = _fitted(text)
        data = {"id": note["id"], "text": shown, "time_s": note["time_s"], "utc": note["utc"]}
        if cut:
            data["truncated"] = True  # the stored note is whole (exports); the event carries its start
        self.studies.hub.emit(LiveEvent(self.study["id"], session_id, "note", data))

    async def stream_time(self, session_id: str) -> float:
        """Now on the session's stream clock: its participation's if it streams here, else from its
        newest result seen here (another replica's), else its newest stored result's."""
        local = self.studies.live.get(session_id)
        if local is not None:
            return local.stream_time()
        if session_id in self.clocks:
            stamp, at = self.clocks[session_id]
            return stamp + max(0.0, time.time() - at)
        return await store.last_time_s(self.studies.db, session_id) or 0.0


async def observe(request: web.Request) -> web.StreamResponse:
    studies = request.app[keys.STUDIES]
    try:  # (the researcher's token and login are in the database too)
        if not await is_researcher(request):
            return unauthorized()
        study = await store.get_study(studies.db, request.match_info["id"])
    except Exception as e:
        if not studies.db.health.failed(e, "opening a live view"):
            raise
        return web.json_response({"error": NO_SNAPSHOT}, status=503)
    if study is None:
        return web.json_response({"error": "no such study"}, status=404)
    cap = request.app[keys.SETTINGS].max_observers_per_study
    if sum(1 for o in request.app[keys.OBSERVERS] if o.study["id"] == study["id"]) >= cap:
        log.info("studies: a live view refused: the study has the most live views it takes")
        return web.json_response({"error": f"this study has {cap} live views open already, the most one study "
                                           "takes; close one first"}, status=429)
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MESSAGE_MAX)
    observer = Observer(studies, study, ws, request.transport)
    request.app[keys.OBSERVERS].add(observer)  # counted from now (no await since the count)
    unwatch = pump = None
    try:
        await ws.prepare(request)
        unwatch = studies.hub.watch(study["id"], observer.on_event)  # before the snapshot: nothing falls between
        try:
            first = await snapshot(studies, study)
        except Exception as e:
            if not studies.db.health.failed(e, "a live view's snapshot"):
                raise
            await observer.error(NO_SNAPSHOT)
            await ws.close(code=CLOSE_TOO_SLOW, message=b"database unavailable: try again")
            return ws
        await observer.send(first)
        pump = asyncio.create_task(observer.pump())
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await observer.handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await observer.error("binary messages are not taken: send JSON text")
    except (asyncio.TimeoutError, ConnectionError):
        pass  # gone or too slow: closed below
    finally:
        if unwatch is not None:
            unwatch()
        request.app[keys.OBSERVERS].discard(observer)
        if pump is not None:
            pump.cancel()
        if ws.prepared and not ws.closed:
            await ws.close()
    return ws


async def close_observers(app: web.Application) -> None:
    """At shutdown: every live view is told (1001), so that its page reconnects (to another replica)."""
    await asyncio.gather(*(o.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                           for o in list(app[keys.OBSERVERS])), return_exceptions=True)


def setup(app: web.Application) -> None:
    from .routes import ID

    app[keys.OBSERVERS] = set()
    app.router.add_get(f"/api/studies/{ID}/live", observe)
    app.on_shutdown.append(close_observers)
