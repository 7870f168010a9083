"""Measure where OpenCV's Haar box sits inside FER-2013 faces (PublicTest).

    python bench/crop_geometry.py [--data PATH] [--n 1500]

Each 48x48 face is upscaled 4x and padded, the Haar cascade runs on it, and the
image's extent is expressed relative to the largest box found: the margin around
the box (fraction of its side) and the vertical offset of the box centre. These
give ml.detector.CROP_MARGIN / CROP_SHIFT, so that live crops are framed like the
training images.
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ml.training import data  # noqa: E402
from ml.detector import FaceDetector  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--data", default=None)
p.add_argument("--n", type=int, default=1500)
a = p.parse_args()
x, _ = data.load_split(a.data, "PublicTest")
det = FaceDetector(max_side=10_000, min_face=0.3)
up, pad = 4, 96
margins, shifts = [], []
for img in x[: a.n]:
    big = cv2.resize(img, (48 * up, 48 * up), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = det.detect(big)
    if not boxes:
        continue
    bx, by, bw, bh = boxes[0]
    side = 48 * up
    # the image spans [pad, pad+side]; the box spans [bx, bx+bw]
    margins.append(((side - bw) / 2) / bw)
    cy_img, cy_box = pad + side / 2, by + bh / 2
    shifts.append((cy_img - cy_box) / bw)
print(f"Haar found a face in {len(margins)}/{min(a.n, len(x))} PublicTest images")
print(f"margin: median {np.median(margins):.3f} (IQR {np.percentile(margins, 25):.3f}..{np.percentile(margins, 75):.3f})")
print(f"shift:  median {np.median(shifts):.3f} (IQR {np.percentile(shifts, 25):.3f}..{np.percentile(shifts, 75):.3f})")
