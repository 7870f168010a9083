"""FaceDetector: OpenCV's Haar cascade, tuned for live video, and the classifier's face crop."""

from __future__ import annotations

import math
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


# Kept for callers of the old small-face setting: every detector now finds faces from
# about 40 pixels wide in 640x480 (``--small-faces`` is a deprecated no-op).
DISTANT_FACES: dict = {}

WINDOW = 24  # the Haar cascade's own window: the smallest face it sees in the image it scans
NEAR_STEP = 1.15  # scale step of detect_near: five scales from 0.75 to 1.4 times the face (each call
# of detectMultiScale costs about 0.3 ms a scale, however small the image: few scales keep it cheap)
NEAR_SIDE = 48  # detect_near looks for a confirmed face on a copy where it is about this wide: at 32
# (the cascade's 24-px window at 0.75 of the face) a 40-50 px face was re-found in 103 of 120 frames, at 48 in 120
WIDE_SPAN = (0.75, 1.4)  # detect_near's face sizes, as a share of the box's: five scales
NARROW_SPAN = (0.85, 1.2)  # for a face seen in the previous frame: three scales
NARROW_SIDE = 40  # ... and a face seen in the previous frame, on a copy where it is about this wide: half
# the work of NEAR_SIDE (the cascade runs all its stages on the windows around a face), and as
# well followed (bench/face_tracking.py, docs/deploy-limits.md)
CANDIDATE_SIDE = 30  # a candidate is looked for as the scan saw it (a face fills the cascade's window):
# sharper copies made persistent false faces of wood grain (bench/face_tracking.py)


class FaceDetector:
    """Frontal faces with OpenCV's Haar cascade, every size from ``min_face`` up.

    ``min_face`` is a fraction of the frame's shorter side (1/14: 34 pixels in 640x480, so
    that faces from 40 pixels are found reliably).
    The frame is scanned on a copy scaled so that a ``min_face`` face fills the cascade's
    24-pixel window, then on a pyramid of smaller copies (``scale_factor`` apart) up to
    faces as tall as the frame, one octave of scales per copy (``_scan``). The scan's first
    octave (faces of ``min_face`` to twice it) asks for ``min_neighbors`` (5), the others, with a
    quarter of the windows they had in one call, for ``scan_neighbors`` (2). What it finds is a
    candidate, made a face by a second look (``check``: on a sharper copy, ``min_neighbors``; or a
    tracker's next frames: ``detect_near`` at the candidate's resolution, ``candidate_strictness``).
    Ways to look:

    - ``detect(bgr)`` / ``detect_gray(gray)``: a still image: the whole pyramid at once
      (``scan``), each candidate checked on a sharper copy (``check``);
    - ``detect_slice(gray, k)``: slice ``k`` of ``slices`` of the pyramid, cut so that the
      slices cost about the same (a tracker scans one slice per frame for new faces);
      ``detect_slice(gray, k, of=n)`` cuts the pyramid in ``n`` slices instead;
    - ``detect_near(gray, box)``: a window around a known face, at scales near its size
      (a fraction of a millisecond; a tracker re-finds its faces so every frame).

    ``python bench/face_tracking.py`` (videos) and ``python bench/still_images.py`` (photos) measure
    recall and time against ``fer``; ``--set NAME=VALUE`` tries a setting.
    """

    def __init__(
        self,
        min_face: float = 1 / 14,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        slices: int = 12,
        near_neighbors: int = 3,
        scan_neighbors: int = 2,
        candidate_neighbors: int = 3,
        octave_overlap: int = 2,
    ):
        path = cascade_path()
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"{path}: the Haar cascade did not load")
        if not 0 < min_face <= 1:
            raise ValueError("min_face must be a fraction of the frame's shorter side, in (0, 1]")
        if scale_factor <= 1 or slices < 1:
            raise ValueError("scale_factor must be above 1 and slices at least 1")
        if min(min_neighbors, near_neighbors, scan_neighbors, candidate_neighbors) < 1:
            raise ValueError("min_neighbors, near_neighbors, scan_neighbors and candidate_neighbors must be at least 1")
        self._octave = int(math.log(1.999) / math.log(scale_factor)) + 1
        if not 0 <= octave_overlap < self._octave:
            raise ValueError(f"octave_overlap must be from 0 to {self._octave - 1} (scales an octave has, less one)")
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.slices = slices
        self.near_neighbors = near_neighbors
        self.scan_neighbors = scan_neighbors
        self.candidate_neighbors = candidate_neighbors
        self.octave_overlap = octave_overlap
        self._plans: dict = {}

    @property
    def settings(self) -> dict:
        """The keyword arguments that build an identical detector."""
        return {
            "min_face": self.min_face,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "slices": self.slices,
            "near_neighbors": self.near_neighbors,
            "scan_neighbors": self.scan_neighbors,
            "candidate_neighbors": self.candidate_neighbors,
            "octave_overlap": self.octave_overlap,
        }

    def clone(self) -> "FaceDetector":
        """A detector with the same settings and a cascade of its own (one per thread: OpenCV's
        cascade must not be used by two threads at once)."""
        return type(self)(**self.settings)

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Faces in a uint8 BGR (or grayscale) frame, as ``(x, y, w, h)`` boxes, largest first."""
        return self.detect_gray(to_gray(image))

    def detect_gray(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """A still image: every candidate of the whole pyramid (``scan``), kept where the second
        look finds it again (``check``): a still has no next frame to confirm a face, so texture
        that fooled the lenient first look (the astronaut's suit, wood grain) is left out."""
        faces: list = []
        for b in self.scan(gray):  # largest first; a part of a face found (its eyes, say) is no other face
            if not any(same_face(b, f) for f in faces) and self.check(gray, b):
                faces.append(b)
        return faces

    def check(self, gray: np.ndarray, box) -> bool:
        """The second look at a candidate: found again on a sharper copy around it (``detect_near``),
        with ``min_neighbors``, where it was."""
        again = self.detect_near(gray, box, neighbors=self.min_neighbors)
        return bool(again) and iou(again[0], box) >= 0.3

    def sure(self, gray: np.ndarray, box) -> bool:
        """Unambiguous: ``check`` finds the candidate again on a sharper copy, and a look at the
        scan's own resolution as a next frame would (``detect_near``, ``confirmed=False``) too.
        (A tracker confirms such a face at once where it has no frames before: a shot cut.)"""
        if not self.check(gray, box):
            return False
        again = self.detect_near(gray, box, confirmed=False)
        return bool(again) and iou(again[0], box) >= 0.3

    def scan(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """The whole pyramid at once: candidates from ``min_face`` up, largest first."""
        scales = self._plan(gray.shape)[0]
        return self._scan(gray, scales, 0, len(scales))

    def detect_slice(self, gray: np.ndarray, k: int, of: int | None = None) -> list[tuple[int, int, int, int]]:
        """Slice ``k % n`` of the pyramid cut in ``n`` slices of about equal cost (``of``; default
        ``slices``; the slices overlap by one scale): candidates, largest first."""
        scales, cuts = self._plan(gray.shape, of or self.slices)
        first, last = cuts[k % len(cuts)]
        return self._scan(gray, scales, first, last - first + 1)

    def detect_near(
        self, gray: np.ndarray, box, confirmed: bool = True, neighbors: int | None = None, narrow: bool = False
    ) -> list[tuple[int, int, int, int]]:
        """Faces of 0.75 to 1.4 times ``box``'s size in a window of twice its size around it,
        best match for ``box`` first. A face already ``confirmed`` is looked for on a sharp copy
        with ``near_neighbors`` (fewer than a new face needs: it is known to be there); a
        candidate at the resolution the scan saw it, about as strictly (``candidate_strictness``).
        ``neighbors`` overrides the cascade's ``minNeighbors``. ``narrow``: a face found in the
        previous frame, which moves and grows little from one frame to the next: 0.85 to 1.2
        times its size, in a window of 1.7 times it (about half the work)."""
        x, y, w, h = box
        side = max(w, h)
        pad = (side // 3 if narrow else side // 2) + 2
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(gray.shape[1], x + w + pad), min(gray.shape[0], y + h + pad)
        if x1 - x0 < WINDOW or y1 - y0 < WINDOW:
            return []
        scale = min(1.0, ((NARROW_SIDE if narrow else NEAR_SIDE) if confirmed else CANDIDATE_SIDE) / side)
        roi = gray[y0:y1, x0:x1]
        if scale < 1:
            roi = cv2.resize(roi, (max(WINDOW, round(roi.shape[1] * scale)), max(WINDOW, round(roi.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        smallest, largest = NARROW_SPAN if narrow else WIDE_SPAN
        low = max(WINDOW, round(smallest * side * scale))
        top = max(low, round(largest * side * scale))
        neighbors = neighbors or (self.near_neighbors if confirmed else self.candidate_strictness(gray.shape, side))
        found = self.cascade.detectMultiScale(
            roi, scaleFactor=NEAR_STEP, minNeighbors=neighbors, minSize=(low, low), maxSize=(top, top)
        )
        sx, sy = (x1 - x0) / roi.shape[1], (y1 - y0) / roi.shape[0]
        boxes = [
            (x0 + round(bx * sx), y0 + round(by * sy), round(bw * sx), round(bh * sy))
            for bx, by, bw, bh in np.asarray(found).reshape(-1, 4)
        ]
        return sorted(boxes, key=lambda b: iou(b, box), reverse=True)

    def slice_of(self, shape, side: float, of: int | None = None) -> int:
        """The slice (of ``of``, default ``slices``) whose scales find a face ``side`` px wide."""
        scales, cuts = self._plan(shape, of or self.slices)
        i = int(np.argmin([abs(WINDOW / s - side) for s in scales]))
        return next((k for k, (first, last) in enumerate(cuts) if first <= i <= last), len(cuts) - 1)

    def candidate_strictness(self, shape, side: float) -> int:
        """The ``minNeighbors`` a candidate ``side`` px wide in a frame of ``shape`` is looked for again
        with, at its resolution: ``min_neighbors`` in the first octave (faces from ``min_face`` to
        twice it, scanned that strictly), ``candidate_neighbors`` above (scanned with ``scan_neighbors``)."""
        smallest = WINDOW / self._plan(shape)[0][0]
        return self.min_neighbors if side < smallest * self.scale_factor ** self._octave else self.candidate_neighbors

    def _plan(self, shape, slices: int | None = None):
        """For a frame shape: the pyramid's scales, and the (first, last) scale index of each of ``slices`` slices."""
        slices = slices or self.slices
        plan = self._plans.get((shape, slices))
        if plan is None:
            short = min(shape)
            top = min(1.0, WINDOW / (self.min_face * short))
            scales = []
            s = top
            while WINDOW / s <= short * 1.05 or not scales:
                scales.append(s)
                s /= self.scale_factor
            areas = np.cumsum([shape[0] * shape[1] * s * s for s in scales])
            cuts, start = [], 0
            for k in range(1, slices + 1):
                end = int(np.searchsorted(areas, areas[-1] * k / slices - 1e-9))
                end = max(start, min(end, len(scales) - 1))
                cuts.append((start, min(len(scales) - 1, end + 1)))
                start = end + 1
                if start >= len(scales):
                    break
            plan = self._plans[(shape, slices)] = (scales, cuts)
        return plan

    def _scan(self, gray, scales, first, count):
        """Scales ``first`` to ``first + count - 1`` of the pyramid ``scales``: one call of the cascade
        per octave (``_octave`` scales: OpenCV moves its window 2 px at a time while it is under twice
        the cascade's, 1 px above, four times the work, so each copy stays below that), on a copy
        scaled to the octave's first scale; the first octave with ``min_neighbors``, the others with
        ``scan_neighbors``. Consecutive octaves share ``octave_overlap`` scales, so that a face at the
        size where they meet has its neighbours in one call (``python bench/still_images.py``, 52 faces:
        with 0, 50 found; 1, 51, a scan 7 % dearer; 2, the default, all 52, 20 % dearer)."""
        h, w = gray.shape
        boxes = []
        step = self._octave - self.octave_overlap
        end = first + count
        for j in range(first // step, (end - 1) // step + 1):
            lo, hi = max(first, j * step), min(end - 1, j * step + self._octave - 1)
            if lo > hi or (j > first // step and lo <= (j - 1) * step + self._octave - 1 and hi <= (j - 1) * step + self._octave - 1):
                continue
            s = scales[lo]
            small = gray if s >= 1 else cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            top = round(WINDOW * self.scale_factor ** (hi - lo))
            found = self.cascade.detectMultiScale(
                small, scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors if j == 0 else self.scan_neighbors,
                minSize=(WINDOW, WINDOW), maxSize=(top, top),
            )
            sx, sy = w / small.shape[1], h / small.shape[0]
            boxes += [
                (round(x * sx), round(y * sy), round(bw * sx), round(bh * sy))
                for x, y, bw, bh in np.asarray(found).reshape(-1, 4)
            ]
        boxes = sorted(((x, y, min(bw, w - x), min(bh, h - y)) for x, y, bw, bh in boxes),
                       key=lambda b: b[2] * b[3], reverse=True)
        kept: list = []  # a face at the size where two octaves meet is found by both: kept once
        for b in boxes:
            if not any(iou(b, k) >= 0.4 for k in kept):
                kept.append(b)
        return kept


def same_face(a, b, min_iou: float = 0.3) -> bool:
    """Two boxes on one face: overlapping, or one's centre inside the other (a part of a face, such
    as the eyes and forehead of a large one, is no other face)."""
    return iou(a, b) >= min_iou or _centre_inside(a, b) or _centre_inside(b, a)


def _centre_inside(a, b) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def iou(a, b) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


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
