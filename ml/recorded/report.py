"""What an analysis of recorded media reports: CSV rows, a summary and a timeline plot.

    rows = csv_rows(frame, tracked_faces)      # one dict per face, ml.schema.COLUMNS keys
    summary = Summary(); summary.add(frame, tracked_faces); summary.finish(...)
    print(summary.text()); summary.to_dict()  # faces found, share of each expression
    plot_timeline(summary, "timeline.png")    # matplotlib, Agg backend
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..labels import CLASSES, COLORS, EMOJI
from ..schema import COLUMNS, DETECTED, face_row, seen

def csv_rows(frame, faces: list[dict], with_file: bool = False, start_utc: float | None = None) -> list[dict]:
    """One row (``ml.schema.COLUMNS``) per tracked face of an analysed frame (``frame``: a media Frame).

    ``start_utc``: the recording's start as seconds since the epoch, when known, for the ``utc`` column.
    """
    utc = None if start_utc is None else start_utc + frame.time_s
    file = frame.name if with_file else ""
    return [face_row(frame.index, frame.time_s, face, utc=utc, file=file) for face in faces]


class CsvWriter:
    """CSV rows streamed to a file (opened by the caller, e.g. an ml.recorded.media.AtomicFile's tmp)."""

    def __init__(self, path: str | os.PathLike):
        self.fh = open(path, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.fh, fieldnames=COLUMNS)
        self.writer.writeheader()
        self.rows = 0

    def write(self, rows: list[dict]) -> None:
        self.writer.writerows(rows)
        self.rows += len(rows)

    def close(self) -> None:
        self.fh.close()


class Summary:
    """Accumulates the tracked faces of analysed frames.

    A face counts (in faces found, the shares and the timeline plot) if it was detected in at
    least ``min_frames`` analysed frames (``ml.recorded.hindsight.MIN_DETECTED``, 2, for a
    video, whose rows hold no other face: faces found is the number of face ids in its CSV; 1
    for images); fewer: a brief detection, listed apart. Shares are of face time: each
    analysed frame in which a counted face was detected or interpolated (between two of its
    sightings; ``ml/schema.py``'s ``source``) counts once for that face's (smoothed) label,
    weighted by the time until the next analysed frame, so skipping frames (``--every``)
    does not change what they mean. A ``held`` row (live: after the last sighting, the face
    may have gone) is not face time.
    """

    def __init__(
        self, source: str = "", fps: float = 0.0, interval_s: float | None = None, min_frames: int = 2,
        kind: str = "video",
    ):
        self.source = source
        self.kind = kind  # "video", or "image"/"folder": counted in images, not seconds
        self.min_frames = min_frames  # frames a face must be detected in to count
        self.fps = fps
        self.interval_s = interval_s  # time one analysed frame stands for
        self.frames_total = 0
        self.frames_analysed = 0
        self.frames_with_faces = 0
        self.duration_s = 0.0
        self.face_frames: Counter = Counter()  # id -> analysed frames of face time (detected or interpolated)
        self.face_detected: Counter = Counter()  # id -> analysed frames it was detected in
        self.face_labels: dict = defaultdict(Counter)  # id -> label counts
        self.times: list[float] = []
        self.series: dict = defaultdict(list)  # id -> [(time_s, probs vector)]
        self.mean_probs: list = []  # per analysed frame: mean over faces, or None

    def add(self, frame, faces: list[dict]) -> None:
        self.frames_analysed += 1
        self.times.append(frame.time_s)
        faces = [f for f in faces if seen(f.get("source", DETECTED))]  # face time: seen, or between sightings
        if faces:
            self.frames_with_faces += 1
        vectors = []
        for face in faces:
            fid = face.get("id", 0)
            self.face_frames[fid] += 1
            self.face_detected[fid] += face.get("source", DETECTED) == DETECTED
            self.face_labels[fid][face["label"]] += 1
            v = [face["probs"][c] for c in CLASSES]
            vectors.append(v)
            self.series[fid].append((frame.time_s, v))
        self.mean_probs.append(np.mean(vectors, axis=0).tolist() if vectors else None)

    def finish(self, frames_total: int, duration_s: float) -> "Summary":
        self.frames_total = frames_total
        self.duration_s = duration_s
        return self

    def _kept(self) -> list:
        """Face ids that count: detected in at least min_frames analysed frames; most seen first."""
        return [fid for fid, n in self.face_frames.most_common() if self.face_detected[fid] >= self.min_frames]

    @property
    def faces_found(self) -> int:
        return len(self._kept())

    @property
    def brief_detections(self) -> int:
        return len(self.face_frames) - self.faces_found

    @property
    def label_totals(self) -> Counter:
        total: Counter = Counter()
        for fid in self._kept():
            total.update(self.face_labels[fid])
        return total

    @property
    def step_s(self) -> float:
        """Time one analysed frame stands for."""
        if self.interval_s:
            return self.interval_s
        if self.frames_analysed and self.duration_s:
            return self.duration_s / self.frames_analysed
        return 1.0

    def shares(self) -> dict[str, float]:
        """Share of face-time of each expression (sums to 1 when any face was seen)."""
        counts = self.label_totals
        total = sum(counts.values())
        return {c: (counts[c] / total if total else 0.0) for c in CLASSES}

    def dominant(self) -> str | None:
        counts = self.label_totals
        return counts.most_common(1)[0][0] if counts else None

    def faces(self) -> list[dict]:
        """Per face id: seconds seen and its most frequent expression, most seen first."""
        out = []
        for fid in self._kept():
            n = self.face_frames[fid]
            out.append(
                {
                    "id": fid,
                    "frames": n,
                    "seconds": round(n * self.step_s, 2),
                    "label": self.face_labels[fid].most_common(1)[0][0],
                }
            )
        return out

    def timeline(self, max_points: int = 600) -> dict:
        """Mean probabilities over the faces of each analysed frame (None: no face), at most ``max_points``."""
        n = len(self.times)
        idx = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else []
        return {
            "classes": list(CLASSES),
            "t": [self.times[i] for i in idx],
            "probs": [
                None if self.mean_probs[i] is None else [round(p, 4) for p in self.mean_probs[i]] for i in idx
            ],
        }

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "frames_total": self.frames_total,
            "frames_analysed": self.frames_analysed,
            "frames_with_faces": self.frames_with_faces,
            "duration_s": round(self.duration_s, 3),
            "faces_found": self.faces_found,
            "brief_detections": self.brief_detections,
            "faces": self.faces(),
            "dominant": self.dominant(),
            "shares": {c: round(s, 4) for c, s in self.shares().items()},
            "timeline": self.timeline(),
        }

    def text(self) -> str:
        """The summary printed at the end of the CLI."""
        video = self.kind == "video"
        images = lambda n: f"{n} image" + ("" if n == 1 else "s")  # noqa: E731

        def seen(face: dict) -> str:
            return f"{face['seconds']:.1f} s" if video else f"in {images(face['frames'])}"

        if video:
            first = (
                f"{self.source}: {self.frames_analysed} of {self.frames_total} frames analysed"
                f" ({self.duration_s:.1f} s), faces in {self.frames_with_faces}"
            )
        else:
            first = f"{self.source}: {images(self.frames_analysed)} analysed, faces in {self.frames_with_faces}"
        lines = [
            first,
            f"faces found: {self.faces_found}"
            + (
                " (" + ", ".join(f"#{f['id']} {seen(f)} mostly {f['label']}" for f in self.faces()[:8])
                + (", ..." if self.faces_found > 8 else "")
                + ")"
                if self.faces_found
                else ""
            ),
        ]
        if self.brief_detections:
            lines.append(
                f"(and {self.brief_detections} brief detection(s) in under {self.min_frames} analysed frames, "
                "left out: most likely not faces)"
            )
        if self.faces_found:
            lines.append("share of face time per expression:" if video else "share of faces per expression:")
            shares = self.shares()
            ranked = sorted(CLASSES, key=lambda c: -shares[c])
            for c in ranked:
                if shares[c] >= 0.0005:
                    bar = "#" * int(round(shares[c] * 40))
                    lines.append(f"  {c:<9}{EMOJI[c]} {shares[c] * 100:5.1f}%  {bar}")
            zero = [c for c in ranked if shares[c] < 0.0005]
            if zero:  # one line for the expressions never seen
                lines.append(f"  0%: {', '.join(zero)}")
        else:
            lines.append("no faces were found")
        return "\n".join(lines)


def plot_timeline(summary: Summary, path: str | os.PathLike, max_faces: int = 4) -> Path:
    """A PNG: for each of the most-seen faces, its expression probabilities over time (stacked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    faces = [f["id"] for f in summary.faces()[:max_faces]]
    rows = max(1, len(faces))
    fig, axes = plt.subplots(
        rows, 1, figsize=(10, 0.8 + 1.8 * rows), sharex=True, squeeze=False, layout="constrained"
    )
    colors = [COLORS[c] for c in CLASSES]
    end = max(summary.duration_s, summary.times[-1] if summary.times else 0.0) or 1.0
    if not faces:
        ax = axes[0, 0]
        ax.text(0.5, 0.5, "no faces found", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    for ax, fid in zip(axes[:, 0], faces):
        pts = summary.series[fid]
        t = np.array([p[0] for p in pts])
        probs = np.array([p[1] for p in pts]).T  # (7, n)
        # gaps (face not seen for more than two analysed steps) are left blank
        gap = 2.5 * summary.step_s
        breaks = np.where(np.diff(t) > gap)[0] + 1
        for seg_t, seg_p in zip(np.split(t, breaks), np.split(probs, breaks, axis=1)):
            # each analysed frame stands for the time until the next one
            seg_t = np.append(seg_t, seg_t[-1] + summary.step_s)
            seg_p = np.concatenate([seg_p, seg_p[:, -1:]], axis=1)
            ax.stackplot(seg_t, seg_p, colors=colors, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_xlim(0, end)
        ax.set_ylabel(f"face #{fid}")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
    fig.legend(handles, CLASSES, loc="outside right upper", frameon=False)
    axes[-1, 0].set_xlabel("time (s)" if summary.kind == "video" else "image")
    fig.suptitle(f"{summary.source}: expression probabilities over time", fontsize=10)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
    return path
