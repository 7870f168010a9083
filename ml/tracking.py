"""Stable face ids across frames and smoothing of each face's probabilities.

Shared by the live server and the recorded-media CLI, so that both label faces the
same way. Faces are matched to the tracks of the previous frames by box overlap
(IoU); each track keeps the mean of its last ``window`` probability vectors.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .labels import CLASSES


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class _Track:
    __slots__ = ("id", "box", "history", "missed")

    def __init__(self, track_id, box, window):
        self.id = track_id
        self.box = box
        self.history = deque(maxlen=window)
        self.missed = 0


class FaceTracker:
    """Give each face a stable integer id and smoothed probabilities.

    ``update(faces)`` takes the analyser's output for one frame (dicts with ``box``
    and ``probs``) and returns new dicts with ``id``, the smoothed ``probs`` and
    the ``label`` they imply. A track is dropped after ``max_missed`` frames
    without a matching face.
    """

    def __init__(self, window: int = 5, min_iou: float = 0.3, max_missed: int = 15):
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 1

    def update(self, faces: list[dict]) -> list[dict]:
        pairs = sorted(
            ((iou(t.box, f["box"]), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
            reverse=True,
        )
        matched: dict[int, _Track] = {}
        used = set()
        for score, ti, fi in pairs:
            if score < self.min_iou:
                break
            if ti in used or fi in matched:
                continue
            used.add(ti)
            matched[fi] = self.tracks[ti]
        for ti, t in enumerate(self.tracks):
            if ti not in used:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        out = []
        for fi, face in enumerate(faces):
            track = matched.get(fi)
            if track is None:
                track = _Track(self._next_id, face["box"], self.window)
                self._next_id += 1
                self.tracks.append(track)
            track.box, track.missed = face["box"], 0
            track.history.append(np.array([face["probs"][c] for c in CLASSES], np.float64))
            mean = np.mean(track.history, axis=0)
            probs = {c: float(p) for c, p in zip(CLASSES, mean)}
            out.append({**face, "id": track.id, "probs": probs, "label": CLASSES[int(np.argmax(mean))]})
        return out
