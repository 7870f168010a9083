"""Time ml.FrameAnalyzer.analyze against fer's FER().detect_emotions, side by side.

    python bench/frame_speed.py [--model default] [--rounds 5] [--calls 40]

Both run on the same 640x480 frame with one real face (tests/samples.py: camera_frame),
interleaved round by round so that both see the same machine load. Prints the
median milliseconds per frame of each, their ratio, and the classifier's
milliseconds per face (one face, and per face in a batch of 8).
Needs fer (see bench/requirements.txt); without it, only ml is timed.
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


def per_call_ms(fn, calls):
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=40)
    a = p.parse_args()

    frame = samples.camera_frame(640, 480)
    ours = ml.FrameAnalyzer(a.model)
    assert len(ours.analyze(frame)) == 1, "ml finds one face"
    try:
        from fer.fer import FER

        theirs = FER()
        found = theirs.detect_emotions(frame)
        print(f"fer finds {len(found)} face(s): {[max(f['emotions'], key=f['emotions'].get) for f in found]}")
    except ImportError:
        theirs = None
        print("fer is not installed (see bench/requirements.txt): timing ml only")

    ml_ms, fer_ms = [], []
    for _ in range(a.rounds):
        ml_ms.append(per_call_ms(lambda: ours.analyze(frame), a.calls))
        if theirs is not None:
            fer_ms.append(per_call_ms(lambda: theirs.detect_emotions(frame), a.calls))

    clf = ours.classifier
    one = ml.crop_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), [(264, 104, 97, 97)])
    eight = np.repeat(one, 8, axis=0)
    face_ms = statistics.median(per_call_ms(lambda: clf.predict(one), 100) for _ in range(a.rounds))
    batch_ms = statistics.median(per_call_ms(lambda: clf.predict(eight), 50) for _ in range(a.rounds)) / 8
    det = ours.detector
    det_ms = statistics.median(per_call_ms(lambda: det.detect(frame), a.calls) for _ in range(a.rounds))

    print(f"model {clf.name}; {a.rounds} rounds of {a.calls} calls; medians over rounds, {os.cpu_count()} CPU cores")
    print(f"ml.FrameAnalyzer.analyze     {statistics.median(ml_ms):7.2f} ms per 640x480 frame")
    print(f"  of which FaceDetector      {det_ms:7.2f} ms")
    print(f"  classifier, one face       {face_ms:7.2f} ms")
    print(f"  classifier, batch of 8     {batch_ms:7.2f} ms per face")
    if fer_ms:
        print(f"fer FER().detect_emotions    {statistics.median(fer_ms):7.2f} ms per 640x480 frame")
        print(f"ratio ml / fer               {statistics.median(ml_ms) / statistics.median(fer_ms):7.3f}")


if __name__ == "__main__":
    main()
