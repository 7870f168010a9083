"""Screen recordings as a browser's MediaRecorder sends them: one live WebM stream (no duration, no cues)
cut into chunks, made here with PyAV (VP8; the browser tests record real ones in Chromium)."""

from __future__ import annotations

import io

import av
import numpy as np

CLUSTER_ID = b"\x1f\x43\xb6\x75"


def shade(second: int) -> int:
    """The grey of every frame in ``second``: a decoded frame tells which second it is."""
    return 30 + 20 * (second % 10)


def recorder_chunks(seconds: float, fps: int = 10, chunk_s: float = 2.0, size=(320, 240)) -> list[bytes]:
    """``seconds`` of video (each second a flat grey, ``shade``), a key frame every second, as the chunks of
    a recorder with a timeslice of ``chunk_s``: the first holds the header."""
    out = io.BytesIO()
    with av.open(out, "w", format="webm", options={"live": "1", "cluster_time_limit": "1000"}) as c:
        stream = c.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"g": str(fps), "deadline": "realtime", "cpu-used": "8"}
        for i in range(round(seconds * fps)):
            img = np.full((size[1], size[0], 3), shade(int(i / fps)), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    data = out.getvalue()
    starts = [i for i in range(len(data)) if data.startswith(CLUSTER_ID, i)]
    per = max(1, round(chunk_s))  # clusters are a second each
    cuts = [0] + starts[per::per] + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]
