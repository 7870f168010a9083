"""Time ml's analysis of a frame against fer's FER().detect_emotions, side by side, with the faces found.

    python bench/frame_speed.py [--model default] [--rounds 5] [--calls 40]

All run on 640x480 frames, interleaved round by round so that both see the same machine load:
one real face (tests/samples.py: camera_frame), nobody (a room of tests/scenes.py), two faces:

- ``ml`` tracked: ``FrameAnalyzer.analyze(frame, tracker, t)``, a frame of a video (the
  live server and ``ml.analyze``): the face re-found near its last box plus one slice of
  the scan for new faces; with nobody in view, a third of the scan;
- ``ml`` still image: ``FrameAnalyzer.analyze(frame)``, the whole scan (faces from 34 px) and a
  second look at each candidate;
- ``fer``: ``FER().detect_emotions(frame)`` on the same frames.

Each time is printed beside the faces found in the timed calls (a time counts only where
the face was found): the median milliseconds per frame of each, their ratio, the detector's
parts and the classifier's milliseconds per face. Then, with nobody in view, how many frames a
face that comes into the picture (40-160 px, anywhere) takes to be reported, over ``--arrivals``
tries. Videos of real faces of every size: ``bench/face_tracking.py``; still photos:
``bench/still_images.py``. Needs fer (see bench/requirements.txt); without it, only ml is timed.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # samples.py: test scenes

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import ml  # noqa: E402
import samples  # noqa: E402
import scenes  # noqa: E402


def per_call_ms(fn, calls):
    """Milliseconds per call, and the faces each call found."""
    found = []
    t = time.perf_counter()
    for _ in range(calls):
        found.append(len(fn()))
    return (time.perf_counter() - t) / calls * 1000, found


def timed(fn, calls, runs):
    ms, found = per_call_ms(fn, calls)
    runs["ms"].append(ms)
    runs["found"] += found


def iou(a, b):
    from ml.detector import iou as box_iou

    return box_iou(a, b)


def found_text(found, expected=1):
    right = sum(n == expected for n in found)
    what = {0: "no face", 1: "face"}.get(expected, f"{expected} faces")
    return f"{what} found in {right}/{len(found)} calls" + (f", other counts {sorted(set(found) - {expected})}" if right < len(found) else "")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--arrivals", type=int, default=40, help="faces coming into view, to time their reporting")
    a = p.parse_args()

    frame = samples.camera_frame(640, 480)
    empty = scenes.background(0)  # a room, nobody in it
    two = samples.camera_frame(left=0)
    two[:, 330:] = samples.camera_frame(left=330)[:, 330:]
    ours = ml.build_analyzer(a.model, warm_up=True)

    def tracked_on(picture):
        tracker = ml.FaceTracker()
        clock = iter(range(10**9))
        call = lambda: ours.analyze(picture, tracker, next(clock) / 30)  # noqa: E731
        for _ in range(30):  # the first second: the faces confirmed, the scan's slices planned
            call()
        return call

    tracked, tracked_empty, tracked_two = tracked_on(frame), tracked_on(empty), tracked_on(two)
    try:
        from fer.fer import FER

        theirs = FER()
        for picture in (frame, empty, two):
            theirs.detect_emotions(picture)
    except ImportError:
        theirs = None
        print("fer is not installed (see bench/requirements.txt): timing ml only")

    runs = {k: {"ms": [], "found": []} for k in ("tracked", "still", "fer", "empty", "fer_empty", "two", "fer_two")}
    for _ in range(a.rounds):
        timed(tracked, a.calls, runs["tracked"])
        timed(lambda: ours.analyze(frame), a.calls, runs["still"])
        timed(tracked_empty, a.calls, runs["empty"])
        timed(tracked_two, a.calls, runs["two"])
        if theirs is not None:
            timed(lambda: theirs.detect_emotions(frame), a.calls, runs["fer"])
            timed(lambda: theirs.detect_emotions(empty), a.calls, runs["fer_empty"])
            timed(lambda: theirs.detect_emotions(two), a.calls, runs["fer_two"])
    arrivals = face_arrivals(ours, empty, a.arrivals)

    clf, det = ours.classifier, ours.detector
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    one = ml.crop_faces(gray, [(264, 104, 97, 97)])
    eight = np.repeat(one, 8, axis=0)
    med = lambda fn, n: statistics.median(per_call_ms(fn, n)[0] for _ in range(a.rounds))  # noqa: E731
    face_ms = med(lambda: clf.predict(one), 100)
    batch_ms = med(lambda: clf.predict(eight), 50) / 8
    near_ms = med(lambda: det.detect_near(gray, (264, 104, 97, 97)), a.calls)
    slices = len(det._plan(gray.shape)[1])
    slice_ms = statistics.median(med(lambda: det.detect_slice(gray, k), max(1, a.calls // 4)) for k in range(slices))
    full_ms = med(lambda: det.detect_gray(gray), max(1, a.calls // 4))

    m = {k: statistics.median(v["ms"]) if v["ms"] else None for k, v in runs.items()}
    print(f"model {clf.name}; {a.rounds} rounds of {a.calls} calls; medians over rounds, {os.cpu_count()} CPU cores")
    print(f"ml tracked, a video frame         {m['tracked']:7.2f} ms per 640x480 frame   {found_text(runs['tracked']['found'])}")
    print(f"  detector: near the face         {near_ms:7.2f} ms")
    print(f"  detector: one of {slices} scan slices  {slice_ms:7.2f} ms (median slice)")
    print(f"ml still image (whole scan)       {m['still']:7.2f} ms per 640x480 frame   {found_text(runs['still']['found'])}")
    print(f"  detector: whole scan            {full_ms:7.2f} ms")
    print(f"classifier, one face              {face_ms:7.2f} ms")
    print(f"classifier, batch of 8            {batch_ms:7.2f} ms per face")
    print(f"ml tracked, nobody in view        {m['empty']:7.2f} ms per 640x480 frame   {found_text(runs['empty']['found'], 0)}")
    print(f"ml tracked, two faces             {m['two']:7.2f} ms per 640x480 frame   {found_text(runs['two']['found'], 2)}")
    if m["fer"] is not None:
        print(f"fer FER().detect_emotions         {m['fer']:7.2f} ms per 640x480 frame   {found_text(runs['fer']['found'])}")
        print(f"  nobody in view                  {m['fer_empty']:7.2f} ms per 640x480 frame   {found_text(runs['fer_empty']['found'], 0)}")
        print(f"  two faces                       {m['fer_two']:7.2f} ms per 640x480 frame   {found_text(runs['fer_two']['found'], 2)}")
        print(f"ratio ml tracked / fer            {m['tracked'] / m['fer']:7.3f}")
        print(f"ratio ml still image / fer        {m['still'] / m['fer']:7.3f}")
        print(f"ratio ml tracked / fer, nobody    {m['empty'] / m['fer_empty']:7.3f}")
        print(f"ratio ml tracked / fer, two faces {m['two'] / m['fer_two']:7.3f}")
    reported = [n for n in arrivals if n is not None]
    print(f"a face coming into view (nobody before): reported in {len(reported)}/{len(arrivals)} tries, "
          f"after {statistics.mean(reported):.1f} frames on average, {max(reported)} at most "
          f"({max(reported) / 30:.2f} s at 30 fps; 0: in the frame it appeared in)")


def face_arrivals(ours, empty, tries):
    """With nobody in view for 10-20 frames, a face (40-160 px, anywhere) comes into view and stays: per try,
    the frames until it is reported (0: in the frame it appeared in; None: not within a second)."""
    import numpy as np

    rng = np.random.default_rng(1)
    image, box = scenes.astronaut_head()
    out = []
    for _ in range(tries):
        tracker = ml.FaceTracker()
        before = int(rng.integers(10, 21))
        for k in range(before):
            ours.analyze(empty, tracker, k / 30)
        frame = empty.copy()
        size = float(rng.uniform(40, 160))
        centre = (rng.uniform(size, 640 - size), rng.uniform(size, 480 - size))
        truth = scenes._paste(frame, image, box, size, centre)
        found = None
        for k in range(30):
            if any(iou(f["box"], truth) >= 0.4 for f in ours.analyze(frame, tracker, (before + k) / 30)):
                found = k
                break
        out.append(found)
    return out


if __name__ == "__main__":
    main()
