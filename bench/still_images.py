"""Still images (image uploads, folders of images): ml's ``FrameAnalyzer.analyze(image)`` against fer's
``FER().detect_emotions(image)``, side by side: time, faces found, false faces.

    python bench/still_images.py [--rounds 3] [--no-fer] [--set scan_neighbors=1] [--json out.json]

Images, 640x480 (tests/scenes.py): each real photo of ../shared/datasets/faces with its faces
known (``scenes.EDIT_PHOTOS``) framed so that its first face is 60 px wide and again at 150 px,
at a random place; the astronaut scenes (stretched to 640x480, a 4:3 crop, two 62-px copies, a 50-60 px
face on a room: their middle frames) and bench/frame_speed.py's camera frame. Each image goes through
ml then fer, ``--rounds`` times, interleaved (both see the same machine load); the time of each is
its median. Recall: true faces with a reported box of IoU >= 0.4; false faces: reported boxes on no
true face. ``--set NAME=VALUE`` tries a FaceDetector setting (``scan_neighbors``: the first look's
strictness above the first octave; ``min_neighbors``: the second look's and the first octave's;
``min_face``; ``scale_factor``).
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import ml  # noqa: E402
import samples  # noqa: E402
import scenes  # noqa: E402
from ml.tracking import iou  # noqa: E402
from peer import footer, load_fer, try_settings  # noqa: E402


def images() -> list[tuple[str, np.ndarray, list]]:
    out = []
    if scenes.have_edit_photos():
        rng = np.random.default_rng(0)
        for name, (boxes, part) in sorted(scenes.EDIT_PHOTOS.items()):
            image = cv2.imread(str(scenes.FACES_DIR / name), cv2.IMREAD_COLOR)
            if part is not None:
                px, py, pw, ph = part
                image = image[py : py + ph, px : px + pw]
                boxes = [(x - px, y - py, w, h) for x, y, w, h in boxes]
            for size in (60, 150):
                try:
                    frames, truth = scenes.shot(image, boxes, size, 1, rng, zoom=1.0)
                except ValueError:
                    continue
                out.append((f"{name[:28]} {size} px", frames[0], truth[0]))
    else:
        print(f"no face photos in {scenes.FACES_DIR}: astronaut images only")
    for scene in scenes.astronaut_still_scenes(seconds=1.0) + [scenes.astronaut_scene("astronaut 50-60 px", (50, 60), seconds=1.0)]:
        k = len(scene.frames) // 2
        out.append((scene.name, scene.frames[k], scene.truth[k]))
    out.append(("camera frame (frame_speed.py)", samples.camera_frame(640, 480), [(264, 104, 97, 97)]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-fer", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--json")
    a = p.parse_args()

    analyzer = ml.build_analyzer(warm_up=True)
    try_settings(analyzer, a.set)
    fer = load_fer(a.no_fer)
    todo = images()
    who = ["ml"] + (["fer"] if fer else [])
    run = {"ml": lambda img: [f["box"] for f in analyzer.analyze(img)]}
    if fer:
        run["fer"] = lambda img: [tuple(f["box"]) for f in fer.detect_emotions(img)]
    for img in (todo[0][1], todo[-1][1]):  # warm up
        for w in who:
            run[w](img)
    rows = []
    print(f"{'image':40s} {'faces':>5s} | {'ml ms':>7s} {'found':>5s} {'false':>5s} | {'fer ms':>7s} {'found':>5s} {'false':>5s}")
    for name, img, truth in todo:
        row = {"image": name, "faces": len(truth)}
        times = {w: [] for w in who}
        for _ in range(a.rounds):
            for w in who:
                t0 = time.perf_counter()
                boxes = run[w](img)
                times[w].append((time.perf_counter() - t0) * 1000)
                row[w] = {"found": sum(any(iou(t, b) >= 0.4 for b in boxes) for t in truth),
                          "false": sum(not any(iou(t, b) >= 0.4 for t in truth) for b in boxes)}
        for w in who:
            row[w]["ms"] = statistics.median(times[w])
        rows.append(row)
        line = f"{name[:40]:40s} {len(truth):5d} | {row['ml']['ms']:7.1f} {row['ml']['found']:5d} {row['ml']['false']:5d} |"
        if fer:
            line += f" {row['fer']['ms']:7.1f} {row['fer']['found']:5d} {row['fer']['false']:5d}"
        print(line, flush=True)
    faces = sum(r["faces"] for r in rows)
    summary = f"{len(rows)} images of 640x480, {faces} faces"
    for w in who:
        summary += (f"; {w}: found {sum(r[w]['found'] for r in rows)}/{faces}, {sum(r[w]['false'] for r in rows)} false faces, "
                    f"median {statistics.median(r[w]['ms'] for r in rows):.1f} ms")
    if fer:
        summary += (f"; ml / fer time: {sum(r['ml']['ms'] for r in rows) / sum(r['fer']['ms'] for r in rows):.2f} (total), "
                    f"median per image {statistics.median(r['ml']['ms'] / r['fer']['ms'] for r in rows):.2f}")
    print(summary)
    footer(__file__, rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
