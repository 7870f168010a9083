"""One visitor's live stream: a WebRTC peer connection whose video track is analysed in real time.

Latency never builds up: a reader task drains the browser's track as fast as frames
arrive and keeps only the newest one; the processing task analyses whichever frame is
newest when the analyser is free and drops the others. Each face's probabilities are
smoothed over a few frames and keep a stable id (``ml.FaceTracker``). Frames live
only in memory, for the time of their analysis: nothing is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

import ml

from .analysis import AnalysisService

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]


class OfferError(ValueError):
    """The browser's offer cannot be taken (malformed SDP, no video track)."""


class LiveSession:
    """Receive one browser's camera over WebRTC and send a ``result`` message per analysed frame.

    ``send`` is a coroutine function that delivers a message (a dict) to the browser;
    ``on_close`` is called once when the session has closed, whatever the reason.
    """

    def __init__(
        self,
        service: AnalysisService,
        send: Send,
        ice_servers=(),
        window: int = 5,
        on_close: Callable[["LiveSession"], None] | None = None,
    ):
        self.service = service
        self.send = send
        self.on_close = on_close
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self.pc = RTCPeerConnection(configuration=config)
        self.tracker = ml.FaceTracker(window=window)
        self.frames_received = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.closed = False
        self._tasks: set[asyncio.Task] = set()
        self._latest = None  # (frame, arrival time.monotonic()) of the newest frame not analysed yet
        self._new_frame = asyncio.Event()
        self._video_track = None
        self._track_ended = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # -- signalling ---------------------------------------------------------------------------

    async def accept_offer(self, sdp: str) -> str:
        """Take the browser's offer and return the answer's SDP; ``OfferError`` if it cannot be taken."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as e:  # aiortc raises ValueError, KeyError, ... on a malformed SDP
            detail = f": {e}" if str(e) else ""
            raise OfferError(f"malformed SDP offer ({e.__class__.__name__}{detail})") from None
        receiving = ("recvonly", "sendrecv", None)  # the direction as seen from here (None: aiortc did not say)
        transceivers = self.pc.getTransceivers()
        if not any(t.kind == "video" and getattr(t, "_offerDirection", None) in receiving for t in transceivers):
            raise OfferError("the offer has no video track: send the camera's video")
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as e:
            detail = f": {e}" if str(e) else ""
            raise OfferError(f"cannot answer this SDP offer ({e.__class__.__name__}{detail})") from None
        return self.pc.localDescription.sdp

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_track(self, track) -> None:
        if self.closed:
            return
        if track.kind == "video" and self._video_track is None:
            self._video_track = track
            self._spawn(self._read(track), "live-read")
            self._spawn(self._process(), "live-process")
        else:  # audio, or a second video track: drained and ignored, so that nothing piles up
            self._spawn(self._drain(track), "live-drain")

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if self.closed:
            return
        await self._send_quietly({"type": "state", "state": state})
        if state in ("failed", "closed"):
            if state == "failed":
                await self._send_quietly({"type": "error", "message": "the WebRTC connection failed"})
            self._spawn(self.close(), "live-close")

    # -- frames -------------------------------------------------------------------------------

    async def _read(self, track) -> None:
        """Take every frame off the track as it arrives; keep only the newest."""
        try:
            while True:
                frame = await track.recv()
                self.frames_received += 1
                if self._latest is not None:
                    self.frames_dropped += 1  # never analysed: a newer one came first
                self._latest = (frame, time.monotonic())
                self._new_frame.set()
        except MediaStreamError:
            pass
        finally:
            self._track_ended = True
            self._new_frame.set()

    @staticmethod
    async def _drain(track) -> None:
        try:
            while True:
                await track.recv()
        except MediaStreamError:
            pass

    async def _process(self) -> None:
        """Analyse the newest frame whenever the analyser is free; send each result."""
        reported = set()
        while True:
            await self._new_frame.wait()
            self._new_frame.clear()
            if self._latest is None:
                if self._track_ended:
                    break
                continue
            frame, arrival = self._latest
            self._latest = None
            stamp = getattr(frame, "time", None)  # seconds since the stream began
            try:
                faces, (width, height), seconds = await self.service.analyze(frame)
            except ValueError as e:  # a frame the analyser cannot take (e.g. too small): say so once
                if str(e) not in reported:
                    reported.add(str(e))
                    await self._send_quietly({"type": "error", "message": f"frame skipped: {e}"})
                continue
            except Exception:
                log.exception("live session: analysis failed")
                await self._send_quietly({"type": "error", "message": "the server could not analyse a frame"})
                continue
            del frame
            faces = self.tracker.update(faces)
            self.frames_processed += 1
            try:
                await self.send(self._result(faces, width, height, seconds, arrival, stamp))
            except Exception:  # the browser is gone: the session ends
                log.info("live session: cannot send results any more, closing")
                self._spawn(self.close(), "live-close")
                return
        await self._send_quietly({"type": "state", "state": "ended"})
        self._spawn(self.close(), "live-close")  # the browser stopped sending: nothing more to do

    def _result(self, faces, width, height, seconds, arrival, stamp) -> dict:
        return {
            "type": "result",
            "faces": [
                {
                    "id": int(f["id"]),
                    "box": [int(v) for v in f["box"]],
                    "label": f["label"],
                    "probs": {c: round(float(p), 4) for c, p in f["probs"].items()},
                }
                for f in faces
            ],
            "timestamp": None if stamp is None else round(float(stamp), 6),
            "width": width,
            "height": height,
            "processing_ms": round(seconds * 1000, 2),
            "latency_ms": round((time.monotonic() - arrival) * 1000, 2),
            "frames_received": self.frames_received,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "server_time": time.time(),
        }

    async def _send_quietly(self, message: dict) -> None:
        try:
            await self.send(message)
        except Exception:  # the browser is gone: nothing to tell it
            pass

    # -- teardown -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the tasks and close the peer connection; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        await self.pc.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._latest = None
        self.tracker.reset()
        log.info(
            "live stream closed: %d frames received, %d analysed, %d dropped",
            self.frames_received, self.frames_processed, self.frames_dropped,
        )
        if self.on_close is not None:
            self.on_close(self)
