"""Shared fixtures: real face photos from scikit-image, and one analyser per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins, smiling), 512x512 BGR."""
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


# where the face is in the astronaut photo (x, y, w, h), checked by eye
ASTRONAUT_FACE = (174, 64, 97, 97)


@pytest.fixture(scope="session")
def face_frame_640(astronaut_bgr) -> np.ndarray:
    """A 640x480 BGR camera-like frame with the astronaut's face in it."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    crop = astronaut_bgr[0:400, 60:400]  # head and shoulders
    frame[40:440, 150:490] = crop
    return frame


@pytest.fixture(scope="session")
def analyzer():
    import ml

    return ml.FrameAnalyzer()
