"""Moments worth watching, per-task valence and expressiveness, and hotspots across participants: THE
definitions (docs/studies.md, "Moments, figures and hotspots"), computed from a participant's timeline only.

    line = [Point(time_s, task, probs | None), ...]     # the participant's face, one point per analysed frame
                                                         # (task: its number from 1, None outside tasks)
    base = baseline(line, check_s)                       # the camera check's held seconds, or the first seconds
    found = moments(line, base)                          # [Moment, ...] in time order
    figures = task_figures(line, base, found, summary["tasks"])   # definitions.summarize's per-task figures
                                                         # with valence, expressiveness and moments added
    spots = hotspots([SessionMoments, ...], titles)      # per task, across (completed) sessions

Everything is **relative to the participant's own baseline** (their resting face, as facial-coding
tools do): a probability minus the participant's mean of that probability over the baseline frames.
A participant whose resting face the model reads as 30 % sad is not "sad" all session; a drop to
their own neutral is not a moment. The figures are proxies computed from the expression model's
probabilities, not measured feelings.

The figures that every page already shows (frames with the face, face time, each expression's mean
probability) are not made here: they come from ``definitions.summarize``, and expressiveness is 1
minus its mean probability of neutral. Task numbers count from 1, as everywhere in the studies.

Pure functions on plain data: no database, no I/O (unit-tested on hand-made timelines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

from ml.labels import CLASSES

from .camera_check import HOLD_S

NEGATIVE = ("angry", "disgust", "fear", "sad")
_I = {c: i for i, c in enumerate(CLASSES)}

# ---- the baseline ----
# the camera check's held seconds (camera_check.HOLD_S before its passed moment: the participant alone,
# looking at the camera) with at least this many frames of the face; else the first 5 s after the
# participant's face is first seen in the session
CHECK_MIN_FRAMES = 3
BASELINE_S = 5.0

# ---- moments: a signal over its "on" threshold, held; it ends below the lower "off" threshold ----
# negative: the sum of the four negative expressions' rises above baseline (only rises count)
NEGATIVE_ON, NEGATIVE_OFF, NEGATIVE_HOLD_S = 0.25, 0.15, 1.0
SURPRISE_ON, SURPRISE_OFF, SURPRISE_HOLD_S = 0.30, 0.20, 0.2  # a surprise is brief: a peak
SMILE_ON, SMILE_OFF, SMILE_HOLD_S = 0.30, 0.20, 0.5
MAX_GAP_S = 0.5  # frames without the face for up to this long do not break a moment; longer ones end it
KINDS = ("negative", "surprise", "smile")
KIND_TEXT = {"negative": "negative onset", "surprise": "surprise peak", "smile": "smile"}

# ---- hotspots ----
HOTSPOT_WINDOW_S = 5.0  # moments of one kind whose onsets fall within 5 s of each other (since the task's start)
HOTSPOT_MIN_SESSIONS = 2  # ... in at least 2 sessions
HOTSPOT_MIN_SHARE = 1 / 3  # ... and at least a third of the sessions that ran the task

PLAY_BEFORE_S = 3.0  # a moment's link plays the recording from 3 s before it


DEFINITIONS = {  # the thresholds as the API and exports state them (docs/studies.md explains them)
    "baseline": {"camera_check_s": HOLD_S, "camera_check_min_frames": CHECK_MIN_FRAMES, "first_seconds": BASELINE_S},
    "max_gap_s": MAX_GAP_S, "play_before_s": PLAY_BEFORE_S,
    "negative": {"classes": list(NEGATIVE), "on": NEGATIVE_ON, "off": NEGATIVE_OFF, "hold_s": NEGATIVE_HOLD_S},
    "surprise": {"on": SURPRISE_ON, "off": SURPRISE_OFF, "hold_s": SURPRISE_HOLD_S},
    "smile": {"on": SMILE_ON, "off": SMILE_OFF, "hold_s": SMILE_HOLD_S},
    "hotspot": {"window_s": HOTSPOT_WINDOW_S, "min_sessions": HOTSPOT_MIN_SESSIONS,
                "min_share": round(HOTSPOT_MIN_SHARE, 4)},
}


# the figures this module adds to the glossary (definitions.GLOSSARY's form: key, name, unit, definition)
GLOSSARY = (
    ("valence", "Valence", "-1 to 1",
     "A proxy, not a measured feeling: over the frames with the participant's face, the mean of happy's rise above "
     "the participant's own baseline minus the largest rise of a negative expression (angry, disgust, fear, sad)."),
    ("expressiveness", "Expressiveness", "0-1",
     "A proxy: 1 minus the mean probability of neutral over the frames with the participant's face."),
    ("moments", "Moments", "count",
     "Negative onsets (the negative expressions' rises above baseline adding up to 0.25 or more, held 1 s), "
     "surprise peaks (surprise 0.3 above baseline) and smiles (happy 0.3 above baseline, held 0.5 s), from the "
     "participant's face only."),
    ("baseline", "Baseline", "probability 0-1",
     "The participant's own resting face: each expression's mean probability over the 2 s the camera check held "
     "(else over their first 5 s with a face). Valence and moments are measured from it."),
)


@dataclass(frozen=True)
class Point:
    """One analysed frame of the participant: its stream time, the task it was stamped with (its number
    from 1; None outside tasks) and the seven probabilities of the participant's face (None: their face
    was not in this frame). ``live``: a frame of the session's own stream (False: of a recording added
    to the session, on another clock: it counts in the figures, not in the moments)."""

    time_s: float
    task: int | None
    probs: Sequence[float] | None
    live: bool = True


@dataclass
class Baseline:
    probs: list[float]  # the mean of each probability over the baseline frames, in CLASSES order
    frames: int
    from_s: float
    to_s: float
    source: str  # "first seconds" or "camera check"

    def to_json(self) -> dict:
        return {"source": self.source, "from_s": round(self.from_s, 3), "to_s": round(self.to_s, 3),
                "frames": self.frames, "probs": {c: round(p, 4) for c, p in zip(CLASSES, self.probs)},
                "expressiveness": round(1.0 - self.probs[_I["neutral"]], 4)}


@dataclass
class Moment:
    kind: str  # negative, surprise, smile
    expression: str  # the class: for a negative onset the negative expression that rose most
    start_s: float  # stream time of its first frame over the threshold
    length_s: float  # to its last frame over the off threshold
    peak_s: float
    strength: float  # the signal's peak: a probability above the participant's baseline, 0 to 1
    task: int | None  # the task running at its start

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("start_s", "length_s", "peak_s"):
            d[k] = round(d[k], 3)
        d["strength"] = round(d["strength"], 4)
        d["play_from_s"] = round(max(0.0, self.start_s - PLAY_BEFORE_S), 3)
        return d


def baseline_of(points: Iterable[Point], source: str) -> Baseline | None:
    """The mean of each probability over ``points`` with the face (None if none has it)."""
    sums, n, first, last = [0.0] * len(CLASSES), 0, None, None
    for p in points:
        if p.probs is None:
            continue
        for i, v in enumerate(p.probs):
            sums[i] += v
        n += 1
        first = p.time_s if first is None else first
        last = p.time_s
    if not n:
        return None
    return Baseline([s / n for s in sums], n, first, last, source)


def baseline(line: Sequence[Point], check_s: float | None = None, seconds: float = BASELINE_S) -> Baseline | None:
    """The participant's own resting face: with a passed camera check (``check_s``: its passed moment on
    the stream clock), the frames of the ``HOLD_S`` seconds it held, if at least ``CHECK_MIN_FRAMES`` have
    the face; else the first ``seconds`` after their face is first seen in the session."""
    line = [p for p in line if p.live]
    if check_s is not None:
        held = baseline_of((p for p in line if check_s - HOLD_S - 1e-6 <= p.time_s <= check_s + 1e-6),
                           "camera check")
        if held is not None and held.frames >= CHECK_MIN_FRAMES:
            return held
    start = next((p.time_s for p in line if p.probs is not None), None)
    if start is None:
        return None
    return baseline_of((p for p in line if start <= p.time_s < start + seconds - 1e-9), "first seconds")


def corrected(probs: Sequence[float], base: Baseline) -> list[float]:
    """Each probability minus the participant's baseline of it."""
    return [p - b for p, b in zip(probs, base.probs)]


def negative_signal(rise: Sequence[float]) -> float:
    """The negative expressions' rises above baseline, added (a fall of one does not cancel another's rise)."""
    return sum(max(0.0, rise[_I[c]]) for c in NEGATIVE)


def valence(rise: Sequence[float]) -> float:
    """Positive minus negative, above baseline: happy's rise minus the largest negative expression's rise."""
    return rise[_I["happy"]] - max(rise[_I[c]] for c in NEGATIVE)


SIGNALS = {  # kind -> (signal of the corrected probabilities, on, off, hold)
    "negative": (negative_signal, NEGATIVE_ON, NEGATIVE_OFF, NEGATIVE_HOLD_S),
    "surprise": (lambda r: r[_I["surprise"]], SURPRISE_ON, SURPRISE_OFF, SURPRISE_HOLD_S),
    "smile": (lambda r: r[_I["happy"]], SMILE_ON, SMILE_OFF, SMILE_HOLD_S),
}


def _runs(line: Sequence[Point], rises: list, signal, on: float, off: float, hold: float) -> list[tuple[int, int]]:
    """Index ranges [first, last] of the frames where ``signal`` went over ``on`` and stayed over ``off``
    (gaps without the face of up to MAX_GAP_S bridged), held at least ``hold`` seconds."""
    out, first, last = [], None, None
    for i, (p, r) in enumerate(zip(line, rises)):
        if r is None:
            if first is not None and p.time_s - line[last].time_s > MAX_GAP_S:
                out.append((first, last))
                first = None
            continue
        v = signal(r)
        if first is None:
            if v >= on:
                first = last = i
        elif v >= off and p.time_s - line[last].time_s <= MAX_GAP_S:
            last = i
        else:
            out.append((first, last))
            first = i if v >= on else None
            last = i
    if first is not None:
        out.append((first, last))
    return [(a, b) for a, b in out if line[b].time_s - line[a].time_s >= hold - 1e-9]


def moments(line: Sequence[Point], base: Baseline | None) -> list[Moment]:
    """Every moment of the session's own stream, in time order (without a baseline: none)."""
    if base is None:
        return []
    line = [p for p in line if p.live]
    rises = [None if p.probs is None else corrected(p.probs, base) for p in line]
    found = []
    for kind, (signal, on, off, hold) in SIGNALS.items():
        for a, b in _runs(line, rises, signal, on, off, hold):
            values = [(signal(rises[i]), i) for i in range(a, b + 1) if rises[i] is not None]
            strength, peak = max(values)
            if kind == "negative":
                frames = [rises[i] for i in range(a, b + 1) if rises[i] is not None]
                expression = max(NEGATIVE, key=lambda c: sum(r[_I[c]] for r in frames))
            else:
                expression = "surprise" if kind == "surprise" else "happy"
            found.append(Moment(kind, expression, line[a].time_s, line[b].time_s - line[a].time_s,
                                line[peak].time_s, strength, line[a].task))
    return sorted(found, key=lambda m: (m.start_s, KINDS.index(m.kind)))


def expressiveness(figures: dict) -> float | None:
    """1 minus the mean probability of neutral (``definitions.summarize``'s ``mean_probs``) over the frames
    with the participant's face; None without any."""
    return round(1.0 - figures["mean_probs"]["neutral"], 4) if figures["frames_with_face"] else None


def task_valence(line: Sequence[Point], base: Baseline | None) -> dict:
    """Per task number (None: outside tasks): the mean of ``valence`` over its frames with the face; no
    entry without a baseline or without such frames."""
    sums: dict = {}
    if base is None:
        return {}
    for p in line:
        if p.probs is not None:
            acc = sums.setdefault(p.task, [0.0, 0])
            acc[0] += valence(corrected(p.probs, base))
            acc[1] += 1
    return {task: round(total / n, 4) for task, (total, n) in sums.items()}


def task_figures(line: Sequence[Point], base: Baseline | None, found: Sequence[Moment], periods: list[dict]) -> list[dict]:
    """``periods`` (``definitions.summarize``'s ``"tasks"``: per task its number, title and figures) each
    with ``valence`` (None without a baseline or a frame with the face), ``expressiveness`` and
    ``moments``: how many of each kind started in it."""
    valences = task_valence(line, base)
    out = []
    for period in periods:
        task = period["task"]
        out.append({**period, "valence": valences.get(task), "expressiveness": expressiveness(period),
                    "moments": {k: sum(1 for m in found if m.task == task and m.kind == k) for k in KINDS}})
    return out


@dataclass
class SessionMoments:
    """One session's part in the hotspots: its id, short label (S1, S2 ...), the stream time of each task's
    first start, its moments and whether it has a screen recording."""

    session: str
    label: str
    task_starts: dict  # task -> stream time of its first start marker
    moments: list = field(default_factory=list)  # [Moment, ...]
    recording: bool = False


def hotspot_text(h: dict) -> str:
    """"4 of 6 participants: negative onset 5-10 s into task 2"."""
    span = f"{h['from_s']:.0f}-{h['to_s']:.0f}" if round(h["to_s"]) > round(h["from_s"]) else f"{h['from_s']:.0f}"
    return (f"{h['sessions']} of {h['of']} participants: {KIND_TEXT[h['kind']]} {span} s into task {h['task']}")


def hotspots(sessions: Sequence[SessionMoments], titles: Sequence[str], window_s: float = HOTSPOT_WINDOW_S,
             min_sessions: int = HOTSPOT_MIN_SESSIONS, min_share: float = HOTSPOT_MIN_SHARE) -> list[dict]:
    """Per task and kind, the windows of ``window_s`` seconds (on the time since each session started the
    task) in which several sessions had a moment of that kind: the fullest window first (ties: the
    earliest), then the fullest of the moments left, and so on, while a window holds at least
    ``min_sessions`` sessions and ``min_share`` of those that ran the task. Each hotspot lists its
    members: the session and its moment (at its own stream time, to play its recording there)."""
    out = []
    for task, title in enumerate(titles, 1):
        ran = [s for s in sessions if task in s.task_starts]
        for kind in KINDS:
            left = sorted(((m.start_s - s.task_starts[task], s, m) for s in ran for m in s.moments
                           if m.task == task and m.kind == kind), key=lambda x: x[0])
            while left:
                best = None
                for i, (onset, _s, _m) in enumerate(left):
                    inside = [x for x in left[i:] if x[0] <= onset + window_s + 1e-9]
                    n = len({x[1].session for x in inside})
                    if best is None or n > best[0]:
                        best = (n, inside)
                n, inside = best
                if n < min_sessions or n < min_share * len(ran):
                    break
                members, seen = [], set()
                for onset, s, m in inside:
                    if s.session not in seen:  # a session's first moment in the window stands for it
                        seen.add(s.session)
                        members.append({"session": s.session, "label": s.label, "onset_s": round(onset, 3),
                                        "at_s": round(m.start_s, 3),
                                        "play_from_s": round(max(0.0, m.start_s - PLAY_BEFORE_S), 3),
                                        "expression": m.expression, "strength": round(m.strength, 4),
                                        "recording": s.recording})
                spot = {"task": task, "title": title, "kind": kind, "from_s": round(inside[0][0], 3),
                        "to_s": round(inside[-1][0], 3), "sessions": n, "of": len(ran), "members": members}
                spot["text"] = hotspot_text(spot)
                out.append(spot)
                taken = {id(x) for x in inside}
                left = [x for x in left if id(x) not in taken]
    return sorted(out, key=lambda h: (h["task"], h["from_s"], KINDS.index(h["kind"])))
