"""Recall, false faces and time of the tracked pipeline for several FaceDetector settings.

    python bench/detector_tradeoff.py [--seconds 3]

The videos of bench/face_tracking.py (real face photos 40-250 px wide in 640x480, and the
astronaut scenes), each through ``ml.FrameAnalyzer.analyze(frame, tracker, t)`` with each
setting in turn (fer is not run: bench/face_tracking.py compares with it). Prints, per
setting, the recall over all faces and frames, false faces per minute, the median over
videos of the steady-state milliseconds per frame, and that time relative to the defaults
measured in the same run (the machine may be shared: compare ratios, not times).
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import face_tracking  # noqa: E402
import ml  # noqa: E402
import scenes  # noqa: E402

SETTINGS = [
    {},  # the defaults: faces from 1/14 of the shorter side, step 1.1, 12 slices
    dict(scale_factor=1.2),
    dict(slices=4),
    dict(slices=8),
    dict(min_face=1 / 12),
    dict(near_neighbors=5),
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    analyzer = ml.build_analyzer(warm_up=True)
    videos = (scenes.photo_scenes(seconds=a.seconds) if scenes.have_photos() else []) + [
        scenes.astronaut_scene("astronaut 50-60 px", (50, 60), seconds=a.seconds)
    ]
    base = None
    print(f"{len(videos)} videos of {a.seconds:g} s")
    for kw in SETTINGS:
        analyzer.detector = ml.FaceDetector(**kw)
        rows = [face_tracking.run_scene(v, analyzer, None) for v in videos]
        pairs = sum(r["frames"] * r["faces"] for r in rows)
        recall = sum(r["ml"]["recall"] * r["frames"] * r["faces"] for r in rows) / pairs
        false = statistics.mean(r["ml"]["false_faces_per_min"] for r in rows)
        ms = statistics.median(r["ml"]["ms"] for r in rows)
        base = base or ms
        name = ", ".join(f"{k}={v:.3g}" for k, v in kw.items()) or "defaults"
        print(f"{name:<28} recall {recall:6.1%}  {false:5.1f} false faces/min  {ms:6.1f} ms/frame  x{ms / base:4.2f}", flush=True)


if __name__ == "__main__":
    main()
