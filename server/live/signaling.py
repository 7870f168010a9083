"""The ``/ws`` WebSocket handler: one ``Connection`` per browser, carrying WebRTC signalling and results.

Messages are parsed and built by ``protocol`` (docs/protocol.md). Anything the server
cannot take gets an ``error`` message and the connection stays usable; a message over
``protocol.HARD_MESSAGE_LIMIT`` closes the WebSocket (code 1009). When the WebSocket
closes, for whatever reason, its live session is closed too.

Limits (``Settings``): open WebSockets overall and per client address (refused with 503
or 429 before the upgrade), streams still connecting per client address, live streams
overall and per client address (``max_streams_per_client``: peers from one address
cannot take every slot); a stream not connected within ``connect_timeout_s``, or without
frames (``first_frame_timeout_s``, ``frame_timeout_s``), frees its slot (``LiveSession``).
What an offer may contain: ``offer_policy``.

An offer with ``"study"`` (and ``"consent": true``) makes the connection a participant's
visit: one study session (``studies.Participation``) whose results are stored and which
takes ``marker`` messages.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from .. import keys
from . import protocol
from .client_limits import client_address
from .session import LiveSession, OfferError
from ..memory import collect_soon
from .offer_policy import OfferPolicy
from ..studies import Participation, StudyError

log = logging.getLogger(__name__)


class Connection:
    """One browser's WebSocket and its (at most one) live session."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse, client: str = ""):
        self.app = app
        self.ws = ws
        self.client = client  # the client's address: per-address limits only, never logged
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
            await self.stop("stopped by the browser")
            await self.send(protocol.stopped())
        elif kind == "offer":
            await self.offer(message["sdp"], message.get("study"))
        elif kind == "marker":
            await self.marker(message["task"], message["event"])

    def _refusal(self, settings) -> str | None:
        """Why a new stream cannot start now (the limits), or None. Checked again, with no await
        before the stream is counted, so that parallel offers cannot slip past the limits."""
        sessions = self.app[keys.LIVE_SESSIONS]
        if len(sessions) >= settings.max_streams:
            log.info("offer refused: all %d live streams are taken", settings.max_streams)
            return f"the server is busy ({settings.max_streams} live streams already); try again later"
        mine = [s for s in sessions if s.client == self.client]
        if len(mine) >= settings.streams_per_client:
            log.info("offer refused: all %d streams one address may have are taken", settings.streams_per_client)
            return (
                f"your address has {len(mine)} live streams already, as many as one address may have "
                f"(of {settings.max_streams} on this server); stop one first"
            )
        connecting = sum(1 for s in mine if not s.connected)
        if connecting >= settings.max_pending_offers_per_client:
            log.info("offer refused: too many streams still connecting from one address")
            return (
                f"too many streams from your address are still connecting ({connecting}); "
                "wait for them to connect or to time out"
            )
        return None

    async def offer(self, sdp: str, study: str | None = None) -> None:
        await self.stop("replaced by a new offer")  # a new offer replaces the stream this browser had
        settings = self.app[keys.SETTINGS]
        sessions = self.app[keys.LIVE_SESSIONS]
        if study is None and "live" not in settings.features:
            await self.error("live analysis is switched off on this server: only a study's participants stream here")
            return
        refusal = self._refusal(settings)
        if refusal:
            await self.error(refusal)
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
            p.on_close = lambda: asyncio.ensure_future(self._withdrawn())
            on_result = p.on_result
            await self.send(protocol.session(p.session_id, p.study["title"], p.study["tasks"], p.study["feedback"]))
            refusal = self._refusal(settings)  # the awaits above let other offers in
            if refusal:
                await self.error(refusal)
                return
        session = LiveSession(
            self.app[keys.ANALYSIS],
            self.send,
            ice_servers=settings.ice_servers,
            on_close=self._session_closed,
            connect_timeout_s=settings.connect_timeout_s,
            client=self.client,
            on_result=on_result,
            first_frame_timeout_s=settings.first_frame_timeout_s,
            frame_timeout_s=settings.frame_timeout_s,
        )
        sessions.add(session)
        self.session = session
        try:
            answer = await session.accept_offer(sdp, OfferPolicy.from_settings(settings))
        except OfferError as e:
            await self.stop(f"offer refused: {e}")
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
        await self.send(protocol.marked(marker["task"], marker["event"], marker["time_s"], marker.get("stored", True)))

    async def _withdrawn(self) -> None:
        """The study session was withdrawn or deleted: its stream stops (the page is told)."""
        if self.session is None:
            return
        await self.stop("the study session was withdrawn")
        try:
            await self.send(protocol.stopped())
        except ConnectionResetError:
            pass

    def _session_closed(self, session: LiveSession) -> None:
        self.app[keys.LIVE_SESSIONS].discard(session)
        if self.session is session:
            self.session = None
        collect_soon()  # its peer connection's cycles: server/memory.py

    async def stop(self, reason: str | None = None) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close(reason)

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        await self.stop("the page's WebSocket closed")
        participation, self.participation = self.participation, None
        if participation is not None:
            await participation.end()
        if not self.ws.closed:
            await self.ws.close(code=code, message=message)


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    app = request.app
    client = client_address(request)
    sockets = app[keys.WEBSOCKETS]
    refusal = sockets.acquire(client)
    if refusal is not None:
        log.info("websocket refused (%s): %s", refusal.status, "overall limit" if refusal.status == 503 else "per-address limit")
        return web.json_response({"error": refusal.text}, status=refusal.status)
    try:
        ws = web.WebSocketResponse(max_msg_size=protocol.HARD_MESSAGE_LIMIT, heartbeat=20.0)
        await ws.prepare(request)
        conn = Connection(app, ws, client)
        app[keys.CONNECTIONS].add(conn)
        try:
            await conn.send(protocol.hello(app[keys.ANALYSIS].model_name))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        await conn.handle(msg.data)
                    except (ConnectionResetError, asyncio.CancelledError):
                        raise
                    except Exception:  # a bug: said, logged; the connection and the server go on
                        log.exception("live: a message could not be handled")
                        await conn.error("the server failed on this message (the error is in its log)")
                    # one message, then the others' turn: a flood of messages on one socket (they arrive
                    # parsed by the thousand, and answering one need not wait) cannot hold the event loop
                    await asyncio.sleep(0)
                elif msg.type == WSMsgType.BINARY:
                    await conn.error("binary messages are not part of the protocol: send JSON text")
                elif msg.type == WSMsgType.ERROR:
                    log.debug("websocket closed with an error: %s", ws.exception())
                    break
        except ConnectionResetError:
            pass
        finally:
            app[keys.CONNECTIONS].discard(conn)
            await asyncio.shield(conn.close())
        return ws
    finally:
        sockets.release(client)
