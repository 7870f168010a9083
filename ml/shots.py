"""Shot cuts: the frames where a video changes at once to another picture (an edited video's
cut, a camera switch, a slide change, a screen-shared video), told from a picture that moves.

    cuts = ShotCuts()
    cuts.is_cut(gray)      # True on a stream's first frame and on a frame unlike the one before
    cuts.similarity        # the measure for the last frame: 1 the same picture, 0 another

The measure is cheap, on the grey frame the detector has anyway: the frame shrunk to a
32x24 thumbnail (``THUMB``), normalised to zero mean and unit spread, and correlated with
the previous frame's. A change of brightness or contrast (lighting, a camera's
auto-exposure) does not change it; a slow pan or a person walking moves the picture by a
fraction of a thumbnail's pixel from one frame to the next and keeps it near 1; a cut to
another picture drops it to about 0-0.5. A frame is a cut below ``CUT_BELOW`` (measured by
``python bench/edited_video.py``: the similarity of every pair of frames of the continuous
videos and of the cuts of the edited ones). A flat frame (a black or a grey screen: less
than ``FLAT`` grey levels of spread) is a cut from or to a picture, and from another flat
frame of another brightness.

``ml.FaceTracker`` uses it on every frame (live and recorded): at a cut its faces end at once.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB = (32, 24)  # width, height of the thumbnail compared (about 0.1 ms from 640x480)
CUT_BELOW = 0.6  # similarity under which a frame is a cut (docs/live.md: measured distributions)
FLAT = 3.0  # grey levels of spread under which a thumbnail is flat (no picture to correlate)
FLAT_STEP = 40.0  # two flat frames this many grey levels apart: a cut (black to white)


class ShotCuts:
    """Per-stream: is each frame a cut from the one before? (see the module's doc)"""

    def __init__(self, cut_below: float = CUT_BELOW):
        self.cut_below = cut_below
        self.reset()

    def reset(self) -> None:
        self._previous = None  # (normalised thumbnail or None if flat, mean)
        self.similarity = 0.0

    def is_cut(self, gray: np.ndarray) -> bool:
        """Is this frame (uint8 grayscale, any size) a cut from the previous one given? The first
        frame of a stream is: there is no picture before it."""
        thumb = cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
        mean, spread = float(thumb.mean()), float(thumb.std())
        current = ((thumb - mean) / spread if spread >= FLAT else None, mean)
        previous, self._previous = self._previous, current
        if previous is None:
            self.similarity = 0.0
        elif current[0] is not None and previous[0] is not None:
            self.similarity = float(np.mean(current[0] * previous[0]))
        elif current[0] is None and previous[0] is None:
            self.similarity = 1.0 if abs(current[1] - previous[1]) < FLAT_STEP else 0.0
        else:
            self.similarity = 0.0
        return self.similarity < self.cut_below
