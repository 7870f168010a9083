"""Read FER-2013 in its two public forms.

* the folder layout: ``train/<class>/Training_*.jpg`` and
  ``test/<class>/PublicTest_*.jpg`` / ``test/<class>/PrivateTest_*.jpg``;
* the original ``fer2013.csv`` with the columns ``emotion,pixels,Usage``.

Both give ``(x, y)``: ``x`` uint8 ``(N, 48, 48)`` grayscale faces and ``y`` int
``(N,)`` labels in the order of :data:`ml.labels.CLASSES`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np

from ..labels import CLASSES, IMAGE_SIZE

SPLITS = ("Training", "PublicTest", "PrivateTest")
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "fer2013"
_SPLIT_FOLDER = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}


class DatasetError(ValueError):
    """A data set that is missing or not in a form this module reads."""


def default_data_path() -> Path:
    """The data set path from ``$FER2013`` or the shared folder beside the checkout."""
    return Path(os.environ.get("FER2013", DEFAULT_DATA))


def load_split(path: str | os.PathLike | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split (``Training``, ``PublicTest`` or ``PrivateTest``) from a folder or a CSV."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    path = Path(path) if path is not None else default_data_path()
    if path.is_dir() and (path / "fer2013.csv").is_file() and not (path / "train").is_dir():
        path = path / "fer2013.csv"
    if path.is_file():
        return load_csv(path, split)
    if path.is_dir():
        return load_folder(path, split)
    raise DatasetError(
        f"{path}: no FER-2013 data set here; expected a folder with train/ and test/ "
        f"(train/<class>/Training_*.jpg) or the file fer2013.csv"
    )


def load_folder(root: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split from the folder layout of the public image release."""
    root = Path(root)
    folder = root / _SPLIT_FOLDER[split]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing; expected the folder {_SPLIT_FOLDER[split]}/<class>/{split}_*.jpg")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(CLASSES):
        class_dir = folder / name
        if not class_dir.is_dir():
            raise DatasetError(f"{class_dir}: missing; expected one folder per class ({', '.join(CLASSES)})")
        files += [(f, label) for f in sorted(class_dir.glob(f"{split}_*")) if f.is_file()]
    if not files:
        raise DatasetError(f"{folder}: no {split}_*.jpg images in any class folder")
    x = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    y = np.empty(len(files), np.int64)
    for i, (f, label) in enumerate(files):
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DatasetError(f"{f}: not a readable image")
        if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
            img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        x[i] = img
        y[i] = label
    return x, y


def load_csv(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split from the original ``fer2013.csv`` (``emotion,pixels,Usage``)."""
    path = Path(path)
    n_pixels = IMAGE_SIZE * IMAGE_SIZE
    xs, ys = [], []
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(sorted(missing))}; expected the header emotion,pixels,Usage"
                )
            for line, row in enumerate(reader, start=2):
                if row["Usage"] != split:
                    continue
                try:
                    label = int(row["emotion"])
                    pixels = np.array(row["pixels"].split(), dtype=np.int64)
                except (TypeError, ValueError):
                    raise DatasetError(f"{path}, line {line}: emotion must be an integer and pixels integers") from None
                if not 0 <= label < len(CLASSES):
                    raise DatasetError(f"{path}, line {line}: emotion {label} is not in 0..{len(CLASSES) - 1}")
                if pixels.size != n_pixels or pixels.min() < 0 or pixels.max() > 255:
                    raise DatasetError(
                        f"{path}, line {line}: expected {n_pixels} pixel values in 0..255, got {pixels.size}"
                    )
                xs.append(pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
                ys.append(label)
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a text CSV file; expected the columns emotion,pixels,Usage") from None
    if not xs:
        raise DatasetError(f"{path}: no rows with Usage={split}")
    return np.stack(xs), np.array(ys, np.int64)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Inverse-frequency class weights (mean 1 over the samples), for the rare ``disgust`` class."""
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    counts[counts == 0] = 1
    w = len(y) / (len(CLASSES) * counts)
    return {i: float(v) for i, v in enumerate(w)}
