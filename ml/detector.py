"""FaceDetector: OpenCV's Haar cascade, tuned for live video, and the classifier's face crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .labels import IMAGE_SIZE

CASCADE_FILE = "haarcascade_frontalface_default.xml"

# Where a Haar box sits in a FER-2013 image, measured by bench/crop_geometry.py on
# PublicTest (`python bench/crop_geometry.py --n 800`: Haar finds 581 of 800 faces):
# the 48x48 image spans the box grown by a median 0.008 of its side on each side, its
# centre 0.006 of a side below the box's. FER-2013 faces are tight Haar-like crops, so a live face is cropped to its
# Haar box (grown by CROP_MARGIN): the framing the classifier was trained on.
CROP_MARGIN = 0.01


def cascade_path() -> Path:
    """The frontal-face Haar cascade shipped with the OpenCV 4 wheels."""
    data = getattr(cv2, "data", None)
    if data is None or not hasattr(cv2, "CascadeClassifier"):
        raise RuntimeError(
            "this OpenCV build has no Haar cascades (OpenCV 5 moved them to the contrib build); "
            "install opencv-python-headless<5 as requirements.txt says"
        )
    return Path(data.haarcascades) / CASCADE_FILE


def to_gray(image: np.ndarray) -> np.ndarray:
    """Check a frame (uint8 BGR ``(H, W, 3)``, BGRA or grayscale ``(H, W)``) and return it in grayscale."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got dtype {image.dtype}")
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise ValueError(f"frame must have shape (H, W, 3) BGR or (H, W) grayscale, got {image.shape}")
    if gray.shape[0] < 16 or gray.shape[1] < 16:
        raise ValueError(f"frame of {gray.shape[1]}x{gray.shape[0]} pixels is too small (16x16 at least)")
    return gray


# Settings for small, distant faces (a class at the back of a room, seen by one camera):
# faces from about 32 pixels wide in a 640x480 frame, at about five times the default's cost.
DISTANT_FACES = {"max_side": 480, "min_face": 0.06}


class FaceDetector:
    """Frontal faces with OpenCV's Haar cascade.

    Detection runs on a copy of the frame scaled so that its longer side is at most
    ``max_side`` pixels (fast enough for live video) and the boxes are mapped back to
    the frame's own coordinates. Faces smaller than ``min_face`` of the frame's shorter
    side are not looked for: with the defaults, a face is found from 80 pixels wide in a
    640x480 frame (a person up to about 1.5 m from a laptop camera). These defaults find
    97 % of faces 80 to 200 pixels wide in JPEG-compressed 640x480 frames at 4.5 ms a
    frame, where a scale step of 1.2 on a 240-pixel copy finds 77 % (``python
    bench/detector_tradeoff.py``). For smaller, more
    distant faces (a class at the back of a room) use ``FaceDetector(**DISTANT_FACES)``
    (``max_side=480, min_face=0.06``), at about five times the cost
    (``python bench/frame_speed.py`` measures it).
    """

    def __init__(self, max_side: int = 320, min_face: float = 1 / 6, scale_factor: float = 1.2, min_neighbors: int = 5):
        path = cascade_path()
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"{path}: the Haar cascade did not load")
        self.max_side = max_side
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    @property
    def settings(self) -> dict:
        """The keyword arguments that build an identical detector."""
        return {
            "max_side": self.max_side,
            "min_face": self.min_face,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
        }

    def clone(self) -> "FaceDetector":
        """A detector with the same settings and a cascade of its own (one per thread: OpenCV's
        cascade must not be used by two threads at once)."""
        return type(self)(**self.settings)

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Faces in a uint8 BGR (or grayscale) frame, as ``(x, y, w, h)`` boxes, largest first."""
        return self.detect_gray(to_gray(image))

    def detect_gray(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        side = max(20, int(self.min_face * min(small.shape)))
        found = self.cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        boxes = [tuple(int(round(v / scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
        boxes = [(x, y, min(bw, w - x), min(bh, h - y)) for x, y, bw, bh in boxes]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop_faces(gray: np.ndarray, boxes, margin: float = CROP_MARGIN, size: int = IMAGE_SIZE) -> np.ndarray:
    """Crop each box the way FER-2013 frames a face, as uint8 ``(N, size, size)``.

    The box is grown by ``margin`` of its side on every side; parts outside the frame
    are filled by replicating the border.
    """
    out = np.empty((len(boxes), size, size), np.uint8)
    h, w = gray.shape[:2]
    for i, (x, y, bw, bh) in enumerate(boxes):
        side = max(bw, bh)
        cx, cy = x + bw / 2, y + bh / 2
        half = side * (0.5 + margin)
        x0, y0, x1, y1 = (int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
        pad = max(0, -x0, -y0, x1 - w, y1 - h)
        src = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
        crop = src[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
        out[i] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out
