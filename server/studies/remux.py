"""A screen recording's chunks joined and remuxed into one WebM file that a browser can seek (blocking; PyAV).

    done = join_and_remux([chunk0, chunk1, ...], Path("screen.webm"))   # Remuxed(duration_s, size, packets)

The browser's ``MediaRecorder`` writes one WebM stream cut into chunks: the first chunk holds the
header, the others continue it, and no chunk says how long the whole is or where its key frames
are. Joined in order they play from the start but cannot be seeked. Remuxing copies every
packet as it is (no decoding, no encoding) into a new WebM whose muxer writes the duration and
the cues (the key frames' index) that seeking needs. Timestamps are shifted so that the first
frame is at 0. A chunk that never arrived leaves a hole: the packets after it keep their time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import av


class RemuxError(ValueError):
    """The chunks are not a recording that can be played (its text says why)."""


@dataclass
class Remuxed:
    duration_s: float
    size: int
    packets: int


def join(chunks: list[Path], joined: Path) -> None:
    with open(joined, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as f:
                shutil.copyfileobj(f, out, 1024 * 1024)


def join_and_remux(chunks: list[Path], out: Path) -> Remuxed:
    """``chunks`` in order -> ``out`` (written beside as ``.part``, then renamed). RemuxError if nothing plays."""
    if not chunks:
        raise RemuxError("no chunk of the recording arrived")
    joined, part = out.with_name(out.name + ".joined"), out.with_name(out.name + ".part")
    try:
        join(chunks, joined)
        packets = _remux(joined, part)
        os.replace(part, out)
    finally:
        for leftover in (joined, part):
            leftover.unlink(missing_ok=True)
    return remuxed(out, packets)


def remuxed(path: Path, packets: int = 0) -> Remuxed:
    """A remuxed file's duration (from its header) and size."""
    with av.open(str(path)) as check:
        return Remuxed((check.duration or 0) / av.time_base, path.stat().st_size, packets)


def _remux(src: Path, dst: Path) -> int:
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as e:
        raise RemuxError(f"the recording cannot be read ({e.strerror or e}): its first chunk is missing or damaged") \
            from None
    with inp:
        if not inp.streams.video:
            raise RemuxError("the recording has no video")
        video = inp.streams.video[0]
        n, first, last = 0, None, None
        with av.open(str(dst), "w", format="webm") as out:
            stream = out.add_stream_from_template(video)
            try:
                for packet in inp.demux(video):
                    if packet.dts is None or packet.pts is None:  # the demuxer's flush packet
                        continue
                    first = packet.dts if first is None else first
                    if last is not None and packet.dts - first <= last:  # damaged data going back in time
                        continue
                    packet.dts -= first
                    packet.pts -= first
                    last = packet.dts
                    packet.stream = stream
                    out.mux(packet)
                    n += 1
            except av.error.FFmpegError:  # damaged data at the end (a chunk cut short): keep what came before
                pass
    if not n:
        raise RemuxError("the recording has no frame")
    return n
