"""Which face of a study session is the participant's: one face per session; every other face is
"someone else in view".

    chooser = ParticipantFace()
    face = chooser.choose(faces, t)   # per analysed frame (faces: the tracker's, largest first, each with
                                      # "id", "box" and "source"; t: its time, s): the participant's face, or None
    chooser.adopt(face)               # the camera check passed with this face alone in view: it is the participant

- The participant is the face present when the camera check passes (``adopt``). Before that, or in
  a session without a check, it is the first face seen (the largest of its frame).
- It is followed by the tracker's id (``ml.FaceTracker``: the same face keeps its id, held through
  short misses; a shot cut or a loss of more than 0.5 s ends it).
- A face seen in the same frame as the participant's (found or held) is someone else, for the rest
  of the session.
- When the participant's id is gone (the face was lost for longer than the tracker holds it, or a
  shot cut ended every face), the participant is re-acquired as the face, among those found in the
  frame (``ml.schema.seen``: never a held one) and not known to be someone else, nearest in place and
  size to where the participant's face was last. The first face too is a face found, never a held one.
- Someone else is also known by place: a new face (a new id) nearer to where someone else was found in
  the last ``PLACE_S`` seconds than to where the participant was last is that someone else. A shot cut
  (``ml.shots``: the lights going off and on, a camera switch) gives every face a new id; without
  this, the other person, found a frame before the participant, would become the participant.

Live streams (``Participation``) and recordings added to a session (server/uploads/recordings.py)
both choose with it.
"""

from __future__ import annotations

import math

from ml.schema import seen


def distance(box, to) -> float:
    """How far ``box`` is from ``to`` in place and size: the centres' distance in widths of ``to``,
    plus the size ratio's distance from 1 (log scale)."""
    x, y, w, h = box
    x0, y0, w0, h0 = to
    w0 = max(1.0, float(w0))
    dx = (x + w / 2 - x0 - w0 / 2) / w0
    dy = (y + h / 2 - y0 - h0 / 2) / w0
    return math.hypot(dx, dy) + abs(math.log(max(1.0, float(w)) / w0))


PLACE_S = 10.0  # seconds someone else's place is remembered after they were last found


class ParticipantFace:
    def __init__(self):
        self.id = None  # the participant's face id now (None: not seen yet)
        self.box = None  # where it was last
        self.others: set = set()  # ids of faces known to be someone else
        self.places: dict = {}  # id of someone else -> (box, t): where they were last found, when

    def choose(self, faces: list[dict], t: float | None = None) -> dict | None:
        """The participant's face among this frame's ``faces`` (or None); the others are marked as
        someone else. ``t``: the frame's time (s), for how long someone else's place is remembered
        (None: for ever)."""
        found = [f for f in faces if seen(f.get("source"))]
        self._forget_places(t)
        mine = next((f for f in faces if self.id is not None and f.get("id") == self.id), None)
        if mine is None:
            candidates = [f for f in found if f.get("id") not in self.others]
            if candidates and self.box is not None:
                for f in candidates:  # nearer to where someone else just was: them again, under a new id
                    mine_d = distance(f["box"], self.box)
                    if any(distance(f["box"], box) < mine_d for box, _ in self.places.values()):
                        self.others.add(f.get("id"))
                candidates = [f for f in candidates if f.get("id") not in self.others]
            if candidates:
                mine = candidates[0] if self.box is None else min(candidates, key=lambda f: distance(f["box"], self.box))
        if mine is not None:
            self.id, self.box = mine.get("id"), tuple(mine["box"])
            self.others.update(f.get("id") for f in faces if f is not mine)
        for f in found:
            if f is not mine and f.get("id") in self.others:
                self.places[f.get("id")] = (tuple(f["box"]), t)
        return mine

    def _forget_places(self, t: float | None) -> None:
        if t is not None and self.places:
            self.places = {k: (box, at) for k, (box, at) in self.places.items() if at is None or t - at <= PLACE_S}

    def adopt(self, face: dict) -> None:
        """``face`` is the participant's from now on (the camera check passed with it alone in view);
        a face followed as the participant before is someone else."""
        if self.id is not None and self.id != face.get("id"):
            self.others.add(self.id)
        self.id, self.box = face.get("id"), tuple(face["box"])
        self.others.discard(self.id)
