"""The model owner: one analyser per server process, and the only threads that may use it.

    service = AnalysisService(settings.model)
    service.load()                                   # ml.build_analyzer: the model is loaded once
    faces, (w, h), s = await service.analyze(frame, tracker, t)  # a live frame, on the live thread
    future = service.submit_recorded(fn)             # fn(analyzer) on the recorded-media thread

Thread rule, here and nowhere else: every live frame, from every visitor, is analysed
on one worker thread ("fer-live"), so the event loop never waits for the model; recorded
media (uploads) run on a second thread ("fer-recorded", at a lower priority) with an
analyser that shares the live one's classifier (one model in memory, thread-safe) and
has a face detector of its own (OpenCV's cascade is not thread-safe).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np


class AnalysisService:
    """``ml.FrameAnalyzer`` behind the live and the recorded-media worker threads.

    ``analyzer``: an analyser to use instead of building one (tests and benchmarks: any
    object with ``analyze(bgr, tracker, t)`` and ``analyze_batch(frames, tracker, times)``).
    ``small_faces`` is deprecated (a no-op).
    """

    def __init__(self, model: str | None = None, small_faces: bool = False, analyzer=None):
        self.model = model
        self.small_faces = small_faces
        self.analyzer = analyzer
        self._recorded_analyzer = None
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
        if self._live is None:
            self._live = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-live")
            self._recorded = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="fer-recorded", initializer=_lower_priority
            )

    def close(self) -> None:
        for executor in (self._live, self._recorded):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        self._live = self._recorded = None

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
        bgr = frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="bgr24")
        faces = self.analyzer.analyze(bgr, tracker, t)
        return faces, (int(bgr.shape[1]), int(bgr.shape[0])), time.perf_counter() - start

    async def analyze(self, frame, tracker=None, t: float | None = None) -> tuple[list[dict], tuple[int, int], float]:
        """``analyze_frame`` on the live thread."""
        if self._live is None:
            raise RuntimeError("the analysis service is not running")
        return await asyncio.get_running_loop().run_in_executor(self._live, self.analyze_frame, frame, tracker, t)

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


def _lower_priority() -> None:
    """Best effort (Linux: niceness is per thread): recorded media yields to the live camera."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
