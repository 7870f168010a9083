"""`python -m server --small-faces`: a distant face, too small for the fast default, is found."""

import cv2
import numpy as np

from ml import samples
from server.__main__ import parse_args
from server.analysis import AnalysisService


def distant_face_frame():
    """A 640x480 frame with the astronaut's face about 48 pixels wide (a person at the back of a room)."""
    head = cv2.resize(samples.astronaut_bgr()[0:300, 80:380], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100 : 100 + head.shape[0], 400 : 400 + head.shape[1]] = head
    return frame


def test_small_faces_flag_finds_a_distant_face_the_default_misses():
    assert parse_args(["--small-faces"]).small_faces and not parse_args([]).small_faces
    frame = distant_face_frame()
    default = AnalysisService()
    default.load()
    small = AnalysisService(analyzer=None, small_faces=True)
    small.load()
    try:
        assert default.analyze_frame(frame)[0] == []
        faces = small.analyze_frame(frame)[0]
        assert len(faces) == 1
        x, y, w, h = faces[0]["box"]
        # the face is at (94, 64) in the head crop, (47, 32) at half size, pasted at (400, 100): ~(447, 132)
        assert 435 < x < 460 and 120 < y < 145 and 35 < w < 65
    finally:
        default.close()
        small.close()
