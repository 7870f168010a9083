"""Facial expression recognition on FER-2013: training, evaluation and inference.

    import ml
    ml.CLASSES                                  # the seven classes, in FER-2013's order
    ml.COLORS, ml.EMOJI                         # each class's colour (page, videos, plots) and emoji
    clf = ml.EmotionClassifier.load()           # the shipped default model
    probs = clf.predict(faces)                  # uint8 (N, H, W) crops -> float (N, 7)
    boxes = ml.FaceDetector().detect(bgr)       # uint8 (H, W, 3) -> [(x, y, w, h), ...]
    analyzer = ml.build_analyzer("default")     # the factory the server and the CLIs use
    faces = analyzer.analyze(bgr)               # a still image -> [{"box", "label", "probs"}, ...]
    tracker = ml.FaceTracker()                  # one per stream (camera, video)
    faces = analyzer.analyze(bgr, tracker, t)   # a video frame: confirmed faces + "id", "source" ("detected"/"held")

Layout: this package's top holds inference (``labels``, ``registry``, ``classifier``,
``detector``, ``analyzer``, ``tracking``, ``shots``, ``schema``); ``ml.training`` trains and evaluates
the CNNs on FER-2013; ``ml.recorded`` analyses recorded videos and images. The command
lines ``python -m ml.train``, ``ml.evaluate``, ``ml.recalibrate`` and ``ml.analyze`` are
thin entry points into those subpackages.

Keras (and its backend) is imported only when a classifier is used.
"""

from .labels import CLASSES, COLORS, EMOJI, IMAGE_SIZE

__all__ = [
    "CLASSES",
    "COLORS",
    "EMOJI",
    "IMAGE_SIZE",
    "EmotionClassifier",
    "FaceDetector",
    "FaceTracker",
    "FrameAnalyzer",
    "available_models",
    "build_analyzer",
    "crop_faces",
]

_LAZY = {
    "EmotionClassifier": "classifier",
    "available_models": "registry",
    "build_analyzer": "analyzer",
    "FaceDetector": "detector",
    "crop_faces": "detector",
    "FrameAnalyzer": "analyzer",
    "FaceTracker": "tracking",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ml' has no attribute {name!r}")
