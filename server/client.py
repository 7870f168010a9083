"""A Python client for the live protocol: streams frames to the server over WebRTC, collects results.

Used by the tests and by bench/live_stream.py; it is what a browser does, in aiortc (``ObserverClient``:
the researcher's live view of a study, below)::

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect("http://localhost:8080/ws") as ws:
            client = LiveClient(ws)
            await client.start(FrameTrack([bgr_frame], fps=30))
            results = await client.wait_results(10)
            await client.close()
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time

import numpy as np
from aiohttp import WSMsgType
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame

CLOCK_RATE = 90000  # RTP's video clock
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)


class FrameTrack(VideoStreamTrack):
    """A camera made of BGR frames, played in a loop at ``fps`` (paced by the wall clock).

    ``sent`` maps each frame's pts (90 kHz, starting at 0) to the wall-clock time it was
    handed to the encoder: the server's ``timestamp`` (seconds since the stream began)
    times 90000 is that pts, which gives the end-to-end latency of a result.
    """

    def __init__(self, frames, fps: float = 30.0):
        super().__init__()
        self.frames = [VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24") for f in frames]
        self.fps = self.camera_fps = fps
        self.sent: dict[int, float] = {}
        self._index = 0
        self._start = None
        self._due = 0.0  # wall-clock time of the next frame

    def set_max_fps(self, max_fps: float) -> None:
        """The server's ``pace``: send at most ``max_fps`` frames a second (never more than the camera's)."""
        self.fps = min(self.camera_fps, max_fps)

    async def recv(self) -> VideoFrame:
        template = self.frames[self._index % len(self.frames)]
        pts = await self.next_pts()
        frame = VideoFrame.from_ndarray(template.to_ndarray(format="bgr24"), format="bgr24")
        frame.pts, frame.time_base = pts, TIME_BASE
        return frame

    async def next_pts(self) -> int:
        """Wait for the next frame's time (paced by the wall clock), note when it was sent; its pts."""
        if self._start is None:
            self._start = self._due = time.time()
        else:
            wait = self._due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        pts = round((self._due - self._start) * CLOCK_RATE)
        self.sent[pts] = time.time()
        self._index += 1
        self._due += 1 / self.fps
        return pts

    def sent_at(self, timestamp: float | None) -> float | None:
        """When the frame of a result's ``timestamp`` was sent (wall clock), None if unknown.

        RTP's 90 kHz clock rounds a tick either way, so the nearest pts within 3 ticks counts.
        """
        if timestamp is None:
            return None
        ticks = round(timestamp * CLOCK_RATE)
        for pts in (ticks, ticks + 1, ticks - 1, ticks + 2, ticks - 2, ticks + 3, ticks - 3):
            if pts in self.sent:
                return self.sent[pts]
        return None


class JsonSocket:
    """An open aiohttp client WebSocket of JSON text messages: each one to ``on_message`` as it comes."""

    def __init__(self, ws):
        self.ws = ws
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    break
                self.on_message(json.loads(msg.data))
        finally:
            self.on_close()

    def on_message(self, data: dict) -> None:
        raise NotImplementedError

    def on_close(self) -> None:
        pass

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Until the server closes the socket; its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


class LiveClient(JsonSocket):
    """Speak the /ws protocol over an open aiohttp client WebSocket."""

    def __init__(self, ws):
        self.pc: RTCPeerConnection | None = None
        self.track = None
        self.results: list[dict] = []
        self.messages: list[dict] = []
        self.arrivals: list[float] = []  # wall-clock arrival time of each result
        self._answer: asyncio.Future | None = None
        self._marked: asyncio.Future | None = None
        self._new_result = asyncio.Event()
        super().__init__(ws)

    def on_message(self, data: dict) -> None:
        self.messages.append(data)
        if data.get("type") == "pace" and self.track is not None and hasattr(self.track, "set_max_fps"):
            self.track.set_max_fps(data["max_fps"])  # as the browser page does (static/webrtc.js)
        if data.get("type") == "result":
            self.results.append(data)
            self.arrivals.append(time.time())
            self._new_result.set()
        elif data.get("type") in ("answer", "error") and self._answer is not None and not self._answer.done():
            self._answer.set_result(data)
        elif data.get("type") in ("marked", "error") and self._marked is not None and not self._marked.done():
            self._marked.set_result(data)

    async def start(self, track, timeout: float = 20.0, codec: str | None = None, **fields) -> None:
        """Offer ``track`` to the server and apply its answer; RuntimeError on an ``error`` reply.

        ``codec`` (e.g. "video/H264"): offer only that codec (a track of pre-encoded packets needs its own).
        ``fields`` go into the offer, e.g. ``study=TOKEN, consent=True`` for a study session."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = track
        sender = self.pc.addTrack(track)
        if codec is not None:
            from aiortc import RTCRtpSender

            wanted = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == codec.lower()]
            transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
            transceiver.setCodecPreferences(wanted)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._answer = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp, **fields}))
        reply = await asyncio.wait_for(self._answer, timeout)
        if reply["type"] == "error":
            raise RuntimeError(f"server refused the offer: {reply['message']}")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def mark(self, task, event: str, timeout: float = 10.0) -> dict:
        """Send a study task marker; the server's reply (``marked``, or ``error``)."""
        self._marked = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"type": "marker", "task": task, "event": event}))
        return await asyncio.wait_for(self._marked, timeout)

    async def wait_results(self, n: int, timeout: float = 30.0) -> list[dict]:
        """Wait until at least ``n`` results have come; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while len(self.results) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.results)} results in {timeout} s, expected {n}")
            self._new_result.clear()
            try:
                await asyncio.wait_for(self._new_result.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self.results

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await super().close()


class ObserverClient(JsonSocket):
    """The researcher's live view of a study (``/api/studies/{id}/live``, docs/protocol.md), for tests and bench::

        ws = await http.ws_connect(f"{base}/api/studies/{study}/live", headers={"Authorization": f"Bearer {token}"})
        observer = ObserverClient(ws)
        snapshot = await observer.snapshot()
        event = await observer.wait_event(lambda e: e["kind"] == "result")
        await observer.note(session_id, "looked away")
    """

    def __init__(self, ws):
        self.events: list[dict] = []  # every ``event`` message, in order
        self.errors: list[str] = []
        self.arrivals: list[float] = []  # wall-clock arrival time of each event
        self._snapshot: asyncio.Future = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        super().__init__(ws)

    def on_message(self, data: dict) -> None:
        if data["type"] == "snapshot" and not self._snapshot.done():
            self._snapshot.set_result(data)
        elif data["type"] == "event":
            self.events.append(data)
            self.arrivals.append(time.time())
        elif data["type"] == "error":
            self.errors.append(data["message"])
        self._changed.set()

    def on_close(self) -> None:
        self._changed.set()

    async def snapshot(self, timeout: float = 10.0) -> dict:
        return await asyncio.wait_for(asyncio.shield(self._snapshot), timeout)

    async def _wait(self, found, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value is not None:
                return value
            if self._reader.done():
                raise ConnectionError("the live view closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing matching came")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_event(self, match, timeout: float = 30.0, start: int = 0) -> dict:
        """The first event (from index ``start``) for which ``match(event)`` is true."""
        return await self._wait(lambda: next((e for e in self.events[start:] if match(e)), None), timeout)

    async def wait_error(self, after: int, timeout: float = 10.0) -> str:
        """The first error message after the first ``after`` ones."""
        return await self._wait(lambda: self.errors[after] if len(self.errors) > after else None, timeout)

    async def note(self, session: str, text: str) -> None:
        await self.ws.send_str(json.dumps({"type": "note", "session": session, "text": text}))
