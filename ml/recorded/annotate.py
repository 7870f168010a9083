"""Draw faces on a frame: a box per face and a label with its id, expression and confidence.

    from ml.recorded.annotate import draw_faces
    shown = draw_faces(bgr, analyzer.analyze(bgr, tracker))

Takes the dicts of ``ml.FrameAnalyzer`` / ``ml.FaceTracker`` / ``ml.recorded.hindsight``
(``box``, ``label``, ``probs`` and, when tracked, ``id`` and ``source``). The caption's text is
``LABEL_HEIGHT`` of the frame's shorter side tall (at least ``LABEL_MIN_PX``: 14 px on
640x360), readable on the video as it plays. A face detected in the frame has a solid box and
its caption on a band of its colour; a face filled in (``source`` "interpolated" or "held":
not found in this frame) a dashed box and its caption in its colour on a dark band.
OpenCV only: usable by the CLI and the server.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..labels import COLORS


def _bgr(hex_rgb: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_rgb[i : i + 2], 16) for i in (1, 3, 5))
    return (b, g, r)


CLASS_COLORS = {c: _bgr(h) for c, h in COLORS.items()}  # ml/labels.py's, as OpenCV's BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def face_caption(face: dict) -> str:
    """``#1 happy 93%`` (no id when the face is untracked)."""
    label = face["label"]
    conf = face.get("probs", {}).get(label)
    text = label if conf is None else f"{label} {conf * 100:.0f}%"
    return f"#{face['id']} {text}" if "id" in face else text


LABEL_HEIGHT = 0.035  # caption height, as a share of the frame's shorter side
LABEL_MIN_PX = 14  # ... and at least this many pixels
FILLED_BAND = (40, 40, 40)  # the caption band of a filled-in face (BGR)


def is_filled_in(face: dict) -> bool:
    """Not found in this frame: interpolated between two sightings, or held after the last one."""
    return face.get("source", "held" if face.get("held") else "detected") != "detected"


def _dashed_rectangle(image, p0, p1, color, thick) -> None:
    dash = max(6, 4 * thick)
    (x0, y0), (x1, y1) = p0, p1
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for start in range(0, length, 2 * dash):  # dash, gap, dash, ...
            u, v = start / max(1, length), min(length, start + dash) / max(1, length)
            cv2.line(image, (round(a[0] + (b[0] - a[0]) * u), round(a[1] + (b[1] - a[1]) * u)),
                     (round(a[0] + (b[0] - a[0]) * v), round(a[1] + (b[1] - a[1]) * v)), color, thick, cv2.LINE_AA)


def draw_faces(image: np.ndarray, faces: list[dict], copy: bool = True) -> np.ndarray:
    """The frame with each face's box and caption drawn, sized to the frame; a copy unless ``copy=False``."""
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    text_px = max(LABEL_MIN_PX, LABEL_HEIGHT * min(h, w))
    font_scale = text_px / cv2.getTextSize("Hg", FONT, 1.0, 1)[0][1]
    text_thick = max(1, round(text_px / 12))
    box_thick = max(2, round(min(h, w) / 240))
    for face in faces:
        x, y, bw, bh = (int(v) for v in face["box"])
        color = CLASS_COLORS.get(face["label"], (0, 255, 0))
        filled = is_filled_in(face)
        if filled:
            _dashed_rectangle(out, (x, y), (x + bw, y + bh), color, box_thick)
        else:
            cv2.rectangle(out, (x, y), (x + bw, y + bh), color, box_thick, cv2.LINE_AA)
        caption = face_caption(face)
        (tw, th), base = cv2.getTextSize(caption, FONT, font_scale, text_thick)
        pad = max(2, round(text_px / 5))
        ty = y - pad - base if y - th - base - 2 * pad >= 0 else min(h - base - pad, y + bh + th + pad)
        x0 = max(0, min(x, w - tw - 2 * pad))
        # black text on a class colour (each carries it at 4.5:1 or more: ml/labels.py); a filled-in
        # face's text in its colour on a dark band
        band, ink = (FILLED_BAND, color) if filled else (color, (0, 0, 0))
        cv2.rectangle(out, (x0, ty - th - pad), (x0 + tw + 2 * pad, ty + base + pad // 2), band, cv2.FILLED)
        cv2.putText(out, caption, (x0 + pad, ty), FONT, font_scale, ink, text_thick, cv2.LINE_AA)
    return out
