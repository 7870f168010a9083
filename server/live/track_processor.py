"""The track processor: analyse a live video track in real time, newest frame first.

Latency never builds up: a reader task drains the track as fast as frames arrive and
keeps only the newest one; the processing task analyses whichever frame is newest when
the analyser is free and drops the others. A dropped frame still cost its decoding, so
when more than a fifth are dropped the client is asked to send fewer (a ``pace`` message:
about the rate analysed), and, once it keeps up, more again. The stream has its own ``ml.FaceTracker`` (the
state of this stream's faces, used on the live thread only): faces are looked for where
they were, new ones are reported once confirmed, briefly missed ones are held. Frames live
only in memory, for the time of their analysis: nothing is stored. A picture over the
server's size limit (``frame_size``: never decoded) ends the stream with an ``error``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Awaitable, Callable

from aiortc.mediastreams import MediaStreamError

import ml

from . import frame_size, protocol
from .inference import AnalysisService

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]

PACE_WINDOW_S = 2.0  # how often the rates are compared
PACE_MIN_FPS = 10  # never ask for less (a stream slower than this is not paced)
PACE_MAX_FPS = 30  # a browser camera's usual rate: "as fast as your camera"
PACE_STEP_UP = 5  # frames a second more, each window the client keeps up
PACE_DOWN_BELOW = 0.8  # analysed / received under this: the client is asked to send less
PACE_HEADROOM = 1.25  # ... this many times the rate analysed
PACE_UP_FROM = 0.9  # analysed / received from this: the client may send more again


class TrackProcessor:
    """Reads one video track and sends a ``result`` message per analysed frame through ``send``.

    ``start(track)`` spawns its two tasks; ``stop()`` cancels them. When the track ends
    ``on_end()`` is called once (the caller closes the stream). If ``send`` fails (the
    browser is gone), or a picture is over the size limit, ``on_end(reason)`` is called too.
    ``last_frame_at`` (``time.monotonic()``, None before the first) is when the newest frame came. ``on_result(message)``, if given, gets
    each ``result`` message first (a study session stores it); it must not block.
    """

    def __init__(self, service: AnalysisService, send: Send, on_end: Callable[..., None], window: int = 5,
                 on_result: Callable[[dict], None] | None = None):
        self.service = service
        self.send = send
        self.on_end = on_end
        self.on_result = on_result
        self.tracker = ml.FaceTracker(window=window)
        self.frames_received = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.last_frame_at: float | None = None
        self.max_fps: int | None = None  # the pace asked of the client (None: as fast as its camera)
        self._pace_from = (time.monotonic(), 0, 0)  # start of the pace window: time, frames received, processed
        self._latest = None  # (frame, index, arrival time.monotonic(), arrival time.time()) not analysed yet
        self._new_frame = asyncio.Event()
        self._track_ended = False
        self._tasks: list[asyncio.Task] = []

    def start(self, track) -> None:
        self._tasks = [
            asyncio.ensure_future(self._read(track)),
            asyncio.ensure_future(self._process()),
        ]

    async def stop(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._latest = None
        # a new tracker, not a reset: an analysis still running on the live thread keeps the old one
        self.tracker = ml.FaceTracker(window=self.tracker.window)

    async def _read(self, track) -> None:
        """Take every frame off the track as it arrives; keep only the newest."""
        try:
            while True:
                frame = await track.recv()
                self.last_frame_at = time.monotonic()
                size = frame_size.too_large(frame)
                if size is not None:
                    await self._too_large(*size)
                    return
                if self._latest is not None:
                    self.frames_dropped += 1  # never analysed: a newer one came first
                self._latest = (frame, self.frames_received, time.monotonic(), time.time())
                self.frames_received += 1
                self._new_frame.set()
        except MediaStreamError:
            pass
        finally:
            self._track_ended = True
            self._new_frame.set()

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
            frame, index, arrival, arrival_utc = self._latest
            self._latest = None
            stamp = getattr(frame, "time", None)  # seconds since the stream began
            try:
                faces, (width, height), seconds = await self.service.analyze(
                    frame, self.tracker, stamp if stamp is not None else arrival
                )
            except ValueError as e:  # a frame the analyser cannot take (e.g. too small): say so once
                if str(e) not in reported:
                    reported.add(str(e))
                    await self._send_quietly(protocol.error(f"frame skipped: {e}"))
                continue
            except Exception:
                log.exception("live stream: analysis failed")
                await self._send_quietly(protocol.error("the server could not analyse a frame"))
                continue
            del frame
            self.frames_processed += 1
            message = protocol.result(
                faces,
                frame=index,
                timestamp=stamp,
                received_utc=arrival_utc,
                width=width,
                height=height,
                processing_s=seconds,
                latency_s=time.monotonic() - arrival,
                frames_received=self.frames_received,
                frames_processed=self.frames_processed,
                frames_dropped=self.frames_dropped,
                server_time=time.time(),
            )
            if self.on_result is not None:
                self.on_result(message)
            paced = self._pace()
            try:
                if paced is not None:
                    await self.send(paced)
                await self.send(message)
            except Exception:  # the browser is gone: the stream ends
                log.debug("live stream: cannot send results any more")
                self.on_end()
                return
        await self._send_quietly(protocol.state("ended"))
        self.on_end()  # the browser stopped sending: nothing more to do

    async def _too_large(self, width: int, height: int) -> None:
        limit = frame_size.max_pixels()
        await self._send_quietly(protocol.error(
            f"the camera's picture is {width}x{height} pixels; this server takes at most {limit / 1e6:.1f} "
            f"megapixels (e.g. 1920x1080): the stream was closed; start again with a smaller picture"))
        self.on_end(f"pictures of {width}x{height} pixels, over the limit")

    def _pace(self) -> dict | None:
        """Every ``PACE_WINDOW_S``: a ``pace`` message when the client should send fewer frames
        (more than a fifth of them dropped: it gets 1.25 times the rate analysed) or may send
        more again (nearly all analysed: 5 a second more, up to its camera's rate)."""
        now = time.monotonic()
        since, received0, processed0 = self._pace_from
        if now - since < PACE_WINDOW_S:
            return None
        self._pace_from = (now, self.frames_received, self.frames_processed)
        received = (self.frames_received - received0) / (now - since)
        processed = (self.frames_processed - processed0) / (now - since)
        if received >= PACE_MIN_FPS and processed < PACE_DOWN_BELOW * received:
            wanted = max(PACE_MIN_FPS, min(PACE_MAX_FPS, math.ceil(PACE_HEADROOM * processed)))
        elif self.max_fps is not None and processed >= PACE_UP_FROM * received:
            wanted = self.max_fps + PACE_STEP_UP
            wanted = None if wanted >= PACE_MAX_FPS else wanted
        else:
            return None
        if wanted == self.max_fps:
            return None
        self.max_fps = wanted
        return protocol.pace(PACE_MAX_FPS if wanted is None else wanted)

    async def _send_quietly(self, message: dict) -> None:
        try:
            await self.send(message)
        except Exception:  # the browser is gone: nothing to tell it
            pass
