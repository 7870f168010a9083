"""The ``/ws`` WebSocket handler: one ``Connection`` per browser, carrying WebRTC signalling and results.

Messages are parsed and built by ``protocol`` (docs/protocol.md). Anything the server
cannot take gets an ``error`` message and the connection stays usable; a message over
``protocol.HARD_MESSAGE_LIMIT`` closes the WebSocket (code 1009). When the WebSocket
closes, for whatever reason, its live session is closed too.

An offer with ``"study"`` (and ``"consent": true``) makes the connection a participant's
visit: one study session (``studies.Participation``) whose results are stored and which
takes ``marker`` messages.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from . import keys, protocol
from .live_session import LiveSession, OfferError
from .studies import Participation, StudyError

log = logging.getLogger(__name__)


class Connection:
    """One browser's WebSocket and its (at most one) live session."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse):
        self.app = app
        self.ws = ws
        self.session: LiveSession | None = None
        self.participation: Participation | None = None  # a study session, after an offer with "study"
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        if self.ws.closed:
            raise ConnectionResetError("the WebSocket is closed")
        async with self._send_lock:
            await self.ws.send_str(protocol.encode(message))

    async def error(self, text: str) -> None:
        await self.send(protocol.error(text))

    async def handle(self, text: str) -> None:
        try:
            message = protocol.parse(text)
        except protocol.ProtocolError as e:
            await self.error(str(e))
            return
        kind = message["type"]
        if kind == "ping":
            await self.send(protocol.pong(message.get("t")))
        elif kind == "stop":
            await self.stop()
            await self.send(protocol.stopped())
        elif kind == "offer":
            await self.offer(message["sdp"], message.get("study"))
        elif kind == "marker":
            await self.marker(message["task"], message["event"])

    async def offer(self, sdp: str, study: str | None = None) -> None:
        await self.stop()  # a new offer replaces the stream this browser had
        sessions = self.app[keys.LIVE_SESSIONS]
        limit = self.app[keys.SETTINGS].max_streams
        if len(sessions) >= limit:
            await self.error(f"the server is busy ({limit} live streams already); try again later")
            return
        on_result = None
        if study is not None:
            previous = self.participation
            try:
                self.participation = await self.app[keys.STUDIES].join(study, previous)
            except StudyError as e:
                await self.error(str(e))
                return
            if previous is not None and previous is not self.participation:  # another study: that visit ends
                await previous.end()
            p = self.participation
            on_result = p.on_result
            await self.send(protocol.session(p.session_id, p.study["title"], p.study["tasks"], p.study["feedback"]))
        session = LiveSession(
            self.app[keys.ANALYSIS],
            self.send,
            ice_servers=self.app[keys.SETTINGS].ice_servers,
            on_close=self._session_closed,
            on_result=on_result,
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
        await self.send(protocol.answer(answer))

    async def marker(self, task: int, event: str) -> None:
        if self.participation is None:
            await self.error('markers belong to a study session: send an offer with "study" and "consent" first')
            return
        try:
            marker = await self.participation.mark(task, event)
        except StudyError as e:
            await self.error(str(e))
            return
        await self.send(protocol.marked(marker["task"], marker["event"], marker["time_s"]))

    def _session_closed(self, session: LiveSession) -> None:
        self.app[keys.LIVE_SESSIONS].discard(session)
        if self.session is session:
            self.session = None

    async def stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        await self.stop()
        participation, self.participation = self.participation, None
        if participation is not None:
            await participation.end()
        if not self.ws.closed:
            await self.ws.close(code=code, message=message)


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(max_msg_size=protocol.HARD_MESSAGE_LIMIT, heartbeat=20.0)
    await ws.prepare(request)
    conn = Connection(app, ws)
    app[keys.CONNECTIONS].add(conn)
    try:
        await conn.send(protocol.hello(app[keys.ANALYSIS].model_name))
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
        app[keys.CONNECTIONS].discard(conn)
        await asyncio.shield(conn.close())
    return ws
