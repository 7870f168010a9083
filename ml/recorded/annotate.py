"""Draw faces on a frame: a box per face and a label with its id, expression and confidence.

    from ml.recorded.annotate import draw_faces
    shown = draw_faces(bgr, analyzer.analyze(bgr, tracker))

Takes the dicts of ``ml.FrameAnalyzer`` / ``ml.FaceTracker`` (``box``, ``label``,
``probs`` and, when tracked, ``id``). OpenCV only: usable by the CLI and the server.
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


def draw_faces(image: np.ndarray, faces: list[dict], copy: bool = True) -> np.ndarray:
    """The frame with each face's box and caption drawn, sized to the frame; a copy unless ``copy=False``."""
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    scale = max(0.4, min(h, w) / 720)
    thick = max(1, int(round(2 * scale)))
    for face in faces:
        x, y, bw, bh = (int(v) for v in face["box"])
        color = CLASS_COLORS.get(face["label"], (0, 255, 0))
        cv2.rectangle(out, (x, y), (x + bw, y + bh), color, thick + 1, cv2.LINE_AA)
        caption = face_caption(face)
        (tw, th), base = cv2.getTextSize(caption, FONT, 0.6 * scale, thick)
        pad = max(2, thick * 2)
        ty = y - pad if y - th - base - 2 * pad >= 0 else min(h - base - pad, y + bh + th + pad)
        x0 = max(0, min(x, w - tw - 2 * pad))
        cv2.rectangle(out, (x0, ty - th - pad), (x0 + tw + 2 * pad, ty + base), color, cv2.FILLED)
        # black text: every class colour carries it at 4.5:1 or more (ml/labels.py)
        cv2.putText(out, caption, (x0 + pad, ty), FONT, 0.6 * scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
