"""One visitor's live stream: a WebRTC peer connection whose video track goes to a track processor.

    session = LiveSession(service, send, ice_servers=(), on_close=...)
    answer_sdp = await session.accept_offer(offer_sdp)    # OfferError if the offer cannot be taken
    await session.close()

The session answers the browser's offer, hands the first video track to a
``TrackProcessor`` (newest frame first, results sent as they come), drains any other
track, and closes itself when the connection fails or the track ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription

from . import protocol
from .inference import AnalysisService
from .track_processor import Send, TrackProcessor

log = logging.getLogger(__name__)

BROWSER_SENDS = ("sendrecv", "sendonly", None)  # an offer's video directions that bring frames here


class OfferError(ValueError):
    """The browser's offer cannot be taken (malformed SDP, no video track)."""


def check_offer(sdp: str) -> SessionDescription:
    """Parse an SDP offer; ``OfferError`` unless it sends a video track to the server."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as e:  # aiortc raises ValueError, KeyError, ... on a malformed SDP
        detail = f": {e}" if str(e) else ""
        raise OfferError(f"malformed SDP offer ({e.__class__.__name__}{detail})") from None
    if not any(m.kind == "video" and m.direction in BROWSER_SENDS for m in description.media):
        raise OfferError("the offer has no video track: send the camera's video")
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
        on_result: Callable[[dict], None] | None = None,
    ):
        self.send = send
        self.on_close = on_close
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self.pc = RTCPeerConnection(configuration=config)
        self.processor = TrackProcessor(service, send, on_end=self._end, window=window, on_result=on_result)
        self.closed = False
        self._tasks: set[asyncio.Task] = set()
        self._has_video = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # the stream's counters, as its processor keeps them
    frames_received = property(lambda self: self.processor.frames_received)
    frames_processed = property(lambda self: self.processor.frames_processed)
    frames_dropped = property(lambda self: self.processor.frames_dropped)

    async def accept_offer(self, sdp: str) -> str:
        """Take the browser's offer and return the answer's SDP; ``OfferError`` if it cannot be taken."""
        check_offer(sdp)
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

    def _end(self) -> None:
        self._spawn(self.close())

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if self.closed:
            return
        await self._send_quietly(protocol.state(state))
        if state in ("failed", "closed"):
            if state == "failed":
                await self._send_quietly(protocol.error("the WebRTC connection failed"))
            self._end()

    async def _send_quietly(self, message: dict) -> None:
        try:
            await self.send(message)
        except Exception:  # the browser is gone: nothing to tell it
            pass

    async def close(self) -> None:
        """Stop the processor and close the peer connection; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
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
            "live stream closed: %d frames received, %d analysed, %d dropped",
            self.frames_received, self.frames_processed, self.frames_dropped,
        )
        if self.on_close is not None:
            self.on_close(self)


async def _drain(track) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass
