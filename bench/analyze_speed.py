"""How fast ``python -m ml.analyze`` runs compared with real time, on 640x480 video with one face.

    python bench/analyze_speed.py [--seconds 20] [--fps 30] [--batch 8] [--every 1] [--model NAME]

Makes an H.264 640x480 video of scikit-image's astronaut (a real face, moving a little
each frame), then times the analysis pipeline of the CLI (``ml.recorded.analyze_media``:
decode, detect, classify in batches, track, CSV, annotated H.264 video, timeline PNG)
with the model already loaded, and the whole CLI command (including Python, TensorFlow
and model start-up). Prints frames per second and the speed as a multiple of real time.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_video(path: Path, seconds: float, fps: int) -> int:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    base = np.full((480, 640, 3), 90, np.uint8)
    base[40:440, 150:490] = astronaut[0:400, 60:400]
    n = int(seconds * fps)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        s.options = {"crf": "20", "preset": "veryfast"}
        for i in range(n):
            dx = int(round(20 * np.sin(i / fps)))  # the head sways by up to 20 px
            frame = np.roll(base, dx, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--model", default=None)
    p.add_argument("--no-cli", action="store_true", help="skip timing the whole CLI command")
    a = p.parse_args()

    import ml
    from ml.recorded import analyze_media

    print(f"cpu cores: {os.cpu_count()}, model: {a.model or 'default'}, batch {a.batch}, every {a.every}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = tmp / "face_640x480.mp4"
        n = make_video(video, a.seconds, a.fps)
        print(f"input: {n} frames, 640x480, {a.fps} fps, {a.seconds:.0f} s of video (H.264)")

        t0 = time.perf_counter()
        analyzer = ml.FrameAnalyzer(a.model)
        print(f"model load: {time.perf_counter() - t0:.1f} s")
        analyze_media(video, analyzer, every=a.every, batch=a.batch)  # warm-up (first batches trace)

        for label, kwargs in (
            ("analysis + CSV", dict(csv=tmp / "o.csv")),
            ("analysis + CSV + annotated mp4 + plot", dict(csv=tmp / "o.csv", out=tmp / "o.mp4", plot=tmp / "o.png")),
        ):
            t0 = time.perf_counter()
            result = analyze_media(video, analyzer, every=a.every, batch=a.batch, **kwargs)
            dt = time.perf_counter() - t0
            print(
                f"{label:<40} {dt:6.2f} s  {n / dt:6.1f} frames/s  {a.seconds / dt:5.2f}x real time"
                f"  ({result.rows} CSV rows, {result.summary.faces_found} face id(s))"
            )

        if not a.no_cli:
            cmd = [sys.executable, "-m", "ml.analyze", str(video), "--csv", str(tmp / "c.csv"),
                   "--out", str(tmp / "c.mp4"), "--every", str(a.every), "--batch", str(a.batch), "--quiet"]
            if a.model:
                cmd += ["--model", a.model]
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            dt = time.perf_counter() - t0
            print(f"{'whole CLI command (with start-up)':<40} {dt:6.2f} s  {n / dt:6.1f} frames/s  "
                  f"{a.seconds / dt:5.2f}x real time")


if __name__ == "__main__":
    main()
