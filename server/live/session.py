"""One visitor's live stream: a WebRTC peer connection whose video track goes to a track processor.

    session = LiveSession(service, send, ice_servers=(), on_close=..., connect_timeout_s=15)
    answer_sdp = await session.accept_offer(offer_sdp, policy)   # OfferError if the offer cannot be taken
    await session.close()

The session answers the browser's offer, hands the first video track to a
``TrackProcessor`` (newest frame first, results sent as they come), drains any other
track, and closes itself (its slot is freed) when the connection fails, when the track
ends, when it has not reached "connected" ``connect_timeout_s`` after the offer, when no
frame came ``first_frame_timeout_s`` after it connected, or none for ``frame_timeout_s``
since the last one (a peer that connects and sends nothing holds no slot for long).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription

from . import offer_policy, protocol
from .inference import AnalysisService
from .offer_policy import OfferError, OfferPolicy
from .track_processor import Send, TrackProcessor

log = logging.getLogger(__name__)

BROWSER_SENDS = ("sendrecv", "sendonly", None)  # an offer's video directions that bring frames here

__all__ = ["LiveSession", "OfferError", "check_offer"]


def check_offer(sdp: str, policy: OfferPolicy | None = None) -> SessionDescription:
    """Parse an SDP offer; ``OfferError`` unless it sends a video track to the server and keeps
    to ``policy`` (ICE candidates, DTLS fingerprint: ``offer_policy``)."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as e:  # aiortc raises ValueError, KeyError, ... on a malformed SDP
        detail = f": {e}" if str(e) else ""
        raise OfferError(f"malformed SDP offer ({e.__class__.__name__}{detail})"[:300]) from None
    if not any(m.kind == "video" and m.direction in BROWSER_SENDS for m in description.media):
        raise OfferError("the offer has no video track: send the camera's video")
    offer_policy.check(description, policy or OfferPolicy())
    return description


class LiveSession:
    """Receive one browser's camera over WebRTC; its ``TrackProcessor`` sends a ``result`` per analysed frame.

    ``send`` is a coroutine function that delivers a message (a dict) to the browser;
    ``on_close`` is called once when the session has closed, whatever the reason;
    ``on_result`` gets each ``result`` message too (``TrackProcessor``).
    """

    def __init__(
        self,
        service: AnalysisService,
        send: Send,
        ice_servers=(),
        window: int = 5,
        on_close: Callable[["LiveSession"], None] | None = None,
        connect_timeout_s: float = 15.0,
        client: str = "",
        on_result: Callable[[dict], None] | None = None,
        first_frame_timeout_s: float = 10.0,
        frame_timeout_s: float = 10.0,
    ):
        self.send = send
        self.on_close = on_close
        self.connect_timeout_s = connect_timeout_s
        self.first_frame_timeout_s = first_frame_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self.client = client  # the client's address: per-address limits only, never logged
        self.connected = False  # reached "connected" once
        self.close_reason = "closed by the server"
        self.started = time.monotonic()
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self.pc = RTCPeerConnection(configuration=config)
        self.processor = TrackProcessor(service, send, on_end=self._end, window=window, on_result=on_result)
        self.closed = False
        self._ending = False  # close() asked for (the first reason is kept)
        self._tasks: set[asyncio.Task] = set()
        self._has_video = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # the stream's counters, as its processor keeps them
    frames_received = property(lambda self: self.processor.frames_received)
    frames_processed = property(lambda self: self.processor.frames_processed)
    frames_dropped = property(lambda self: self.processor.frames_dropped)

    async def accept_offer(self, sdp: str, policy: OfferPolicy | None = None) -> str:
        """Take the browser's offer and return the answer's SDP; ``OfferError`` if it cannot be taken.

        From now on the stream has ``connect_timeout_s`` to reach "connected"."""
        check_offer(sdp, policy)
        self._spawn(self._connect_deadline())
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as e:
            detail = f": {e}" if str(e) else ""
            raise OfferError(f"malformed SDP offer ({e.__class__.__name__}{detail})") from None
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as e:
            detail = f": {e}" if str(e) else ""
            raise OfferError(f"cannot answer this SDP offer ({e.__class__.__name__}{detail})") from None
        return self.pc.localDescription.sdp

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_track(self, track) -> None:
        if self.closed:
            return
        if track.kind == "video" and not self._has_video:
            self._has_video = True
            self.processor.start(track)
        else:  # audio, or a second video track: drained and ignored, so that nothing piles up
            self._spawn(_drain(track))

    def _end(self, reason: str = "the video track ended") -> None:
        if self.closed or self._ending:
            return
        self._ending = True
        self.close_reason = reason
        self._spawn(self.close())

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(self.connect_timeout_s)
        if self.closed or self.connected:
            return
        await self._send_quietly(protocol.error(
            f"the WebRTC connection did not come up within {self.connect_timeout_s:g} s "
            "(a firewall or NAT between the browser and the server?); the stream was closed"
        ))
        self._end(f"not connected within {self.connect_timeout_s:g} s")

    async def _frame_deadline(self) -> None:
        """Connected: the first frame within ``first_frame_timeout_s``, then never a gap of ``frame_timeout_s``."""
        connected_at = time.monotonic()
        while not self.closed:
            last = self.processor.last_frame_at
            if last is None:
                due, text = connected_at + self.first_frame_timeout_s, (
                    f"no video frame came within {self.first_frame_timeout_s:g} s of the connection "
                    "(is the camera sending?); the stream was closed")
            else:
                due, text = last + self.frame_timeout_s, (
                    f"no video frame came for {self.frame_timeout_s:g} s; the stream was closed")
            left = due - time.monotonic()
            if left <= 0:
                await self._send_quietly(protocol.error(text))
                self._end("no frames" if last is None else f"no frame for {self.frame_timeout_s:g} s")
                return
            await asyncio.sleep(left)

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if self.closed:
            return
        if state == "connected" and not self.connected:
            self.connected = True
            self._spawn(self._frame_deadline())
        await self._send_quietly(protocol.state(state))
        if state in ("failed", "closed"):
            if state == "failed":
                await self._send_quietly(protocol.error("the WebRTC connection failed"))
            self._end(f"connection {state}")

    async def _send_quietly(self, message: dict) -> None:
        try:
            await self.send(message)
        except Exception:  # the browser is gone: nothing to tell it
            pass

    async def close(self, reason: str | None = None) -> None:
        """Stop the processor and close the peer connection; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        if reason:
            self.close_reason = reason
        try:
            current = asyncio.current_task()
            tasks = [t for t in self._tasks if t is not current]
            for t in tasks:
                t.cancel()
            await self.processor.stop()
            try:
                await self.pc.close()
            except Exception:  # a half-set-up connection: closed as far as it goes, the slot is freed anyway
                log.debug("live stream: closing the peer connection failed", exc_info=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info(
                "live stream closed (%s) after %.1f s: %d frames received, %d analysed, %d dropped",
                self.close_reason, time.monotonic() - self.started,
                self.frames_received, self.frames_processed, self.frames_dropped,
            )
        finally:  # whatever failed above, the slot is freed
            if self.on_close is not None:
                self.on_close(self)


async def _drain(track) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass
