"""Which face of a study session is the participant's: one face per session; every other face is
"someone else in view".

    chooser = ParticipantFace()
    face = chooser.choose(faces)      # per analysed frame (faces: the tracker's, largest first, each with
                                      # "id" and "box"): the participant's face of this frame, or None
    chooser.adopt(face)               # the camera check passed with this face alone in view: it is the participant

- The participant is the face present when the camera check passes (``adopt``). Before that, or in
  a session without a check, it is the first face seen (the largest of its frame).
- It is followed by the tracker's id (``ml.FaceTracker``: the same face keeps its id, held through
  short misses).
- A face seen in the same frame as the participant's is someone else, for the rest of the session.
- When the participant's id is gone (the face was lost for longer than the tracker holds it), the
  participant is re-acquired as the face, among those not known to be someone else, nearest in
  place and size to where the participant's face was last.

Live streams (``Participation``) and recordings added to a session (server/uploads/recordings.py)
both choose with it.
"""

from __future__ import annotations

import math


def distance(box, to) -> float:
    """How far ``box`` is from ``to`` in place and size: the centres' distance in widths of ``to``,
    plus the size ratio's distance from 1 (log scale)."""
    x, y, w, h = box
    x0, y0, w0, h0 = to
    w0 = max(1.0, float(w0))
    dx = (x + w / 2 - x0 - w0 / 2) / w0
    dy = (y + h / 2 - y0 - h0 / 2) / w0
    return math.hypot(dx, dy) + abs(math.log(max(1.0, float(w)) / w0))


class ParticipantFace:
    def __init__(self):
        self.id = None  # the participant's face id now (None: not seen yet)
        self.box = None  # where it was last
        self.others: set = set()  # ids of faces known to be someone else

    def choose(self, faces: list[dict]) -> dict | None:
        """The participant's face among this frame's ``faces`` (or None); the others are marked as
        someone else."""
        mine = next((f for f in faces if self.id is not None and f.get("id") == self.id), None)
        if mine is None:
            candidates = [f for f in faces if f.get("id") not in self.others]
            if candidates:
                mine = candidates[0] if self.box is None else min(candidates, key=lambda f: distance(f["box"], self.box))
        if mine is not None:
            self.id, self.box = mine.get("id"), tuple(mine["box"])
            self.others.update(f.get("id") for f in faces if f is not mine)
        return mine

    def adopt(self, face: dict) -> None:
        """``face`` is the participant's from now on (the camera check passed with it alone in view);
        a face followed as the participant before is someone else."""
        if self.id is not None and self.id != face.get("id"):
            self.others.add(self.id)
        self.id, self.box = face.get("id"), tuple(face["box"])
        self.others.discard(self.id)
