"""Recorded media tracked with hindsight: a file is not live, the frames after a frame are known.

    hindsight = Hindsight(analyzer, fps=25.0)
    for frame, faces in hindsight.add(frames):   # media Frames in order (a batch); the frames now final
        ...                                      # faces: "id", "box", "label", "probs", "source"
    for frame, faces in hindsight.finish():      # the rest, at the end of the file
        ...

The faces are found by the live tracker (``ml.FaceTracker``: where to look, which detections
are faces, shot cuts), run over the frames in order; what it saw in each frame (every box,
tentative ones too, classified: ``FrameAnalyzer.track_frames``) waits until the frame's faces
are final:

- a face's rows start at its first sighting, not at its confirmation (2 of its first 3
  frames, or at once at a shot cut); a face detected in fewer than ``MIN_DETECTED`` frames
  (2) is never reported, so a one-frame false hit is dropped, and every face of the rows
  counts in the summary (``ml.recorded.report.Summary``);
- a frame between two sightings of the same face (missed for up to the tracker's ``hold_s``,
  0.5 s) gets a row with ``"source": "interpolated"``: the box interpolated linearly between
  the two sightings, the probabilities between theirs;
- nothing is extrapolated: no row after a face's last sighting, none across a shot cut (the
  tracker ends every face there);
- a detected row's probabilities are the mean of the face's classified frames within
  ``window // 2`` analysed frames either side (centred, where the live tracker's trailing mean
  lags by two frames).

Ids are given in the order the faces become certain, from 1, so the ids of a file's rows are
1..N. A frame is final once every face that could be in it is settled (confirmed or
dropped; seen again, gone, or past the smoothing window): at most ``hold_s`` and a few
frames later, so about half a second of frames waits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..labels import CLASSES
from ..schema import DETECTED, INTERPOLATED
from ..tracking import FaceTracker

MIN_DETECTED = 2  # frames a face of a video must be detected in to be reported (and counted)


@dataclass
class _Story:
    """What one track of the tracker saw: its sightings by analysed-frame position."""

    track: object  # ml.tracking._Track (its id: the tracker confirmed it)
    pos: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    probs: list = field(default_factory=list)
    ended: bool = False
    id: int | None = None  # this file's id, once the face is certain


class Hindsight:
    """Per video (see the module's doc). ``analyzer``: an ``ml.FrameAnalyzer``; ``keep_images``:
    the frames handed back keep their pixels (to draw an annotated video), else ``image`` is None."""

    def __init__(self, analyzer, window: int = 5, fps: float = 30.0, keep_images: bool = True):
        self.analyzer = analyzer
        self.tracker = FaceTracker(window=window, fps=fps)
        self.tracker.keep_ended = True
        self.half = window // 2
        self.keep_images = keep_images
        self._stories: dict[int, _Story] = {}
        self._pending: deque = deque()  # (position, frame) analysed, not final yet
        self._pos = 0  # analysed frames so far
        self._next_id = 1

    def add(self, frames) -> list[tuple]:
        """Analyse ``frames`` (media Frames, in order, after the previous ones); return the frames
        whose faces are now final, in order, as ``(frame, faces)``."""
        if not frames:
            return []
        seen = self.analyzer.track_frames([f.image for f in frames], self.tracker, [f.time_s for f in frames])
        for frame, found in zip(frames, seen):
            pos = self._pos
            self._pos += 1
            for sighting, probs in found:
                story = self._stories.get(sighting.track.key)
                if story is None:
                    story = self._stories[sighting.track.key] = _Story(sighting.track)
                story.pos.append(pos)
                story.boxes.append(tuple(int(v) for v in sighting.box))
                story.probs.append(np.asarray(probs, np.float64))
            self._pending.append((pos, frame if self.keep_images else replace(frame, image=None)))
        for track in self.tracker.take_ended():
            story = self._stories.get(track.key)
            if story is not None:
                story.ended = True
        self._settle()
        return self._final(self._settled_until())

    def finish(self) -> list[tuple]:
        """The end of the file: every face has ended; the frames still waiting, as ``add``."""
        for story in self._stories.values():
            story.ended = True
        self._settle()
        return self._final(self._pos)

    # -- which faces, which frames -------------------------------------------------------------

    def _settle(self) -> None:
        """Give ids to the faces now certain, in order; forget the stories that will have no row."""
        for key, story in list(self._stories.items()):
            if story.id is None and story.track.id is not None and len(story.pos) >= MIN_DETECTED:
                story.id = self._next_id
                self._next_id += 1
            if story.id is None and story.ended:
                del self._stories[key]  # never confirmed, or detected only once: no row

    def _settled_until(self) -> int:
        """The first analysed position whose faces may still change."""
        until = self._pos
        known = self._pos - 1 - self.half  # a sighting's smoothed probabilities are known up to here
        for story in self._stories.values():
            if story.ended:
                continue
            if story.id is None:  # not certain yet: it may get rows from its first sighting on
                until = min(until, story.pos[0])
            else:  # certain: final up to its last sighting whose smoothing window is all analysed
                i = int(np.searchsorted(story.pos, known, side="right")) - 1
                until = min(until, story.pos[i] + 1 if i >= 0 else story.pos[0])
        return until

    def _final(self, until: int) -> list[tuple]:
        out = []
        while self._pending and self._pending[0][0] < until:
            pos, frame = self._pending.popleft()
            faces = [f for story in self._stories.values() if (f := self._face(story, pos)) is not None]
            out.append((frame, sorted(faces, key=lambda f: f["box"][2] * f["box"][3], reverse=True)))
        horizon = self._pending[0][0] if self._pending else self._pos
        for key, story in list(self._stories.items()):
            if story.ended and story.pos[-1] < horizon:
                del self._stories[key]  # no row in any frame still to come
                continue
            # sightings no frame still to come needs: before the last one ahead of the horizon, and
            # its smoothing window
            i = int(np.searchsorted(story.pos, horizon)) - 1
            if i > 0:
                keep = int(np.searchsorted(story.pos, story.pos[i] - self.half))
                if keep > 0:
                    del story.pos[:keep], story.boxes[:keep], story.probs[:keep]
        return out

    def _face(self, story: _Story, pos: int) -> dict | None:
        """The face's row in analysed frame ``pos``: detected, interpolated between two sightings, or none."""
        if story.id is None or not story.pos[0] <= pos <= story.pos[-1]:
            return None
        i = int(np.searchsorted(story.pos, pos))
        if story.pos[i] == pos:
            box, probs, source = story.boxes[i], self._smoothed(story, i), DETECTED
        else:  # between sightings i - 1 and i
            a, b = story.pos[i - 1], story.pos[i]
            u = (pos - a) / (b - a)
            box = tuple(int(round(p + (q - p) * u)) for p, q in zip(story.boxes[i - 1], story.boxes[i]))
            probs = (1 - u) * self._smoothed(story, i - 1) + u * self._smoothed(story, i)
            source = INTERPOLATED
        label = CLASSES[int(np.argmax(probs))]
        return {"id": story.id, "box": box, "label": label, "source": source, "held": False,
                "probs": {c: float(v) for c, v in zip(CLASSES, probs)}}

    def _smoothed(self, story: _Story, i: int) -> np.ndarray:
        """Sighting ``i``'s probabilities: the mean over the sightings within ``half`` analysed frames of it."""
        pos = story.pos[i]
        lo = int(np.searchsorted(story.pos, pos - self.half))
        hi = int(np.searchsorted(story.pos, pos + self.half, side="right"))
        return np.mean(story.probs[lo:hi], axis=0)
