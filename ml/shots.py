"""Shot cuts: the frames where a video changes at once to another picture (an edited video's
cut, a camera switch, a slide change, a screen-shared video), told from a picture that moves.

    cuts = ShotCuts()
    cuts.is_cut(gray)      # True on a stream's first frame and on a frame unlike the one before
    cuts.similarity        # the measure for the last frame: 1 the same picture, 0 another

The measure is cheap, on the grey frame the detector has anyway: the frame shrunk to a
48x36 thumbnail (``THUMB``), and its best normalised correlation with the previous frame's
thumbnail shifted by up to one thumbnail pixel each way (``cv2.matchTemplate``,
``TM_CCOEFF_NORMED``; one pixel is 13 px of a 640-px frame). A change of brightness or
contrast (lighting, a camera's auto-exposure) does not change it; a pan or a person walking
moves the picture by about a thumbnail pixel from one frame to the next and keeps it above
0.8; a cut to another picture drops it to 0.6 at most. A frame is a cut below ``CUT_BELOW``
(0.7, halfway; measured by ``python bench/edited_video.py``: the similarity of every pair of
consecutive frames of the continuous videos, pans of up to 16 px a frame, people walking,
exposure jumps and a real dark concert clip, against the cuts of the edited videos and of
that clip). A flat frame (a black or a grey screen: less than ``FLAT`` grey levels of
spread) is a cut from or to a picture, and from another flat frame of another brightness.

``ml.FaceTracker`` uses it on every frame (live and recorded): at a cut its faces end at once.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB = (48, 36)  # width, height of the thumbnail compared (about 0.2 ms from 640x480)
CUT_BELOW = 0.70  # similarity under which a frame is a cut (docs/live.md: measured distributions)
FLAT = 3.0  # grey levels of spread under which a thumbnail is flat (no picture to correlate)
FLAT_STEP = 40.0  # two flat frames this many grey levels apart: a cut (black to white)
SHIFT = 1  # thumbnail pixels the picture may move between two frames


class ShotCuts:
    """Per-stream: is each frame a cut from the one before? (see the module's doc)"""

    def __init__(self, cut_below: float = CUT_BELOW):
        self.cut_below = cut_below
        self.reset()

    def reset(self) -> None:
        self._previous = None  # the previous frame's thumbnail (float32), None before the first
        self.similarity = 0.0

    def is_cut(self, gray: np.ndarray) -> bool:
        """Is this frame (uint8 grayscale, any size) a cut from the previous one given? The first
        frame of a stream is: there is no picture before it."""
        thumb = thumbnail(gray)
        previous, self._previous = self._previous, thumb
        self.similarity = 0.0 if previous is None else similarity(previous, thumb)
        return self.similarity < self.cut_below


def thumbnail(gray: np.ndarray) -> np.ndarray:
    """The frame as a ``THUMB`` float32 thumbnail: halved (``cv2.pyrDown``: smoothed, then every other
    pixel) while over twice its width, then averaged down (a quarter of the time of one
    ``INTER_AREA`` resize from 640x480)."""
    while gray.shape[1] > 2 * THUMB[0] and gray.shape[0] > 2 * THUMB[1]:
        gray = cv2.pyrDown(gray)
    return cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Two thumbnails (float32, the same shape): 1 the same picture (up to brightness, contrast and a
    one-pixel shift), about 0 two unrelated ones."""
    flat_a, flat_b = float(a.std()) < FLAT, float(b.std()) < FLAT
    if flat_a or flat_b:  # nothing to correlate: the same only if both are flat, at one brightness
        return 1.0 if flat_a and flat_b and abs(float(a.mean()) - float(b.mean())) < FLAT_STEP else 0.0
    scores = cv2.matchTemplate(b, a[SHIFT:-SHIFT, SHIFT:-SHIFT], cv2.TM_CCOEFF_NORMED)
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else 0.0
