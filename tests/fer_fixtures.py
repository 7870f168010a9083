"""Small generated FER-2013 data sets, in the folder layout and as fer2013.csv."""

from pathlib import Path

import cv2
import numpy as np

from ml.labels import CLASSES

SPLIT_COUNTS = {"Training": 3, "PublicTest": 2, "PrivateTest": 1}  # images per class


def _face(rng, label):
    """A 48x48 grayscale image whose brightness pattern depends on its class (learnable)."""
    img = rng.integers(0, 60, (48, 48)).astype(np.uint8)
    img[:, label * 6 : label * 6 + 6] += 150
    return img


def make_folder(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, per_class in SPLIT_COUNTS.items():
        folder = root / ("train" if split == "Training" else "test")
        for label, name in enumerate(CLASSES):
            (folder / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                cv2.imwrite(str(folder / name / f"{split}_{label}{i:03d}.jpg"), _face(rng, label))
    return root


def make_csv(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for split, per_class in SPLIT_COUNTS.items():
        for label in range(len(CLASSES)):
            for _ in range(per_class):
                lines.append(f"{label},{' '.join(map(str, _face(rng, label).ravel()))},{split}")
    path.write_text("\n".join(lines) + "\n")
    return path
