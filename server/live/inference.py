"""The model owner: one model per server process, and the only threads that may use it.

    service = AnalysisService(settings.model, live_threads=2)
    service.load()                                   # ml.build_analyzer: the model is loaded once
    faces, (w, h), s = await service.analyze(frame, tracker, t)  # a live frame, on a live thread
    future = service.submit_recorded(fn)             # fn(analyzer) on the recorded-media thread

Thread rule, here and nowhere else: live frames, from every visitor, are analysed on the
live threads ("fer-live", one per CPU core by default), so the event loop never waits for
the model. A stream has at most one frame in analysis at a time (server/live/track_processor.py),
so its ``ml.FaceTracker`` is used by one thread at a time; the frames of many streams are
analysed side by side, one per thread. Each live thread has an analyser of its own that
shares the one classifier (one model in memory, thread-safe) and has its own face detector
(OpenCV's cascade is not thread-safe). With more than one live thread, each OpenCV and
TensorFlow op runs on one core (``one_core_per_op``): the parallelism comes from frames,
which costs less than splitting each small op between cores (``python bench/load.py``,
docs/deploy-limits.md). When frames wait for a live thread (more streams than threads
keep them busy), each stream's tracker looks for new faces less often: every other frame
when up to two frames per thread are in analysis or waiting, every third frame beyond
(``ml.FaceTracker.search_every``): the search is the dearest part of a frame, and the faces
already found are still looked for, and classified, in every frame. Frames of several
streams that wait together are taken together by one live thread (up to ``MAX_BATCH``):
detection frame by frame, then one classifier batch for all their faces (a face costs
less in a batch: ``python bench/frame_speed.py``); a frame the analyser cannot take fails
alone (a bad frame fails in ``to_gray``, before any tracker is updated).
Recorded media (uploads) run on a further thread ("fer-recorded", at a lower priority)
with an analyser of its own too.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import cv2
import numpy as np


MAX_SEARCH_EVERY = 3  # under the heaviest load, new faces are looked for every third frame
MAX_BATCH = 4  # frames of different streams analysed together by one live thread, at most


class AnalysisService:
    """``ml.FrameAnalyzer`` behind the live and the recorded-media worker threads.

    ``analyzer``: an analyser to use instead of building one (tests and benchmarks: any
    object with ``analyze(bgr, tracker, t)`` and ``analyze_batch(frames, tracker, times)``).
    ``small_faces`` is deprecated (a no-op). ``live_threads``: threads analysing live frames
    (None: one per CPU core, at most 4); an analyser without ``for_another_thread`` gets one.
    """

    def __init__(self, model: str | None = None, small_faces: bool = False, analyzer=None,
                 live_threads: int | None = None):
        self.model = model
        self.small_faces = small_faces
        self.analyzer = analyzer
        self.live_threads = live_threads or default_live_threads()
        self._recorded_analyzer = None
        self._thread = threading.local()  # each live thread's analyser
        self._claim = threading.Lock()
        self._main_claimed = False
        self._in_flight = 0  # live frames submitted and not analysed yet (event loop only)
        self._waiting: deque = deque()  # (frame, tracker, t, future) for the live threads
        self._live: ThreadPoolExecutor | None = None
        self._recorded: ThreadPoolExecutor | None = None

    @property
    def classifier(self):
        """The loaded ``ml.EmotionClassifier`` (None before ``load()``, or for an analyser without one)."""
        return getattr(self.analyzer, "classifier", None)

    @property
    def model_name(self) -> str:
        return getattr(self.classifier, "name", None) or self.model or "default"

    def load(self) -> None:
        """Blocking (a few seconds: Keras and the model): build the analyser unless one was given."""
        if self.analyzer is None:
            from ml.analyzer import build_analyzer

            self.analyzer = build_analyzer(self.model, small_faces=self.small_faces, warm_up=True)
        if not hasattr(self.analyzer, "for_another_thread"):
            self.live_threads = 1
        if self.live_threads > 1:
            one_core_per_op()
        if self._live is None:
            self._live = ThreadPoolExecutor(max_workers=self.live_threads, thread_name_prefix="fer-live")
            self._recorded = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="fer-recorded", initializer=_lower_priority
            )

    def close(self) -> None:
        for executor in (self._live, self._recorded):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        self._live = self._recorded = None
        while self._waiting:  # frames no live thread will take now
            done = self._waiting.popleft()[3]
            done.get_loop().call_soon_threadsafe(_settle, done, RuntimeError("the analysis service stopped"))

    async def lifespan(self, app):
        """``cleanup_ctx``: load before the server accepts requests, stop the threads at cleanup."""
        await asyncio.get_running_loop().run_in_executor(None, self.load)
        yield
        self.close()

    # -- live --------------------------------------------------------------------------------

    def analyze_frame(self, frame, tracker=None, t: float | None = None) -> tuple[list[dict], tuple[int, int], float]:
        """Blocking: a decoded video frame (``av.VideoFrame``) or BGR array -> faces, (w, h), seconds spent.

        ``tracker``: the stream's ``ml.FaceTracker`` (its state: the stream's faces; one per
        stream, used on the live thread only), ``t`` the frame's time in seconds. The pixels
        live only in this call: nothing is stored.
        """
        start = time.perf_counter()
        image = _picture(frame)
        faces = self._live_analyzer().analyze(image, tracker, t)
        return faces, (int(image.shape[1]), int(image.shape[0])), time.perf_counter() - start

    def _live_analyzer(self):
        """This live thread's analyser: the first thread uses the service's, the others a copy."""
        analyzer = getattr(self._thread, "analyzer", None)
        if analyzer is None:
            with self._claim:
                main, self._main_claimed = not self._main_claimed, True
            analyzer = self.analyzer if main or self.live_threads == 1 else self.analyzer.for_another_thread()
            self._thread.analyzer = analyzer
        return analyzer

    async def analyze(self, frame, tracker=None, t: float | None = None) -> tuple[list[dict], tuple[int, int], float]:
        """``analyze_frame`` on a live thread; frames of several streams that wait together
        are analysed together (``MAX_BATCH``: one classifier batch for their faces)."""
        if self._live is None:
            raise RuntimeError("the analysis service is not running")
        self._in_flight += 1
        try:
            if tracker is not None:  # the more frames wait for a live thread, the rarer the search for new faces
                tracker.search_every = min(MAX_SEARCH_EVERY, -(-self._in_flight // self.live_threads))
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            self._waiting.append((frame, tracker, t, done))
            self._live.submit(self._analyze_waiting, loop)
            return await done
        finally:
            self._in_flight -= 1

    def _analyze_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        """On a live thread: up to ``MAX_BATCH`` waiting frames (one job per frame submitted;
        a job that finds none waiting, because another took its frame, returns)."""
        batch = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._waiting.popleft())
            except IndexError:
                break
        if not batch:
            return
        try:
            outcomes = self.analyze_frames([b[:3] for b in batch])
        except Exception:  # one frame the analyser cannot take: the others still get theirs
            outcomes = []
            for frame, tracker, t, _ in batch:
                try:
                    outcomes.append(self.analyze_frame(frame, tracker, t))
                except Exception as e:
                    outcomes.append(e)
        for (*_, done), outcome in zip(batch, outcomes):
            loop.call_soon_threadsafe(_settle, done, outcome)

    def analyze_frames(self, items) -> list[tuple[list[dict], tuple[int, int], float]]:
        """Blocking: several ``(frame, tracker, t)`` of different streams -> ``analyze_frame``'s
        results, in one call of the analyser (each frame's seconds: the batch's, shared out)."""
        if len(items) == 1 or not hasattr(self.analyzer, "analyze_frames"):
            return [self.analyze_frame(*item) for item in items]
        start = time.perf_counter()
        images = [_picture(frame) for frame, _, _ in items]
        times = [t for _, _, t in items]
        faces = self._live_analyzer().analyze_frames(images, [tracker for _, tracker, _ in items], times)
        seconds = (time.perf_counter() - start) / len(items)
        return [(f, (int(image.shape[1]), int(image.shape[0])), seconds) for f, image in zip(faces, images)]

    # -- recorded media ----------------------------------------------------------------------

    def submit_recorded(self, fn: Callable) -> Future:
        """Run ``fn(analyzer)`` on the recorded-media thread, one call at a time, in order."""
        if self._recorded is None:
            raise RuntimeError("the analysis service is not running")
        return self._recorded.submit(lambda: fn(self.recorded_analyzer()))

    def recorded_analyzer(self):
        """The recorded-media thread's analyser (built on first use; use it on that thread only)."""
        if self._recorded_analyzer is None:
            other = getattr(self.analyzer, "for_another_thread", None)
            self._recorded_analyzer = other() if other else self.analyzer
        return self._recorded_analyzer


# video's luma is 16-235 ("limited range"); pictures, and the model's training faces, 0-255
LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}


def luma(frame) -> np.ndarray:
    """A decoded video frame (``av.VideoFrame``) in grayscale, what the detector and the model
    take: the frame's own luma plane, full range, without a colour conversion. (Asking PyAV
    for ``format="gray"`` gives the same pixels, but sets up a converter for every frame: 7-10 %
    of the live threads' time with 8 streams.)"""
    if frame.format.name not in PLANAR_YUV:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    if frame.format.name.startswith("yuvj") or frame.color_range == 2:  # already full range (JPEG)
        return y.copy()
    return cv2.LUT(y, LIMITED_TO_FULL)


def _picture(frame) -> np.ndarray:
    """What the analyser takes: a BGR/grayscale array as it is, a decoded video frame's luma."""
    return frame if isinstance(frame, np.ndarray) else luma(frame)


def _settle(done: asyncio.Future, outcome) -> None:
    if done.done():  # its stream stopped waiting (closed)
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def default_live_threads() -> int:
    """One live thread per CPU core this process may use, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


def one_core_per_op() -> None:
    """Each OpenCV and TensorFlow op on the calling process runs on one core. TensorFlow reads
    its setting once, when it starts: call this before Keras is imported (``python -m server``
    does) for it to apply to the model too."""
    cv2.setNumThreads(1)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def _lower_priority() -> None:
    """Best effort (Linux: niceness is per thread): recorded media yields to the live camera."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
