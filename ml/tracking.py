"""Faces followed from frame to frame: where to look, which detections are faces, stable ids,
held faces, shot cuts and smoothed probabilities.

One ``FaceTracker`` per stream (a live camera, a video); the analyser (``ml.FrameAnalyzer``)
asks it where to look and tells it what it found:

    boxes = tracker.detect(gray, detector)      # each tracked face near its last box, plus a
                                                # slice of the full scan for new faces
    sightings = tracker.observe(boxes, t)       # match, confirm, hold (boxes only)
    faces = tracker.report(sightings, probs)    # ids, sources, smoothed probabilities

- **Confirmed**: a new face is reported once it was seen in ``confirm`` of its first
  ``confirm_of`` frames (2 of 3): a one-frame false detection never reaches the user, and a
  face gets its id only then, so ids count real faces.
- **Found**: a confirmed face seen in the previous frame is looked for narrowly near where it
  should be (half the work); missed there, it is looked for widely in the same frame before it is
  held (a still face was held in 15 % of frames without this: ``bench/face_tracking.py``'s found).
- **Held**: a confirmed face that is not found keeps its id and last box, with
  ``"source": "held"`` (and ``"held": True``) and its last probabilities, for up to ``hold_s``
  seconds (0.5); then it is forgotten and a face found there later is a new face. A face found
  in the frame has ``"source": "detected"``.
- **Shot cuts** (``ml.shots``): a frame unlike the one before (an edited video's cut, a camera
  or slide switch) ends every face at once, with no held tail; the whole frame is scanned, and
  each face found there that is unambiguous (``FaceDetector.sure``: found again on a sharper
  copy, as a still image's face must be, and at the scan's resolution, as a next frame would
  find it) is confirmed at once, in the cut's own frame, on probation: it must be
  seen again in one of the next two frames (2 of its first 3, as a candidate), or it is withdrawn
  without a held tail (its id is not given again); until then a frame that misses it does
  not hold it. A stream's first frame counts as a cut.
- Each face's probabilities are the mean of its last ``window`` classified frames.
- **Where to look for new faces**: while faces are confirmed, one slice (of 12) of the full
  scan every ``search_every`` frames; while none is, one part (of ``empty_parts``, 3) of it, so
  that a frame with nobody in it costs about a third of a full scan, and a face that comes
  into the picture is found within ``empty_parts * search_every`` frames and reported one frame
  later (while a candidate waits for its confirmation, the part that found it is scanned again). ``search_every`` is 1; a live server under load sets 2 or 3
  (server/live/inference.py): the search, the dearest part of a frame, then costs a half or a third.

The live server, the upload worker and ``python -m ml.analyze`` all use it, through the analyser;
recorded media also read what it saw in each frame (``detections``, ``take_ended``) to track
with hindsight (``ml.recorded.hindsight``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .detector import iou, same_face
from .labels import CLASSES
from .schema import DETECTED, HELD
from .shots import ShotCuts


def _near(box, track_box) -> bool:
    """``box`` is where ``track_box``'s face has moved to: its centre within the track's box
    grown by half its size on each side, its size within 0.7-1.4 times."""
    x, y, w, h = track_box
    ratio = box[2] / max(1, w)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return 0.7 <= ratio <= 1.4 and x - w / 2 <= cx <= x + 1.5 * w and y - h / 2 <= cy <= y + 1.5 * h


class _Track:
    __slots__ = ("key", "id", "probation", "box", "history", "hits", "last_seen", "last_frame", "velocity")

    def __init__(self, key, box, window, t, frame):
        self.key = key  # the tracker's own number for it, tentative or confirmed
        self.id = None  # given when the face is confirmed
        self.probation = False  # confirmed at once (at a cut), not seen a second time yet
        self.box = box
        self.history = deque(maxlen=window)
        self.hits: list[bool] = [True]
        self.last_seen = t
        self.last_frame = frame
        self.velocity = (0.0, 0.0)  # pixels per frame, of the box's corner

    def predicted(self, frame: int) -> tuple:
        """Where the face should be in ``frame``, moving on as it moved."""
        n = frame - self.last_frame
        x, y, w, h = self.box
        return (round(x + self.velocity[0] * n), round(y + self.velocity[1] * n), w, h)

    def seen(self, box, t, frame) -> None:
        n = frame - self.last_frame
        if n > 0:
            vx, vy = (box[0] - self.box[0]) / n, (box[1] - self.box[1]) / n
            self.velocity = (0.5 * self.velocity[0] + 0.5 * vx, 0.5 * self.velocity[1] + 0.5 * vy)
        self.box, self.last_seen, self.last_frame = box, t, frame


@dataclass
class Sighting:
    """A confirmed face in one frame: found at ``box`` (``index``: its place in the frame's
    detections), or held at its last box (``held``, ``index`` None)."""

    track: _Track
    box: tuple
    held: bool
    index: int | None

    @property
    def source(self) -> str:
        return HELD if self.held else DETECTED


class FaceTracker:
    """Per-stream face state: tentative, confirmed and held faces (see the module's doc).

    ``t``, where given, is the frame's time in seconds; without it frames are taken to be
    ``1 / fps`` apart. ``confirm=1`` reports every detection at once (still images).
    ``cuts``: notice shot cuts (``ml.shots``; default on).
    """

    def __init__(
        self,
        window: int = 5,
        min_iou: float = 0.3,
        hold_s: float = 0.5,
        confirm: int = 2,
        confirm_of: int = 3,
        fps: float = 30.0,
        cuts: bool = True,
        empty_parts: int = 3,
    ):
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 1 <= confirm <= confirm_of:
            raise ValueError("confirm must be between 1 and confirm_of")
        if empty_parts < 1:
            raise ValueError("empty_parts must be at least 1")
        self.window = window
        self.min_iou = min_iou
        self.hold_s = hold_s
        self.confirm = confirm
        self.confirm_of = confirm_of
        self.fps = fps
        self.empty_parts = empty_parts
        self.search_every = 1  # frames per slice of the scan for new faces (see the module's doc)
        self.keep_ended = False  # keep the tracks it forgets for take_ended() (a live stream does not)
        self.shots = ShotCuts() if cuts else None
        self.reset()

    def reset(self) -> None:
        self.tracks: list[_Track] = []
        self._next_id = 1
        self._frames = 0
        self._slice = 0
        self._searched = 0  # frames since the last slice of the scan
        self._claims: list[tuple[tuple, _Track]] = []  # detect(): boxes found near a track
        self._sure: list[tuple] = []  # detect(): boxes of a cut's frame confirmed at once
        self._shape = None  # the frames' shape, as last seen by detect()
        self._keys = 0  # tracks made so far
        self.cut = False  # was the last frame given to detect() a shot cut?
        self.detections: list[Sighting] = []  # observe(): every box of the frame with its track, tentative too
        self.ended: list[_Track] = []  # with keep_ended: tracks forgotten since take_ended() was last called
        if self.shots is not None:
            self.shots.reset()

    def _rescale(self, shape) -> None:
        """Keep the faces (ids, boxes) when the frames' size changes: boxes scaled to the new size."""
        sy, sx = shape[0] / self._shape[0], shape[1] / self._shape[1]
        for t in self.tracks:
            x, y, w, h = t.box
            t.box = (round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy)))
            t.velocity = (t.velocity[0] * sx, t.velocity[1] * sy)

    # -- detection -----------------------------------------------------------------------------

    def detect(self, gray: np.ndarray, detector) -> list[tuple[int, int, int, int]]:
        """Where the faces of this frame are: each tracked face looked for near where it should be
        (``detector.detect_near``), and new faces in a slice of the full scan
        (``detector.detect_slice``). At a shot cut, every face ends and the whole frame is scanned
        (``detector.scan``), what is unambiguous (``detector.sure``) is a face at once."""
        if self._shape is not None and gray.shape != self._shape:
            self._rescale(gray.shape)  # the stream changed resolution (WebRTC adapts to bandwidth)
        self._shape = gray.shape
        self.cut = self.shots is not None and self.shots.is_cut(gray)
        if self.cut:
            self._forget(*self.tracks)
            self.tracks = []
            boxes = detector.scan(gray)
            self._sure = [b for b in boxes if detector.sure(gray, b)]
            self._claims = []
            return boxes
        boxes, claims, guesses = [], [], []
        # confirmed faces first, largest first: a box on one of them is not another face
        for track in sorted(self.tracks, key=lambda t: (t.id is None or t.probation, -t.box[2] * t.box[3])):
            guess = track.predicted(self._frames)
            if track.id is not None and not track.probation:
                guesses.append(guess)
            # a confirmed face seen in the previous frame is looked for narrowly (half the work);
            # after a miss, or on probation, widely
            narrow = track.id is not None and not track.probation and track.last_frame == self._frames - 1
            near = detector.detect_near(gray, guess, confirmed=track.id is not None, narrow=narrow)
            if narrow and not (near and _near(near[0], guess)):  # missed narrowly: widely, before holding it
                near = detector.detect_near(gray, guess, confirmed=True)
            if near and _near(near[0], guess) and not any(same_face(near[0], b, self.min_iou) for b in boxes):
                boxes.append(near[0])
                claims.append((near[0], track))
        scan = []
        self._searched += 1
        if self._searched >= self.search_every:
            self._searched = 0
            if any(t.id is not None for t in self.tracks):
                scan = detector.detect_slice(gray, self._slice)
                self._slice += 1
            else:  # nobody yet: a part of the whole scan, a face is found within empty_parts frames
                candidates = [t for t in self.tracks if t.id is None]
                if candidates:  # the part that found the newest candidate: it is found again as it was found
                    part = detector.slice_of(gray.shape, max(candidates[-1].box[2:]), of=self.empty_parts)
                else:
                    part = self._slice
                    self._slice += 1
                scan = detector.detect_slice(gray, part, of=self.empty_parts)
        for box in scan:  # new faces: not on a face found, nor where a confirmed face should be
            if not any(same_face(box, b, self.min_iou) for b in boxes + guesses):
                boxes.append(box)
        self._claims = claims
        return boxes

    def take_ended(self) -> list[_Track]:
        """With ``keep_ended`` set: the tracks forgotten since the last call (a face gone for longer
        than ``hold_s``, a candidate not confirmed, every face at a cut), for ``ml.recorded.hindsight``."""
        ended, self.ended = self.ended, []
        return ended

    def _forget(self, *tracks) -> None:
        if self.keep_ended:
            self.ended += tracks

    # -- tracking ------------------------------------------------------------------------------

    def observe(self, boxes, t: float | None = None) -> list[Sighting]:
        """Match this frame's boxes to the tracked faces; return the faces to report (confirmed:
        found or held), largest first. Probabilities are added by ``report``. ``detections`` is
        then every box of the frame with its track (tentative ones too)."""
        t = self._frames / self.fps if t is None else float(t)
        frame = self._frames
        self._frames += 1
        boxes = [tuple(int(v) for v in b) for b in boxes]
        claims, self._claims = self._claims, []
        found: dict[int, int] = {}  # track index -> box index
        taken = set()
        index = {id(tr): ti for ti, tr in enumerate(self.tracks)}
        for box, track in claims:  # found by looking near a track: that track's face
            ti, bi = index.get(id(track)), boxes.index(box) if box in boxes else None
            if ti is not None and bi is not None and ti not in found and bi not in taken:
                found[ti] = bi
                taken.add(bi)
        guesses = [tr.predicted(frame) for tr in self.tracks]
        pairs = sorted(
            ((iou(g, b), ti, bi) for ti, g in enumerate(guesses) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        for score, ti, bi in pairs:
            if score < self.min_iou:
                break
            if ti in found or bi in taken:
                continue
            found[ti] = bi
            taken.add(bi)
        for ti, g in enumerate(guesses):  # a face that moved more than its boxes overlap
            if ti in found:
                continue
            for bi, b in enumerate(boxes):
                if bi not in taken and _near(b, g):
                    found[ti] = bi
                    taken.add(bi)
                    break
        kept, sightings, detections = [], [], []
        for ti, track in enumerate(self.tracks):
            seen = ti in found
            if seen:
                track.seen(boxes[found[ti]], t, frame)
                detections.append(Sighting(track, track.box, False, found[ti]))
            if track.id is None or track.probation:
                track.hits.append(seen)
                if sum(track.hits) >= self.confirm:
                    if track.id is None:
                        self._confirm(track)
                    track.probation = False
                elif len(track.hits) >= self.confirm_of:
                    self._forget(track)
                    continue  # not seen often enough: a false detection, forgotten (no held tail)
            if track.id is not None:
                if seen:
                    sightings.append(Sighting(track, track.box, False, found[ti]))
                elif track.probation:
                    pass  # seen once, at a cut: not held until it is seen again
                elif t - track.last_seen <= self.hold_s + 1e-9:
                    sightings.append(Sighting(track, track.box, True, None))
                else:
                    self._forget(track)
                    continue  # gone for longer than hold_s
            kept.append(track)
        sure, self._sure = self._sure, []
        for bi, box in enumerate(boxes):
            if bi not in taken:
                self._keys += 1
                track = _Track(self._keys, box, self.window, t, frame)
                kept.append(track)
                detections.append(Sighting(track, box, False, bi))
                if self.confirm <= 1 or box in sure:
                    self._confirm(track)
                    track.probation = self.confirm > 1  # reported now, kept if seen again as a candidate is
                    sightings.append(Sighting(track, box, False, bi))
        self.tracks = kept
        self.detections = detections
        return sorted(sightings, key=lambda s: s.box[2] * s.box[3], reverse=True)

    def report(self, sightings: list[Sighting], probs) -> list[dict]:
        """The faces to show for one frame: ``probs[i]`` (7 floats, ``ml.CLASSES`` order) are
        the classifier's output for sighting ``i`` (ignored for held faces). Call once per
        frame, in frame order."""
        out = []
        for s, p in zip(sightings, probs):
            if not s.held:
                s.track.history.append(np.asarray(p, np.float64))
            if s.track.history:
                mean = np.mean(s.track.history, axis=0)
            else:  # held before it was ever classified (not with the analyser): nothing to say
                mean = np.full(len(CLASSES), 1 / len(CLASSES))
            out.append(
                {
                    "box": tuple(int(v) for v in s.box),
                    "id": s.track.id,
                    "source": s.source,
                    "held": s.held,
                    "label": CLASSES[int(np.argmax(mean))],
                    "probs": {c: float(v) for c, v in zip(CLASSES, mean)},
                }
            )
        return out

    def update(self, faces: list[dict], t: float | None = None) -> list[dict]:
        """Track faces found elsewhere (dicts with ``box`` and ``probs``): ``observe`` + ``report``."""
        sightings = self.observe([f["box"] for f in faces], t)
        probs = [None if s.held else [faces[s.index]["probs"][c] for c in CLASSES] for s in sightings]
        out = self.report(sightings, probs)
        return [{**faces[s.index], **o} if not s.held else o for s, o in zip(sightings, out)]

    def _confirm(self, track: _Track) -> None:
        track.id = self._next_id
        self._next_id += 1
