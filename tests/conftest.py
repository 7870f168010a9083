"""Shared fixtures: real face photos from scikit-image, and one analyser per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

import samples
from samples import ASTRONAUT_FACE  # noqa: F401  (re-exported for tests)


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins, smiling), 512x512 BGR."""
    return samples.astronaut_bgr()


@pytest.fixture(scope="session")
def face_frame_640() -> np.ndarray:
    """A 640x480 BGR camera-like frame with the astronaut's face in it, near (264, 104, 97, 97)."""
    return samples.camera_frame(640, 480)


@pytest.fixture(scope="session")
def analyzer():
    """The shipped model behind ml's one factory, compiled for every batch size as the server has it."""
    import ml

    return ml.build_analyzer(warm_up=True)
