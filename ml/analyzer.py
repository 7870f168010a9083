"""FrameAnalyzer: faces and their expressions in a frame, every face of it in one batch.

    analyzer = build_analyzer("default", small_faces=False)   # the one way to build one
    analyzer.analyze(bgr)                                      # -> [{"box", "label", "probs"}, ...]
    worker = analyzer.for_another_thread()                     # same model, a detector of its own

``build_analyzer`` is the factory that the live server, the upload worker and
``python -m ml.analyze`` all use: a model name (or path) and the detector settings in,
a ready analyser out.
"""

from __future__ import annotations

import numpy as np

from .classifier import EmotionClassifier
from .detector import DISTANT_FACES, FaceDetector, crop_faces, to_gray
from .labels import CLASSES


class FrameAnalyzer:
    """Detect the faces of a BGR frame and classify them in one batch.

    >>> FrameAnalyzer().analyze(bgr)
    [{"box": (x, y, w, h), "label": "happy", "probs": {"angry": 0.01, ...}}, ...]
    """

    def __init__(
        self,
        classifier: EmotionClassifier | str | None = None,
        detector: FaceDetector | None = None,
        tta: bool = False,
        max_faces: int = 16,
    ):
        if classifier is None or isinstance(classifier, str):
            classifier = EmotionClassifier.load(classifier)
        self.classifier = classifier
        self.detector = detector or FaceDetector()
        self.tta = tta
        self.max_faces = max_faces

    def for_another_thread(self) -> "FrameAnalyzer":
        """An analyser sharing this one's classifier (one model in memory) with a detector of
        its own, for use on another thread (the classifier is thread-safe, the cascade is not)."""
        return FrameAnalyzer(self.classifier, self.detector.clone(), tta=self.tta, max_faces=self.max_faces)

    def analyze(self, image: np.ndarray) -> list[dict]:
        """Faces in a uint8 BGR ``(H, W, 3)`` (or grayscale) frame, largest first."""
        return self.analyze_batch([image])[0]

    def analyze_batch(self, images) -> list[list[dict]]:
        """Several frames at once: detection per frame, one classifier batch for all their faces."""
        grays = [to_gray(img) for img in images]
        boxes = [self.detector.detect_gray(g)[: self.max_faces] for g in grays]
        crops = [crop_faces(g, b) for g, b in zip(grays, boxes) if b]
        if not crops:
            return [[] for _ in images]
        probs = self.classifier.predict(np.concatenate(crops), tta=self.tta)
        results, k = [], 0
        for frame_boxes in boxes:
            faces = []
            for box in frame_boxes:
                p = probs[k]
                k += 1
                faces.append(
                    {
                        "box": tuple(int(v) for v in box),
                        "label": CLASSES[int(np.argmax(p))],
                        "probs": {c: float(v) for c, v in zip(CLASSES, p)},
                    }
                )
            results.append(faces)
        return results


def detector_settings(small_faces: bool = False) -> dict:
    """The ``FaceDetector`` keyword arguments for a use: the live defaults, or small, distant faces."""
    return dict(DISTANT_FACES) if small_faces else {}


def build_analyzer(
    model: str | None = None, *, small_faces: bool = False, warm_up: bool = False, tta: bool = False
) -> FrameAnalyzer:
    """The analyser for a model name or ``.keras`` path (None: the shipped default) and detector
    settings. ``warm_up``: compile the classifier for every batch size now (a live server
    should not stall the first time a second face appears)."""
    analyzer = FrameAnalyzer(
        EmotionClassifier.load(model), FaceDetector(**detector_settings(small_faces)), tta=tta
    )
    if warm_up:
        analyzer.classifier.warm_up(analyzer.max_faces)
    return analyzer
