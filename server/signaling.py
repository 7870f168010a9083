"""The ``/ws`` WebSocket: WebRTC signalling and results, as JSON messages (docs/protocol.md).

Browser -> server: ``offer`` (start streaming), ``stop``, ``ping``.
Server -> browser: ``hello``, ``answer``, ``state``, ``result``, ``stopped``, ``pong``, ``error``.
Anything the server cannot take gets an ``error`` message and the connection stays
usable; a message over ``HARD_MESSAGE_LIMIT`` closes the WebSocket (code 1009).
When the WebSocket closes, for whatever reason, its live session is closed too.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import WSMsgType, web

import ml

from .live import LiveSession, OfferError

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 64 * 1024  # larger text messages get an error (an SDP offer is a few kB)
HARD_MESSAGE_LIMIT = 1024 * 1024  # larger frames close the WebSocket: aiohttp does not even read them
MESSAGE_TYPES = ("offer", "stop", "ping")


class ProtocolError(ValueError):
    """A message the server cannot take; its text goes back to the browser."""


def parse_message(text: str) -> dict:
    """Check one text message: a JSON object with a known ``type``."""
    if len(text) > MESSAGE_LIMIT:
        raise ProtocolError(f"message too large ({len(text)} characters; the limit is {MESSAGE_LIMIT})")
    try:
        message = json.loads(text)
    except ValueError as e:
        raise ProtocolError(f"invalid JSON ({e})") from None
    if not isinstance(message, dict):
        raise ProtocolError('a message must be a JSON object with a "type", e.g. {"type": "offer", "sdp": "..."}')
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('a message must have a string "type" (offer, stop or ping)')
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind[:40]!r} (expected offer, stop or ping)")
    if kind == "offer":
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError('an offer needs its SDP as a non-empty string in "sdp"')
        if not sdp.lstrip().startswith("v=0"):
            raise ProtocolError('malformed SDP offer: an SDP starts with "v=0"')
    return message


class Connection:
    """One browser's WebSocket and its (at most one) live session."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse):
        self.app = app
        self.ws = ws
        self.session: LiveSession | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        if self.ws.closed:
            raise ConnectionResetError("the WebSocket is closed")
        async with self._send_lock:
            await self.ws.send_str(json.dumps(message))

    async def error(self, text: str) -> None:
        await self.send({"type": "error", "message": text})

    async def handle(self, text: str) -> None:
        try:
            message = parse_message(text)
        except ProtocolError as e:
            await self.error(str(e))
            return
        kind = message["type"]
        if kind == "ping":
            await self.send({"type": "pong", "t": message.get("t")})
        elif kind == "stop":
            await self.stop()
            await self.send({"type": "stopped"})
        elif kind == "offer":
            await self.offer(message["sdp"])

    async def offer(self, sdp: str) -> None:
        await self.stop()  # a new offer replaces the stream this browser had
        sessions = self.app["live_sessions"]
        limit = self.app["max_streams"]
        if len(sessions) >= limit:
            await self.error(f"the server is busy ({limit} live streams already); try again later")
            return
        session = LiveSession(
            self.app["analysis"],
            self.send,
            ice_servers=self.app["ice_servers"],
            on_close=self._session_closed,
        )
        sessions.add(session)
        self.session = session
        try:
            answer = await session.accept_offer(sdp)
        except OfferError as e:
            await self.stop()
            await self.error(str(e))
            return
        if session.closed:  # stopped or replaced while the answer was made
            return
        await self.send({"type": "answer", "sdp": answer})

    def _session_closed(self, session: LiveSession) -> None:
        self.app["live_sessions"].discard(session)
        if self.session is session:
            self.session = None

    async def stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        await self.stop()
        if not self.ws.closed:
            await self.ws.close(code=code, message=message)


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(max_msg_size=HARD_MESSAGE_LIMIT, heartbeat=20.0)
    await ws.prepare(request)
    conn = Connection(app, ws)
    app["connections"].add(conn)
    try:
        await conn.send(
            {
                "type": "hello",
                "classes": list(ml.CLASSES),
                "emoji": dict(ml.EMOJI),
                "model": app["analysis"].model_name,
            }
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await conn.handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await conn.error("binary messages are not part of the protocol: send JSON text")
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket closed with an error: %s", ws.exception())
                break
    except ConnectionResetError:
        pass
    finally:
        app["connections"].discard(conn)
        await asyncio.shield(conn.close())
    return ws
