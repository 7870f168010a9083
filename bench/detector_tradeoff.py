"""Recall and speed of FaceDetector settings on 640x480 frames with faces of many sizes.

    python bench/detector_tradeoff.py

The astronaut's head is scaled so that the face is 80 to 200 pixels wide, placed at
several positions in a 640x480 frame, JPEG-compressed (quality 40, like a webcam
stream), and each setting is timed on all frames. Recall: frames where exactly the
one face is found.
"""
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # samples.py: test scenes

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import samples  # noqa: E402
from ml.detector import FaceDetector  # noqa: E402

SETTINGS = [
    dict(max_side=240, min_face=1 / 6, scale_factor=1.2),
    dict(max_side=240, min_face=1 / 6, scale_factor=1.15),
    dict(max_side=240, min_face=1 / 6, scale_factor=1.1),
    dict(max_side=240, min_face=0.1, scale_factor=1.15),
    dict(max_side=320, min_face=1 / 6, scale_factor=1.2),
    dict(max_side=320, min_face=1 / 6, scale_factor=1.15),
    dict(max_side=200, min_face=0.12, scale_factor=1.1),
]


def frames():
    head = samples.astronaut_bgr()[0:300, 80:380]  # face of 97 px in a 300 px head crop
    out = []
    for face_px in range(80, 201, 8):
        s = face_px / 97
        h = cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        for dx, dy in ((0, 0), (37, 11), (-53, 23), (71, -17)):
            frame = np.full((480, 640, 3), 90, np.uint8)
            hh, hw = min(h.shape[0], 480), min(h.shape[1], 640)
            y0 = max(0, min(480 - hh, 240 - hh // 2 + dy))
            x0 = max(0, min(640 - hw, 320 - hw // 2 + dx))
            frame[y0 : y0 + hh, x0 : x0 + hw] = h[:hh, :hw]
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 40])
            out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    return out


def main():
    fs = frames()
    print(f"{len(fs)} frames, faces 80..200 px wide")
    for kw in SETTINGS:
        d = FaceDetector(**kw)
        hits = sum(len(d.detect(f)) == 1 for f in fs)
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for f in fs:
                d.detect(f)
            runs.append((time.perf_counter() - t) / len(fs) * 1000)
        args = ", ".join(f"{k}={v:.3g}" for k, v in kw.items())
        print(f"{args:<52} recall {hits / len(fs):6.1%}   {statistics.median(runs):5.2f} ms/frame")


if __name__ == "__main__":
    main()
