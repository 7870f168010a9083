"""The figures of a study session, defined once: every page, CSV, JSON, the comparison and the
export.zip take them from ``summarize`` (docs/studies.md, "Definitions"; the results page's glossary
and the export's README.txt are made from ``GLOSSARY``).

    frames = store.participant_frames(db, session_id)   # the participant's timeline: one dict per analysed frame
    summary = summarize(frames, tasks)                   # {"session": figures, "tasks": [figures, ...]}
    summary = summarize(frames, tasks, timeline=True)    # + "timeline": [[time_s, [p per class] | None], ...]
    flags = quality_flags(summary["session"], check_status, thresholds(study["quality"]))
    status = session_status(session, live)               # live, completed, incomplete or withdrawn
    labels = session_labels(sessions)                    # {session id: "S1", ...}, in start order

``figures`` (one dict, the same keys for a session, a task, the time outside tasks, a session in
the comparison) holds every entry of ``GLOSSARY``. A frame's **duration** is the time to the next
analysed frame of the same stream, at most ``GAP_MAX_S`` (a pause in the stream is not time
anyone was seen); the last frame's is 0. The seconds below add up durations, so they never exceed
the session's length, however many faces are in view.

A face's row counts only where it is a measurement (``ml.schema.seen``: its ``source`` is
``detected``, ``interpolated`` between two sightings in a recording, or empty for rows stored before
the column): a **held** face (live: not found in that frame, shown at its last box for up to 0.5 s,
it may have gone) counts nowhere: its frame is analysed but not one with the participant's face,
and a held other face is not someone else in view. The participant is still followed through it
(``participant_face.py``).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Iterable

from ml.labels import CLASSES
from ml.schema import seen

GAP_MAX_S = 1.0

# (key, name on the pages, unit, definition)
GLOSSARY = (
    ("frames", "Frames analysed", "frames",
     "Frames of the participant's camera that the server analysed (under load the server analyses the "
     "newest frame and skips older ones: those are not counted)."),
    ("frames_with_face", "Frames with the participant's face", "frames",
     "Analysed frames in which the participant's face was found (in a recording also those between two "
     "sightings of it, interpolated); not those in which the tracker only held it at its last place "
     "(source \"held\": not found in the frame, it may have gone)."),
    ("face_share", "Share of frames with the face", "fraction 0-1 (shown as %)",
     "Frames with the participant's face divided by frames analysed."),
    ("seconds", "Seconds analysed", "s",
     "The sum of the analysed frames' durations: the time to the next analysed frame, at most 1 s."),
    ("face_s", "Face time", "s", "The sum of the durations of the frames with the participant's face."),
    ("shares", "Share of each expression", "fraction 0-1 (shown as %) of the frames with the face",
     "Of the frames with the participant's face, the share whose label (the most probable expression) is that expression."),
    ("mean_probs", "Mean probability of each expression", "probability 0-1",
     "The mean of the expression's probability over the frames with the participant's face."),
    ("median_face_px", "Median face size", "px",
     "The median width of the participant's face box in the analysed frames (640x480 from the participant page)."),
    ("brightness", "Lighting", "mean luma 0-255",
     "The mean brightness of the participant's face box over the frames with the face (a face against a window is dark)."),
    ("other_s", "Someone else in view", "s",
     "The sum of the durations of the analysed frames in which a face other than the participant's was found "
     "(not only held by the tracker)."),
    ("other_faces", "Other faces", "faces",
     "How many distinct other faces the tracker followed (someone who leaves the picture and comes back counts again)."),
)
FIGURES = tuple(key for key, *_ in GLOSSARY)

# data quality: a session beyond one of these is flagged (shown, never hidden); the study may set its own
QUALITY = (
    # (threshold key, the figure, "min" or "max", default, what the flag says)
    ("min_face_share", "face_share", "min", 0.8, "the participant's face in too few frames"),
    ("min_face_px", "median_face_px", "min", 80, "the face too small (too far from the camera)"),
    ("min_brightness", "brightness", "min", 60, "the face too dark (backlit or a dark room)"),
    ("max_other_s", "other_s", "max", 5.0, "someone else in view too long"),
)
QUALITY_DEFAULTS = {key: default for key, _, _, default, _ in QUALITY}

# a session's status
STATUSES = ("live", "completed", "incomplete", "withdrawn")
STATUS_TEXT = {
    "live": "running now",
    "completed": "the participant did the last task",
    "incomplete": "ended before the last task was done (the page was closed, the connection lost)",
    "withdrawn": "the participant stopped and deleted their data: nothing of it is kept",
}


def thresholds(custom: dict | None) -> dict:
    """A study's quality thresholds: its own where it set them, else the defaults."""
    return {**QUALITY_DEFAULTS, **{k: v for k, v in (custom or {}).items() if k in QUALITY_DEFAULTS}}


def quality_flags(figures: dict, check_status: str | None, limits: dict) -> list[dict]:
    """What is wrong with a session's data: one entry per threshold it misses (``figure``, ``value``,
    ``threshold``, ``text``), and one for a failed camera check. Empty: nothing flagged."""
    flags = []
    if check_status == "failed":
        flags.append({"figure": "check", "value": "failed", "threshold": "passed",
                      "text": "the camera check did not pass"})
    if not figures.get("frames"):
        return flags
    for key, figure, kind, _, text in QUALITY:
        value, limit = figures.get(figure), limits[key]
        if value is None or limit is None:  # not measured (a recording, an analyser without lighting)
            continue
        if (value < limit) if kind == "min" else (value > limit):
            flags.append({"figure": figure, "value": value, "threshold": limit, "text": text})
    return flags


def session_status(session: dict, live: bool = False) -> str:
    """``live`` (running: not ended), else its stored status (completed, incomplete, withdrawn)."""
    if session.get("status") == "withdrawn":
        return "withdrawn"
    if session.get("ended") is None:
        return "live" if live or session.get("status") is None else session["status"]
    return session.get("status") or "incomplete"


def session_labels(sessions: list[dict]) -> dict:
    """``S1``, ``S2``, ... in start order, over all the study's sessions (withdrawn ones keep theirs)."""
    ordered = sorted(sessions, key=lambda s: (s["started"], s["id"]))
    return {s["id"]: f"S{i + 1}" for i, s in enumerate(ordered)}


class _Tally:
    """The sums behind ``figures`` for one period (a session, a task, the time outside tasks)."""

    __slots__ = ("frames", "with_face", "seconds", "face_s", "other_s", "labels", "sums", "widths", "light",
                 "lit", "others")

    def __init__(self):
        self.frames = self.with_face = self.lit = 0
        self.seconds = self.face_s = self.other_s = self.light = 0.0
        self.labels: Counter = Counter()
        self.sums = [0.0] * len(CLASSES)
        self.widths: list[int] = []
        self.others: set = set()

    def add(self, duration: float, others, face, label, probs, width, brightness) -> None:
        """One frame: its duration, the other faces' ids, and the participant's face (None: not found)
        with its label, probabilities (``CLASSES`` order), width and brightness."""
        self.frames += 1
        self.seconds += duration
        if others:
            self.other_s += duration
            self.others.update(others)
        if face is None:
            return
        self.with_face += 1
        self.face_s += duration
        self.labels[label] += 1
        sums = self.sums
        for k, p in enumerate(probs):
            sums[k] += p
        if width is not None:
            self.widths.append(width)
        if brightness is not None:
            self.light += brightness
            self.lit += 1

    def copy(self) -> "_Tally":
        other = _Tally()
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(other, name, value.copy() if hasattr(value, "copy") else value)
        return other

    def figures(self) -> dict:
        n = self.with_face
        return {
            "frames": self.frames,
            "frames_with_face": n,
            "face_share": round(n / self.frames, 4) if self.frames else 0.0,
            "seconds": round(self.seconds, 3),
            "face_s": round(self.face_s, 3),
            "shares": {c: round(self.labels[c] / n, 4) if n else 0.0 for c in CLASSES},
            "mean_probs": {c: round(self.sums[k] / n, 4) if n else 0.0 for k, c in enumerate(CLASSES)},
            "median_face_px": round(float(statistics.median(self.widths)), 1) if self.widths else None,
            "brightness": round(self.light / self.lit, 1) if self.lit else None,
            "other_s": round(self.other_s, 3),
            "other_faces": len(self.others),
        }


def has_face(frame: dict) -> bool:
    """Whether an analysed frame of the participant's timeline (``store.participant_frames``) has the
    participant's face, measured (``ml.schema.seen``: not a held row)."""
    return frame["face"] is not None and seen(frame.get("source"))


def _probs(frame: dict) -> list[float] | None:
    """The participant's probabilities in a frame (``CLASSES`` order), None without their face."""
    return [frame[c] or 0.0 for c in CLASSES] if has_face(frame) else None


def _duration(frame: dict, following: dict) -> float:
    """A frame's duration: the time to the next frame of the same stream, at most GAP_MAX_S."""
    gap = following["time_s"] - frame["time_s"]
    same = (frame.get("file") or None) == (following.get("file") or None)
    return min(GAP_MAX_S, gap) if same and gap > 0 else 0.0


class Summary:
    """``summarize``, fed a piece at a time (a running session: only its new frames each time).

        summary = Summary(tasks)
        summary.add(frames)          # in order, as many times as frames come
        summary.result()             # the figures so far (the last frame counts 0 s until the next comes)
    """

    def __init__(self, tasks: list[str], timeline: bool = False):
        self.tasks = tasks
        self.whole = _Tally()
        self.periods: dict = {}
        self.points = [] if timeline else None
        self.last = None  # the newest frame: its duration is known when the next one comes

    def add(self, frames: Iterable[dict]) -> "Summary":
        for frame in frames:
            if self.last is not None:
                self._count(self.last, _duration(self.last, frame))
            self.last = frame
        return self

    def _count(self, frame: dict, duration: float, whole=None, periods=None) -> None:
        whole = self.whole if whole is None else whole
        periods = self.periods if periods is None else periods
        face = frame["face"] if has_face(frame) else None
        probs = _probs(frame)
        values = (duration, frame.get("others"), face, frame["label"], probs, frame.get("w"), frame.get("brightness"))
        whole.add(*values)
        period = periods.get(frame["task"])
        if period is None:
            period = periods[frame["task"]] = _Tally()
        period.add(*values)
        if self.points is not None and whole is self.whole:
            self.points.append([frame["time_s"], probs])

    def result(self) -> dict:
        whole, periods, points = self.whole, self.periods, self.points
        if self.last is not None:  # the newest frame, 0 s for now, on copies (more frames may come)
            whole, periods = whole.copy(), {k: t.copy() for k, t in periods.items()}
            self._count(self.last, 0.0, whole, periods)
            if points is not None:
                points = [*points, [self.last["time_s"], _probs(self.last)]]
        table = []
        for index in [*range(len(self.tasks)), *([None] if None in periods else [])]:
            table.append({"task": None if index is None else index + 1, "title": period_title(self.tasks, index),
                          **periods.get(index, _Tally()).figures()})
        out = {"session": whole.figures(), "tasks": table}
        if points is not None:
            out["timeline"] = points
        return out


def summarize(frames: Iterable[dict], tasks: list[str], timeline: bool = False) -> dict:
    """THE figures of one session from its participant's timeline (``store.participant_frames``: in
    order, one dict per analysed frame with the results table's columns, face fields None when the
    participant was not found, ``others``: the ids of the other faces found in it). A held row of
    the participant counts as a frame without their face (``has_face``).

    Returns ``{"session": figures, "tasks": [{"task": number (1-based) or None, "title", **figures}, ...]}``:
    one entry per task of the study, then one for the time outside every task if there was any;
    with ``timeline``, also ``"timeline": [[time_s, [p per class] or None], ...]`` (one point per frame)."""
    return Summary(tasks, timeline).add(frames).result()


def no_figures() -> dict:
    """The figures of a period without any frame."""
    return _Tally().figures()


def period_title(tasks: list[str], index: int | None) -> str:
    return tasks[index] if index is not None and 0 <= index < len(tasks) else "(outside tasks)"


def mean_of_sessions(rows: list[dict]) -> dict:
    """The study's figures over sessions (each with ``figures``): counts and seconds added up; the
    shares and mean probabilities averaged over the sessions with the participant's face, **each
    session counting once** (a long session does not outweigh a short one)."""
    seen = [r for r in rows if r["frames_with_face"]]
    out = {"sessions": len(seen)}
    for key in ("frames", "frames_with_face"):
        out[key] = sum(r[key] for r in rows)
    for key in ("seconds", "face_s", "other_s"):
        out[key] = round(sum(r[key] for r in rows), 3)
    out["face_share"] = round(out["frames_with_face"] / out["frames"], 4) if out["frames"] else 0.0
    for key in ("shares", "mean_probs"):
        out[key] = {c: round(sum(r[key][c] for r in seen) / len(seen), 4) if seen else 0.0 for c in CLASSES}
    return out
