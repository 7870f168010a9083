"""Sample frames made from scikit-image's astronaut photo (a real, smiling face)."""

from __future__ import annotations

import cv2
import numpy as np

# where the face is in the 512x512 astronaut photo, (x, y, w, h), checked by eye
ASTRONAUT_FACE = (174, 64, 97, 97)


def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins, smiling), 512x512 BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def camera_frame(width: int = 640, height: int = 480, left: int = 150, top: int = 40) -> np.ndarray:
    """A camera-like BGR frame: grey background with the astronaut's head and shoulders.

    With the defaults (640x480) the face box is near (264, 104, 97, 97).
    """
    frame = np.full((height, width, 3), 90, np.uint8)
    crop = astronaut_bgr()[0:400, 60:400]
    h, w = min(crop.shape[0], height - top), min(crop.shape[1], width - left)
    frame[top : top + h, left : left + w] = crop[:h, :w]
    return frame


def expression_frames(width: int = 640, height: int = 480) -> dict:
    """``camera_frame``'s astronaut made to read as three expressions to the shipped model (by eye, and
    checked by tests/test_browser_screen.py): "happy" (the photo), "neutral" (the mouth flipped upside
    down: about half neutral, a quarter happy) and "negative" (the mouth blurred away: fear, angry and
    sad rise)."""
    happy = camera_frame(width, height)
    x, y, w = 264, 104, 97
    neutral = happy.copy()
    mouth = neutral[y + 55:y + 97, x:x + w]
    neutral[y + 55:y + 97, x:x + w] = cv2.flip(mouth, 0)
    negative = happy.copy()
    negative[y + 62:y + 90, x + 22:x + 78] = cv2.GaussianBlur(negative[y + 62:y + 90, x + 22:x + 78], (0, 0), 8)
    return {"happy": happy, "neutral": neutral, "negative": negative}
