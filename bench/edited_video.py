"""Edited videos and continuous ones: recorded media (``ml.analyze``) and live against fer, shot cuts.

    python bench/edited_video.py [--seconds 34] [--seeds 0] [--continuous-seconds 4] [--no-fer] [--json out.json]

Videos, each written once as an MPEG-4 file (tests/scenes.py):

- edited: shots of the real photos of ../shared/datasets/faces (``scenes.edited_scene``: faces
  56-200 px, drifting and zooming, each shot 0.5-2 s at its own brightness, about one shot in 8
  of an empty room) cut hard one to the next;
- continuous: the videos of bench/face_tracking.py (faces 40-250 px, drifting, growing,
  brightness between 0.55x and 1.3x; the astronaut scenes) and pictures that change a lot without a
  cut: pans of 4 and 16 px a frame, a person close to the camera walking across it, exposure
  jumps and a light switched (``scenes.pan_scene``, ``walking_scene``, ``exposure_scene``).

For each video, on the same frames, in the same process:

- recorded, ml: ``analyze_media(file, analyzer, csv=...)``, what ``python -m ml.analyze FILE --csv
  OUT.csv`` runs once the model is loaded (decoding, tracking with hindsight, the CSV), its rows
  read back; its wall time;
- recorded, fer: the same file decoded (PyAV) and every frame through ``FER().detect_emotions``;
  its wall time. ``time`` is ml's over fer's;
- live, ml: every frame through ``FrameAnalyzer.analyze(frame, tracker, t)`` (the live server's
  causal tracker); at each cut of an edited video, the frames until each face of the new shot is
  reported (0: in the new shot's first frame) and the frames of the new shot in which a face of
  the previous shot is still reported (a stale face; target 0);
- shot cuts (``ml.shots.ShotCuts``): cuts found and missed, false cuts per minute of the
  continuous videos, and the similarity's margin (the highest at a true cut, the lowest between
  two frames of one shot), and of ../shared/datasets/faces/short_hamilton_clip.mp4 (a real,
  dark concert clip with 3 cuts, at frames 20, 82 and 211).

Recall and false faces as bench/face_tracking.py counts them (IoU >= 0.4; a false face counted once
per appearance). Needs the photos (the edited videos and the photo videos) and fer
(bench/requirements.txt; without it ml alone).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # scenes.py, samples.py: the test videos
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
import cv2  # noqa: E402

import ml  # noqa: E402
import scenes  # noqa: E402
from face_tracking import score  # noqa: E402
from ml.recorded.pipeline import analyze_media  # noqa: E402
from ml.shots import ShotCuts  # noqa: E402
from ml.tracking import iou  # noqa: E402
from peer import footer, load_fer  # noqa: E402

HAMILTON = scenes.FACES_DIR / "short_hamilton_clip.mp4"
HAMILTON_CUTS = [20, 82, 211]


def decode(path) -> list:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def csv_boxes(path, n) -> tuple[list, list]:
    """Per frame: the CSV's face boxes, and their sources."""
    boxes, sources = [[] for _ in range(n)], [[] for _ in range(n)]
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["face"]:
                k = int(row["frame"])
                boxes[k].append(tuple(int(row[c]) for c in "xywh"))
                sources[k].append(row["source"])
    return boxes, sources


def cut_delays(scene, live) -> tuple[list, list]:
    """For each cut: frames until each face of the new shot is reported (None: not within the shot),
    and the frames of the new shot where a face of an id reported before the cut is still shown."""
    delays, stale = [], []
    starts = scene.cuts + [len(scene.frames)]
    for cut, end in zip(starts[:-1], starts[1:]):
        before = {f["id"] for faces in live[max(0, cut - 1) : cut] for f in faces}
        stale.append(sum(any(f["id"] in before for f in live[k]) for k in range(cut, end)))
        for truth in scene.truth[cut]:
            found = next((k - cut for k in range(cut, end) if any(iou(truth, f["box"]) >= 0.4 for f in live[k])), None)
            delays.append(found)
    return delays, stale


def cut_check(frames, cuts) -> dict:
    """ShotCuts on the frames: cuts found, missed, false; the similarity at true cuts and between."""
    c = ShotCuts()
    found, at_cuts, within = [], [], []
    for k, frame in enumerate(frames):
        is_cut = c.is_cut(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        if k == 0:
            continue
        (at_cuts if k in cuts else within).append(c.similarity)
        if is_cut:
            found.append(k)
    return {"cuts": len(cuts), "found": len(set(found) & set(cuts)), "false": len(set(found) - set(cuts)),
            "max_at_cut": max(at_cuts, default=None), "min_within": min(within, default=None)}


def run(scene, analyzer, fer, tmp) -> dict:
    path = Path(tmp) / "video.mp4"
    scenes.write_video(scene.frames, path, scene.fps)
    frames = decode(path)  # what every contender sees: the file's frames
    n = len(frames)
    minutes = n / scene.fps / 60
    truth_scene = scenes.Scene(scene.name, frames, scene.truth[:n], scene.fps, scene.cuts)
    row = {"video": scene.name, "frames": n, "seconds": round(n / scene.fps, 1), "cuts": len(scene.cuts),
           "pairs": sum(len(t) for t in truth_scene.truth)}

    t0 = time.perf_counter()
    analyze_media(path, analyzer, csv=Path(tmp) / "out.csv", plot=None)
    ml_s = time.perf_counter() - t0
    boxes, sources = csv_boxes(Path(tmp) / "out.csv", n)
    filled = sum(s != "detected" for frame in sources for s in frame)
    row["recorded"] = {**score(truth_scene, boxes), "seconds": ml_s, "filled_rows": filled}

    tracker = ml.FaceTracker()
    live, ms = [], []
    for k, frame in enumerate(frames):
        t0 = time.perf_counter()
        live.append(analyzer.analyze(frame, tracker, k / scene.fps))
        ms.append((time.perf_counter() - t0) * 1000)
    row["live"] = {**score(truth_scene, [[f["box"] for f in faces] for faces in live]), "ms": statistics.median(ms)}
    if scene.cuts:
        delays, stale = cut_delays(truth_scene, live)
        found = [d for d in delays if d is not None]
        row["live"].update({
            "new_faces": len(delays), "new_found": len(found),
            "delay_mean": statistics.mean(found) if found else None, "delay_max": max(found, default=None),
            "delay_0": sum(d == 0 for d in found), "stale_frames": sum(stale), "cuts_with_stale": sum(s > 0 for s in stale),
        })
    row["shots"] = cut_check(frames, set(scene.cuts))

    if fer is not None:
        t0 = time.perf_counter()
        theirs = [[tuple(f["box"]) for f in fer.detect_emotions(frame)] for frame in decode(path)]
        fer_s = time.perf_counter() - t0
        row["fer"] = {**score(truth_scene, theirs), "seconds": fer_s}
        row["time"] = ml_s / fer_s
    row["minutes"] = minutes
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=34.0, help="length of each edited video (default 34)")
    p.add_argument("--seeds", default="0", help="edited videos to make, by seed: 0,1,2 (default 0)")
    p.add_argument("--continuous-seconds", type=float, default=4.0, help="length of each continuous video (default 4)")
    p.add_argument("--no-fer", action="store_true", help="ml alone")
    p.add_argument("--only", help="only the videos whose name contains this")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args()

    analyzer = ml.build_analyzer(warm_up=True)
    fer = load_fer(a.no_fer)
    makers = []
    if scenes.have_edit_photos():
        makers += [("edited", lambda s=int(s): [scenes.edited_scene(seconds=a.seconds, seed=s)]) for s in a.seeds.split(",")]
    else:
        print(f"no face photos in {scenes.FACES_DIR}: no edited videos, no photo videos")
    c = a.continuous_seconds
    if scenes.have_photos():
        makers.append(("continuous", lambda: scenes.photo_scenes(seconds=c)))
    makers.append(("continuous", lambda: scenes.astronaut_still_scenes(seconds=c / 2)
                   + [scenes.astronaut_scene("astronaut 50-60 px", (50, 60), seconds=c)]
                   + [scenes.pan_scene(seconds=c, speed=v) for v in (4, 16)]
                   + [scenes.walking_scene(seconds=c, speed=8, size=160), scenes.exposure_scene(seconds=c)]))
    rows = []
    head = (f"{'video':40s} | {'recorded recall':>15s} {'false/min':>9s} {'filled':>6s} | {'live recall':>11s} "
            f"{'false/min':>9s} | {'fer recall':>10s} {'false/min':>9s} | {'time':>5s} | cuts found/false")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for group, make in makers:
            for scene in make():
                if a.only and a.only not in scene.name:
                    continue
                row = run(scene, analyzer, fer, tmp)
                row["group"] = group
                rows.append(row)
                r, lv, f = row["recorded"], row["live"], row.get("fer")
                line = (f"{row['video'][:40]:40s} | {r['recall']:15.1%} {r['false_faces_per_min']:9.1f} {r['filled_rows']:6d} | "
                        f"{lv['recall']:11.1%} {lv['false_faces_per_min']:9.1f} |")
                line += f" {f['recall']:10.1%} {f['false_faces_per_min']:9.1f} | {row['time']:5.2f} |" if f else f" {'':10s} {'':9s} | {'':5s} |"
                line += f" {row['shots']['found']}/{row['cuts']} false {row['shots']['false']}"
                print(line, flush=True)
                if "new_faces" in lv:
                    print(f"    live at the {row['cuts']} cuts: {lv['new_found']}/{lv['new_faces']} new faces reported, "
                          f"{lv['delay_0']} in the new shot's first frame, mean delay {lv['delay_mean']:.2f} frames, "
                          f"max {lv['delay_max']}; stale faces after a cut: {lv['stale_frames']} frames "
                          f"({lv['cuts_with_stale']} cuts); similarity at cuts <= {row['shots']['max_at_cut']:.3f}, "
                          f"within shots >= {row['shots']['min_within']:.3f}")
    for group in ("edited", "continuous"):
        part = [r for r in rows if r["group"] == group]
        if not part:
            continue
        frames = sum(r["frames"] for r in part)
        minutes = sum(r["minutes"] for r in part)

        def pooled(who, key):
            if key == "recall":
                return sum(r[who]["recall"] * r["pairs"] for r in part) / max(1, sum(r["pairs"] for r in part))
            return sum(r[who][key] * r["minutes"] for r in part) / minutes

        line = f"{group}: {len(part)} videos, {minutes * 60:.0f} s, {frames} frames"
        for who in ("recorded", "live", "fer"):
            if who in part[0]:
                line += f"; {who}: recall {pooled(who, 'recall'):.1%}, {pooled(who, 'false_faces_per_min'):.1f} false faces/min"
        if "time" in part[0]:
            line += (f"; recorded ml / fer time: {sum(r['recorded']['seconds'] for r in part) / sum(r['fer']['seconds'] for r in part):.2f}"
                     f" (median over videos {statistics.median(r['time'] for r in part):.2f})")
        cuts = sum(r["shots"]["cuts"] for r in part)
        line += f"; cuts found {sum(r['shots']['found'] for r in part)}/{cuts}, false cuts {sum(r['shots']['false'] for r in part)}"
        line += f" ({sum(r['shots']['false'] for r in part) / minutes:.2f}/min)"
        print(line)
    if HAMILTON.is_file():
        h = cut_check(decode(HAMILTON), set(HAMILTON_CUTS))
        print(f"{HAMILTON.name}: cuts found {h['found']}/{h['cuts']}, false {h['false']}; similarity at cuts <= "
              f"{h['max_at_cut']:.3f}, within shots >= {h['min_within']:.3f}")
    footer(__file__, rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
