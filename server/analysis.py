"""The expression analyser shared by every live connection, behind one worker thread.

The model is loaded once per server process. All frames, from all visitors, are
analysed on a single worker thread, so the analyser is never used by two threads
at once and the event loop is never blocked by it.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class AnalysisService:
    """Run ``ml.FrameAnalyzer`` on frames off the event loop.

    ``analyzer`` is an object with ``analyze(bgr) -> [{"box", "label", "probs"}]``
    (an ``ml.FrameAnalyzer``); when ``None``, ``load()`` builds one from ``model``.
    """

    def __init__(self, analyzer=None, model: str | None = None, small_faces: bool = False):
        self.analyzer = analyzer
        self.model = model
        self.small_faces = small_faces
        self._executor: ThreadPoolExecutor | None = None

    @property
    def classifier(self):
        """The loaded ``ml.EmotionClassifier`` (None before ``load()``, or for an analyser without one)."""
        return getattr(self.analyzer, "classifier", None)

    @property
    def model_name(self) -> str:
        clf = getattr(self.analyzer, "classifier", None)
        return getattr(clf, "name", None) or self.model or "default"

    def load(self) -> None:
        """Load the analyser (a few seconds: Keras and the model) unless one was given."""
        if self.analyzer is None:
            import ml

            from ml.detector import DISTANT_FACES

            detector = ml.FaceDetector(**DISTANT_FACES) if self.small_faces else None
            self.analyzer = ml.FrameAnalyzer(classifier=self.model, detector=detector)
            self.analyzer.classifier.warm_up(self.analyzer.max_faces)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-analysis")

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def analyze_frame(self, frame) -> tuple[list[dict], tuple[int, int], float]:
        """Blocking: a decoded video frame (``av.VideoFrame``) or BGR array -> faces, (w, h), seconds spent.

        The pixels live only in this call: nothing is stored.
        """
        start = time.perf_counter()
        bgr = frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="bgr24")
        faces = self.analyzer.analyze(bgr)
        return faces, (int(bgr.shape[1]), int(bgr.shape[0])), time.perf_counter() - start

    async def analyze(self, frame) -> tuple[list[dict], tuple[int, int], float]:
        """``analyze_frame`` on the worker thread."""
        if self._executor is None:
            raise RuntimeError("the analysis service is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.analyze_frame, frame)
