"""The camera check before a participant's first task: one face, large enough, lit well enough, held
for ``HOLD_S`` seconds.

    check = CameraCheck(thresholds(study["quality"]))
    status = check.update(faces, t)     # per result: {"state", "problem", "guidance", "held_s", "need_s"}
    check.passed, check.face, check.passed_at   # once passed: the participant's face, the moment (stream s)

``state``: ``checking`` (``problem`` says what is wrong, ``guidance`` what to do) or ``holding`` (all
good for ``held_s`` seconds so far) or ``passed``. "Large enough" and "lit well enough" are the
study's data-quality thresholds (``definitions.QUALITY``: ``min_face_px``, ``min_brightness``), so
the check and the session's quality flags agree. The passed moment (``check_s``, the end of the
held time) is where a neutral baseline can be taken: the participant alone, looking at the camera.
"""

from __future__ import annotations

from ml.schema import seen

HOLD_S = 2.0

GUIDANCE = {
    "no_face": "We cannot see your face: look at the camera, with your whole face in the picture.",
    "several": "Only you in view, please: we see {n} faces.",
    "too_small": "Move closer to the camera: your face is too small in the picture.",
    "too_dark": "More light on your face, please: a light in front of you, not behind you (no window behind you).",
    None: "Good: hold still for a moment…",
    "passed": "Camera check passed.",
}


class CameraCheck:
    def __init__(self, limits: dict):
        self.min_px = limits.get("min_face_px")
        self.min_brightness = limits.get("min_brightness")
        self.since: float | None = None  # when the current good spell began (stream s)
        self.face_id = None
        self.face: dict | None = None  # the face that passed
        self.passed = False
        self.passed_at: float | None = None

    def problem(self, faces: list[dict]) -> str | None:
        if not faces:
            return "no_face"
        if len(faces) > 1:
            return "several"
        face = faces[0]
        if self.min_px is not None and face["box"][2] < self.min_px:
            return "too_small"
        brightness = face.get("brightness")
        if self.min_brightness is not None and brightness is not None and brightness < self.min_brightness:
            return "too_dark"
        return None

    def update(self, faces: list[dict], t: float) -> dict:
        """One analysed frame's faces at stream time ``t``: the check's status for the participant's page.
        Only the faces found in the frame count (``ml.schema.seen``): a held face, not found, never
        passes the check nor is someone else in view; a frame that only holds the face being checked
        (missed once) leaves the good spell running without ending it there."""
        if self.passed:
            return self.status("passed", None, HOLD_S)
        found = [f for f in faces if seen(f.get("source"))]
        if not found and self.since is not None and any(f.get("id") == self.face_id for f in faces):
            return self.status("holding", None, max(0.0, t - self.since))
        faces = found
        problem = self.problem(faces)
        if problem is not None or faces[0].get("id") != self.face_id:
            self.since = None
        if problem is not None:
            self.face_id = None
            return self.status("checking", problem, 0.0, n=len(faces))
        if self.since is None:
            self.since, self.face_id = t, faces[0].get("id")
        held = max(0.0, t - self.since)
        if held >= HOLD_S:
            self.passed, self.passed_at, self.face = True, t, faces[0]
            return self.status("passed", None, HOLD_S)
        return self.status("holding", None, held)

    @staticmethod
    def status(state: str, problem: str | None, held: float, n: int = 0) -> dict:
        text = GUIDANCE["passed" if state == "passed" else problem].format(n=n)
        return {"state": state, "problem": problem, "guidance": text, "held_s": round(held, 2), "need_s": HOLD_S}
