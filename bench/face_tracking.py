"""Recall, false faces and time per frame of the tracked pipeline against fer, on videos of real faces.

    python bench/face_tracking.py [--seconds 4] [--no-fer] [--json out.json]

Videos (tests/scenes.py): the real face photos of ../shared/datasets/faces, faces 40-250 px
wide in 640x480, drifting, growing, brightness changing, one and two faces, MPEG-4 encoded;
and the astronaut scenes (stretched to 640x480, a 4:3 crop, two 62-px copies, one at 50-60 px).
Each frame goes through ``ml.FrameAnalyzer.analyze(frame, tracker, t)`` (a fresh
``ml.FaceTracker`` per video, as the live server and ``ml.analyze`` have it) and, right after,
through fer's ``FER().detect_emotions`` (same frame, same process, same machine load).

- recall: the share of (frame, true face) pairs where a reported box has IoU >= 0.4 with the face;
- found (ml only): the same with the face found in that frame (``"source": "detected"``), not
  held at its last box: what a study's figures and the upload summary count (``ml.schema.seen``);
- false faces per minute: reported boxes that match no true face, counted once per appearance
  (a false box that overlaps one of the previous frame counts again only if that one was not
  false), per minute of video; false boxes per minute counts every frame's;
- time: median milliseconds per frame from the second second on (steady state: the first
  frames of a video scan the whole frame while nothing is tracked).

The photo videos need ../shared/datasets/faces; without it only the astronaut scenes run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # scenes.py, samples.py: the test videos

import ml  # noqa: E402
import scenes  # noqa: E402
from ml.tracking import iou  # noqa: E402
from peer import footer, load_fer, try_settings  # noqa: E402

MATCH_IOU = 0.4


def score(scene, reported) -> dict:
    """Recall and false faces of one detector's boxes (``reported``: per frame, a list of boxes)."""
    pairs = hits = false_boxes = false_faces = 0
    previous_false: list = []
    for truth, boxes in zip(scene.truth, reported):
        pairs += len(truth)
        hits += sum(any(iou(t, b) >= MATCH_IOU for b in boxes) for t in truth)
        false = [b for b in boxes if not any(iou(t, b) >= MATCH_IOU for t in truth)]
        false_boxes += len(false)
        false_faces += sum(not any(iou(b, p) >= 0.3 for p in previous_false) for b in false)
        previous_false = false
    minutes = len(scene.frames) / scene.fps / 60
    return {
        "recall": hits / max(1, pairs),
        "false_faces_per_min": false_faces / minutes,
        "false_boxes_per_min": false_boxes / minutes,
    }


def run_scene(scene, analyzer, fer) -> dict:
    tracker = ml.FaceTracker()
    ours, theirs, ours_ms, fer_ms, held, found = [], [], [], [], 0, []
    for i, frame in enumerate(scene.frames):
        t0 = time.perf_counter()
        faces = analyzer.analyze(frame, tracker, i / scene.fps)
        ours_ms.append((time.perf_counter() - t0) * 1000)
        ours.append([f["box"] for f in faces])
        found.append([f["box"] for f in faces if not f["held"]])
        held += sum(f["held"] for f in faces)
        if fer is not None:
            t0 = time.perf_counter()
            peer = fer.detect_emotions(frame)
            fer_ms.append((time.perf_counter() - t0) * 1000)
            theirs.append([tuple(f["box"]) for f in peer])
    steady = int(scene.fps)  # from the second second on
    row = {
        "scene": scene.name,
        "frames": len(scene.frames),
        "faces": max(len(t) for t in scene.truth),
        "ml": {**score(scene, ours), "found": score(scene, found)["recall"], "ms": statistics.median(ours_ms[steady:]),
               "held_boxes": held, "ids": tracker._next_id - 1},
    }
    if fer is not None:
        row["fer"] = {**score(scene, theirs), "ms": statistics.median(fer_ms[steady:])}
        row["ratio"] = row["ml"]["ms"] / row["fer"]["ms"]
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each photo video (default 4)")
    p.add_argument("--no-fer", action="store_true", help="time ml alone")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a FaceDetector setting to try instead of the default (e.g. scale_factor=1.2)")
    p.add_argument("--only", help="only the videos whose name contains this")
    a = p.parse_args()

    analyzer = ml.build_analyzer(warm_up=True)
    try_settings(analyzer, a.set)
    fer = load_fer(a.no_fer)

    makers = []
    if scenes.have_photos():
        makers.append(("photos", lambda: scenes.photo_scenes(seconds=a.seconds)))
    else:
        print(f"no face photos in {scenes.FACES_DIR}: astronaut scenes only")
    makers.append(("astronaut", lambda: scenes.astronaut_still_scenes(seconds=a.seconds / 2)
                   + [scenes.astronaut_scene("astronaut 50-60 px", (50, 60), seconds=a.seconds)]))
    rows = []
    print(f"{'scene':36s} {'faces':>5s} | {'ml recall':>9s} {'found':>6s} {'false/min':>9s} {'ms':>6s} | "
          f"{'fer recall':>10s} {'false/min':>9s} {'ms':>6s} | {'ratio':>5s}")
    for group, make in makers:
        for scene in make():
            if a.only and a.only not in scene.name:
                continue
            row = run_scene(scene, analyzer, fer)
            row["group"] = group
            rows.append(row)
            m, f = row["ml"], row.get("fer")
            line = (f"{row['scene'][:36]:36s} {row['faces']:5d} | {m['recall']:9.1%} {m['found']:6.1%} "
                    f"{m['false_faces_per_min']:9.1f} {m['ms']:6.1f} |")
            if f:
                line += f" {f['recall']:10.1%} {f['false_faces_per_min']:9.1f} {f['ms']:6.1f} | {row['ratio']:5.2f}"
            print(line, flush=True)
    for group in ("photos", "astronaut"):
        part = [r for r in rows if r["group"] == group]
        if not part:
            continue
        pairs = sum(r["frames"] * r["faces"] for r in part)
        minutes = sum(r["frames"] for r in part) / scenes.FPS / 60
        summary = f"{group}: {len(part)} videos, {minutes * 60:.0f} s"
        for who in ("ml", "fer"):
            if who not in part[0]:
                continue
            recall = sum(r[who]["recall"] * r["frames"] * r["faces"] for r in part) / pairs
            false = sum(r[who]["false_faces_per_min"] * r["frames"] for r in part) / sum(r["frames"] for r in part)
            summary += f"; {who}: recall {recall:.1%}"
            if "found" in part[0][who]:
                summary += f" (found {sum(r[who]['found'] * r['frames'] * r['faces'] for r in part) / pairs:.1%})"
            summary += f", {false:.1f} false faces/min, median {statistics.median(r[who]['ms'] for r in part):.1f} ms/frame"
        if "ratio" in part[0]:
            summary += f"; ml/fer time, median over videos {statistics.median(r['ratio'] for r in part):.2f}"
        print(summary)
    footer(__file__, rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
