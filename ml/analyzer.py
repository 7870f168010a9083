"""FrameAnalyzer: faces and their expressions in a frame, every face of it in one batch.

    analyzer = build_analyzer("default")                  # the one way to build one
    analyzer.analyze(bgr)                                 # a still image -> [{"box", "label", "probs", "brightness"}, ...]
    tracker = ml.FaceTracker()                            # one per stream (camera, video)
    analyzer.analyze(bgr, tracker, t)                     # a video frame -> + "id", "source" (ml.tracking)
    analyzer.track_frames(frames, tracker, times)         # recorded media: every face found, for ml.recorded.hindsight
    analyzer.analyze_frames(frames, trackers, times)      # frames of several streams, one classifier batch
    worker = analyzer.for_another_thread()                # same model, a detector of its own

``build_analyzer`` is the factory that the live server, the upload worker and
``python -m ml.analyze`` all use: a model name (or path) and the detector settings in,
a ready analyser out.
"""

from __future__ import annotations

import numpy as np

from .classifier import EmotionClassifier
from .detector import DISTANT_FACES, FaceDetector, crop_faces, to_gray
from .labels import CLASSES
from .tracking import FaceTracker


class FrameAnalyzer:
    """Detect the faces of a BGR frame and classify them in one batch.

    >>> FrameAnalyzer().analyze(bgr)
    [{"box": (x, y, w, h), "label": "happy", "probs": {"angry": 0.01, ...}, "brightness": 142.3}, ...]

    ``brightness``: the face box's mean luma, 0-255 (``face_brightness``: a backlit face is dark);
    a held face (``source`` "held": not found in this frame) has none.
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

    def analyze(self, image: np.ndarray, tracker: FaceTracker | None = None, t: float | None = None) -> list[dict]:
        """Faces in a uint8 BGR ``(H, W, 3)`` (or grayscale) frame, largest first.

        Without ``tracker``: a still image, every face found by the full scan. With the
        stream's ``ml.FaceTracker``: a frame of a video (``t``: its time in seconds), its
        tracked faces, each with ``id`` and ``source`` ("detected" or "held", and ``held``; see ``ml.tracking``).
        """
        return self.analyze_batch([image], tracker, None if t is None else [t])[0]

    def analyze_batch(self, images, tracker: FaceTracker | None = None, times=None) -> list[list[dict]]:
        """Several frames of one video at once: detection per frame (in order, through
        ``tracker`` when given), one classifier batch for all the faces to report."""
        return self.analyze_frames(images, [tracker] * len(images), times)

    def analyze_frames(self, images, trackers, times=None) -> list[list[dict]]:
        """Frames of several streams at once, each with its own tracker (or None: a still
        image): detection per frame, then one classifier batch for the faces of them all
        (``python bench/frame_speed.py``: 2.2 ms a face in a batch of 8, 3.9 ms for one face)."""
        grays = [to_gray(img) for img in images]
        found = []
        for k, (g, tracker) in enumerate(zip(grays, trackers)):
            if tracker is None:
                found.append(self.detector.detect_gray(g)[: self.max_faces])
            else:
                boxes = tracker.detect(g, self.detector)[: self.max_faces]
                found.append(tracker.observe(boxes, None if times is None else times[k]))
        probs = self._classify(grays, [[getattr(b, "box", b) for b in frame if not getattr(b, "held", False)]
                                       for frame in found])
        results = []
        for g, frame, tracker, frame_probs in zip(grays, found, trackers, probs):
            frame_probs = iter(frame_probs)
            frame_probs = [None if getattr(b, "held", False) else next(frame_probs) for b in frame]
            if tracker is not None:
                faces = tracker.report(frame, frame_probs)
            else:
                faces = [
                    {
                        "box": tuple(int(v) for v in box),
                        "label": CLASSES[int(np.argmax(p))],
                        "probs": {c: float(v) for c, v in zip(CLASSES, p)},
                    }
                    for box, p in zip(frame, frame_probs)
                ]
            for face in faces:  # a held face was not found in this frame: its box's light is not the face's
                if not face.get("held"):
                    face["brightness"] = face_brightness(g, face["box"])
            results.append(faces)
        return results

    def track_frames(self, images, tracker: FaceTracker, times=None) -> list[list[tuple]]:
        """Frames of one recorded video, for tracking with hindsight (``ml.recorded.hindsight``):
        per frame, every face the tracker found in it, tentative ones too, as ``(sighting, probs)``
        (``ml.tracking.Sighting``: its track and box; ``probs``: the classifier's 7 probabilities
        for that frame, not smoothed). One classifier batch for all the frames' faces."""
        grays = [to_gray(img) for img in images]
        found = []
        for k, g in enumerate(grays):
            boxes = tracker.detect(g, self.detector)[: self.max_faces]
            tracker.observe(boxes, None if times is None else times[k])
            found.append(tracker.detections)
        probs = self._classify(grays, [[s.box for s in frame] for frame in found])
        return [list(zip(frame, p)) for frame, p in zip(found, probs)]

    def _classify(self, grays, boxes) -> list[list[np.ndarray]]:
        """``boxes[k]``: boxes in ``grays[k]`` -> their probabilities, per frame, in one classifier batch."""
        crops = [crop_faces(g, b) for g, b in zip(grays, boxes) if b]
        probs = iter(self.classifier.predict(np.concatenate(crops), tta=self.tta) if crops else [])
        return [[next(probs) for _ in b] for b in boxes]


def face_brightness(gray: np.ndarray, box) -> float:
    """The mean luma (0-255) of a face's box in the frame's grayscale picture: how well the face is lit
    (a face against a bright window is dark). 0 for a box outside the picture."""
    x, y, w, h = (int(v) for v in box)
    patch = gray[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    return round(float(patch.mean()), 1) if patch.size else 0.0


def detector_settings(small_faces: bool = False) -> dict:
    """The ``FaceDetector`` keyword arguments. ``small_faces`` is deprecated and changes nothing:
    every detector finds faces from about 40 pixels wide in 640x480."""
    return dict(DISTANT_FACES)


def build_analyzer(
    model: str | None = None, *, small_faces: bool = False, warm_up: bool = False, tta: bool = False
) -> FrameAnalyzer:
    """The analyser for a model name or ``.keras`` path (None: the shipped default).
    ``small_faces`` is deprecated (a no-op: faces from 40 px are found by default). ``warm_up``: compile the classifier for every batch size now (a live server
    should not stall the first time a second face appears)."""
    analyzer = FrameAnalyzer(EmotionClassifier.load(model), FaceDetector(**detector_settings(small_faces)), tta=tta)
    if warm_up:
        analyzer.classifier.warm_up(analyzer.max_faces)
    return analyzer
