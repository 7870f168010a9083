"""Benchmark the live server: an aiortc client streams a 640x480 face at 30 fps over loopback.

    python bench/live_stream.py [--duration 120] [--fps 30] [--slow-ms 0] [--url http://HOST:PORT]

Without --url it starts the real server (``python -m server``) on a free port and stops it
afterwards. ``--slow-ms N`` makes the server's analysis N ms slower per frame (a server
started by this script with an analyser that sleeps), to show that latency does not grow
when processing is slower than the camera. Prints, from the server's results:

- results per second (overall, and the median of 1-second windows),
- the server's processing time per frame (median, p90): decoding to BGR + ml.FrameAnalyzer,
- the end-to-end result latency (median, p90): from the client handing a frame to WebRTC
  until its result arrived, for the first and the last 20 s of the stream,
- the share of results with a face, with a box on the true face (IoU >= 0.4; found or held),
  and held; boxes elsewhere; distinct face ids; the share labelled happy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ml.tracking import iou  # noqa: E402
from server.client import FrameTrack, LiveClient  # noqa: E402

TRUE_FACE = (264, 104, 97, 97)  # where the face is in face_frame_640 (tests/samples.py)


def face_frame_640() -> np.ndarray:
    """The test suite's camera-like frame: the astronaut's head and shoulders on grey, 640x480 BGR."""
    from skimage import data

    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[40:440, 150:490] = bgr[0:400, 60:400]
    return frame


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_slow(port: int, slow_ms: float) -> None:
    """The real app, with an analyser slowed down by ``slow_ms`` per frame."""
    from aiohttp import web

    import ml
    from server import create_app

    class SlowAnalyzer:
        def __init__(self):
            self.inner = ml.build_analyzer(warm_up=True)
            self.classifier = self.inner.classifier

        def analyze(self, bgr, tracker=None, t=None):
            time.sleep(slow_ms / 1000)
            return self.inner.analyze(bgr, tracker, t)

    web.run_app(create_app(analyzer=SlowAnalyzer()), host="127.0.0.1", port=port, print=None)


async def wait_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no server at {url} after {timeout} s")
            await asyncio.sleep(0.5)


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


async def stream(url: str, duration: float, fps: float) -> dict:
    frame = face_frame_640()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "/ws", max_msg_size=0)
        client = LiveClient(ws)
        track = FrameTrack([frame], fps=fps)
        await client.start(track)
        t0 = time.time()
        while time.time() - t0 < duration:
            await asyncio.sleep(1)
            n = len(client.results)
            print(f"\r{time.time() - t0:5.0f} s  {n} results", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        await client.close()
    results, arrivals = client.results, client.arrivals
    start = track.sent_at(0) or t0
    e2e = [(a - start, (a - s) * 1000) for r, a in zip(results, arrivals) if (s := track.sent_at(r["timestamp"]))]
    settled = [(t, ms) for t, ms in e2e if t >= 5]  # the first seconds: WebRTC's bandwidth ramp-up
    first = [ms for t, ms in settled if t < 25]
    last = [ms for t, ms in settled if t >= duration - 20]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    windows = np.bincount(np.floor(np.array(arrivals[1:]) - arrivals[0]).astype(int))[:-1] if len(arrivals) > 2 else []
    faces = [r for r in results if r["faces"]]
    last_result = results[-1] if results else {}
    return {
        "duration_s": duration,
        "camera_fps": fps,
        "results": len(results),
        "results_per_s": (len(results) - 1) / span if span else float("nan"),
        "results_per_s_median_1s": float(np.median(windows)) if len(windows) else float("nan"),
        "processing_ms_median": pct([r["processing_ms"] for r in results], 50),
        "processing_ms_p90": pct([r["processing_ms"] for r in results], 90),
        "server_latency_ms_median": pct([r["latency_ms"] for r in results], 50),
        "e2e_latency_ms_median": pct([ms for _, ms in settled], 50),
        "e2e_latency_ms_p90": pct([ms for _, ms in settled], 90),
        "e2e_latency_ms_median_first_20s": pct(first, 50),
        "e2e_latency_ms_median_last_20s": pct(last, 50),
        "frames_received": last_result.get("frames_received"),
        "frames_dropped": last_result.get("frames_dropped"),
        "with_face": len(faces) / max(1, len(results)),
        "on_the_face": sum(any(iou(f["box"], TRUE_FACE) >= 0.4 for f in r["faces"]) for r in results) / max(1, len(results)),
        "held": sum(f["held"] for r in results for f in r["faces"]) / max(1, len(results)),
        "other_boxes": sum(iou(f["box"], TRUE_FACE) < 0.4 for r in results for f in r["faces"]),
        "face_ids": len({f["id"] for r in results for f in r["faces"]}),
        "happy": sum(r["faces"][0]["label"] == "happy" for r in faces) / max(1, len(faces)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server (default: start python -m server on a free port)")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of streaming (default 120)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default 30)")
    p.add_argument("--slow-ms", type=float, default=0.0, help="make the server's analysis this much slower")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--serve-slow", type=int, metavar="PORT", help=argparse.SUPPRESS)  # internal: the slow server
    a = p.parse_args()
    if a.serve_slow:
        serve_slow(a.serve_slow, a.slow_ms)
        return 0
    if a.url and a.slow_ms:
        p.error("--slow-ms needs the server this script starts (no --url)")
    proc = None
    url = a.url.rstrip("/") if a.url else None
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "server", "--port", str(port)]
        if a.slow_ms:
            cmd = [sys.executable, __file__, "--serve-slow", str(port), "--slow-ms", str(a.slow_ms)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(wait_up(url))
        figures = asyncio.run(stream(url, a.duration, a.fps))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    figures["command"] = "python " + " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:])
    for key, value in figures.items():
        print(f"{key:34s} {value:.1f}" if isinstance(value, float) else f"{key:34s} {value}")
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
