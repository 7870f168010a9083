"""Recorded media in and out: frames from a video, an image or a folder of images, with
clear errors naming the file, and annotated output written atomically.

    src = open_media("talk.mp4")          # MediaError if missing, empty, corrupt or unsupported
    src.kind, src.fps, src.frame_count    # "video" | "image" | "folder"
    src = open_media("upload.png", MediaLimits(max_pixels=40_000_000, frame_side=1920))
                                          # MediaError if the header says it is too large;
                                          # frames come scaled down to 1920 on their longest side
    for frame in src.frames():            # Frame(index, time_s, image (BGR uint8), name)
        ...

    with MediaOutput("talk.annotated.mp4", src) as out:   # H.264 mp4 (or VP9 webm, images)
        out.write(frame, bgr)                             # nothing at that path until close()

Outputs are written under a temporary name next to the target and renamed into place
only when complete; on an error (or without ``commit``) the partial file is removed.
The partial file is its owner's only (0600) while it is written; once in place it gets
the mode a new file gets (the umask), unless its folder is its owner's only: then it
stays 0600.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
OUTPUT_VIDEO_EXTS = (".mp4", ".webm")
# time between the images of a folder in the CSV and the timeline: a folder is a slide show
IMAGE_INTERVAL_S = 1.0


def is_own_output(path: str | os.PathLike) -> bool:
    """A file ``python -m ml.analyze`` writes by default (``NAME.timeline.png``, ``NAME.annotated.EXT``):
    a folder analysed again does not read its own earlier outputs as input images."""
    name = Path(path).name.lower()
    return name.endswith(".timeline.png") or ".annotated." in name


class MediaError(Exception):
    """A file that cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class MediaLimits:
    """Limits checked from a file's header before anything is decoded (a small file can hold a huge
    picture: a 700 kB PNG of 16000x16000 decodes to 768 MB), and the size frames are decoded to.

    ``None`` is no limit. A video whose frames turn out larger than its header said, longer
    than ``max_duration_s``, more than ``max_frames``, or more than ``max_fps`` a second, fails
    with ``MediaError`` while decoding.

    ``max_streams`` bounds the streams (tracks) read from a container's header at all: FFmpeg
    opens a decoder for each while it probes the file, so a 10 MB MKV of 1,000 video tracks
    took 1 GB before anything was checked; past the limit the container is not read further.
    Of the streams, one video stream is decoded, the others are skipped unread.
    """

    max_pixels: int | None = None  # width x height of an image or a video frame
    max_side: int | None = None  # longest side of an image or a video frame
    max_duration_s: float | None = None  # of a video
    frame_side: int | None = None  # decoded frames are scaled down to at most this on their longest side
    max_streams: int | None = None  # streams (tracks) of a container: video, audio, subtitles, data
    max_frames: int | None = None  # frames of a video
    max_fps: float | None = None  # frames a second of a video

    def check_frames(self, path, frames: int, fps: float) -> None:
        """The header's frame count and rate; MediaError if over the limits."""
        if self.max_fps is not None and fps > self.max_fps:
            raise MediaError(f"{path}: the video has {fps:g} frames a second; at most {self.max_fps:g} are analysed")
        if self.max_frames is not None and frames > self.max_frames:
            raise MediaError(f"{path}: the video has {frames} frames; at most {self.max_frames} are analysed")

    def check_decoded(self, path, index: int, time_s: float) -> None:
        """Frame ``index`` (from 0) decoded at ``time_s``: MediaError if the video turns out to have more
        frames, or more a second (over any stretch from its start, with a second's slack), than allowed."""
        if self.max_frames is not None and index >= self.max_frames:
            raise MediaError(f"{path}: the video has more than {self.max_frames} frames; "
                             f"at most {self.max_frames} are analysed")
        if self.max_fps is not None and index > self.max_fps * (max(0.0, time_s) + 1.0):
            raise MediaError(f"{path}: the video has more than {self.max_fps:g} frames a second; "
                             f"at most {self.max_fps:g} are analysed")

    def check_size(self, path, width: int, height: int) -> None:
        if self.max_side is not None and max(width, height) > self.max_side:
            raise MediaError(
                f"{path}: {width}x{height} pixels is too large (at most {self.max_side} pixels a side)"
            )
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise MediaError(
                f"{path}: {width}x{height} pixels is too large (at most {self.max_pixels / 1e6:g} megapixels)"
            )

    def check_duration(self, path, seconds: float) -> None:
        if self.max_duration_s is not None and seconds > self.max_duration_s:
            raise MediaError(
                f"{path}: the video is {_minutes(seconds)} long; at most {_minutes(self.max_duration_s)} is analysed"
            )

    def scaled(self, width: int, height: int) -> tuple[int, int]:
        """The size frames of ``width`` x ``height`` are decoded to (even sides when scaled)."""
        side = self.frame_side
        if side is None or max(width, height) <= side:
            return width, height
        f = side / max(width, height)
        return max(2, int(width * f) // 2 * 2), max(2, int(height * f) // 2 * 2)


NO_LIMITS = MediaLimits()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """An image's (width, height) from its header, without decoding its pixels; MediaError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except Image.DecompressionBombError:
        raise MediaError(f"{path}: the image is too large (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"{path}: corrupt or unreadable image ({_reason(e)})") from None


@dataclass
class Frame:
    index: int  # position in the source (every frame of a video counts)
    time_s: float  # from the start of the video (images: index * IMAGE_INTERVAL_S)
    image: np.ndarray | None  # uint8 BGR (H, W, 3); None when the frame was skipped undecoded
    name: str  # the file the frame came from


def supported_types() -> str:
    return ", ".join(e.lstrip(".") for e in VIDEO_EXTS + IMAGE_EXTS)


def media_kind(path: str | os.PathLike) -> str:
    """"video", "image" or "folder" from the path alone; MediaError if unsupported or missing."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    ext = path.suffix.lower()
    if ext in VIDEO_EXTS:
        kind = "video"
    elif ext in IMAGE_EXTS:
        kind = "image"
    else:
        raise MediaError(
            f"{path}: unsupported file type {ext or '(no extension)'!r}; supported: {supported_types()}, "
            "or a folder of images"
        )
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty")
    return kind


def read_image(path: str | os.PathLike, limits: MediaLimits = NO_LIMITS) -> np.ndarray:
    """A BGR uint8 image; MediaError naming the file if it is empty, not a decodable image, or (by its
    header, before decoding) larger than ``limits``; scaled down to ``limits.frame_side``."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty")
    reduce = cv2.IMREAD_COLOR
    if limits != NO_LIMITS:
        width, height = image_size(path)
        limits.check_size(path, width, height)
        if limits.frame_side is not None:  # JPEG decodes at 1/2, 1/4, 1/8 for almost nothing
            for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                 (2, cv2.IMREAD_REDUCED_COLOR_2)):
                if max(width, height) // factor >= limits.frame_side:
                    reduce = flag
                    break
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, reduce)
    del data
    if image is None:
        raise MediaError(f"{path}: corrupt or unreadable image")
    if image.shape[0] < 16 or image.shape[1] < 16:
        raise MediaError(f"{path}: image of {image.shape[1]}x{image.shape[0]} pixels is too small (16x16 at least)")
    w, h = limits.scaled(image.shape[1], image.shape[0])
    if (w, h) != (image.shape[1], image.shape[0]):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return image


class MediaSource:
    """Frames of one input; build it with :func:`open_media`."""

    kind: str
    path: Path
    fps: float
    frame_count: int  # exact for images, an estimate for videos (0 if unknown)
    width: int
    height: int
    start_utc: float | None = None  # when the recording began (seconds since the epoch), if the file says

    def frames(self, every: int = 1) -> Iterator[Frame]:
        raise NotImplementedError

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


class VideoSource(MediaSource):
    """A video's frames; with ``limits``, its header is checked before decoding and its frames are
    decoded scaled down (``width`` and ``height`` are then the scaled size)."""

    kind = "video"

    def __init__(self, path: Path, limits: MediaLimits = NO_LIMITS):
        import av

        self.path = path
        self.limits = limits
        try:
            with _open_container(path, limits) as container:
                if not container.streams.video:
                    raise MediaError(f"{path}: no video stream in the file")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                self.fps = float(rate) if rate else 25.0
                if stream.average_rate:  # measured from the frames' times (a guessed rate may be a time base)
                    limits.check_frames(path, stream.frames or 0, float(stream.average_rate))
                if not 0 < self.fps < 1000:
                    self.fps = 25.0
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                count = stream.frames
                if not count:
                    seconds = None
                    if stream.duration and stream.time_base:
                        seconds = float(stream.duration * stream.time_base)
                    elif container.duration:
                        seconds = container.duration / 1e6
                    count = int(round(seconds * self.fps)) if seconds else 0
                self.frame_count = int(count)
                self.start_utc = _creation_time(container.metadata or {})
        except MediaError:
            raise
        except (av.FFmpegError, OSError, ValueError) as e:
            raise MediaError(f"{path}: corrupt or unreadable video ({_reason(e)})") from None
        if not self.width or not self.height:
            raise MediaError(f"{path}: the video stream has no picture size (corrupt file?)")
        limits.check_size(path, self.width, self.height)
        limits.check_duration(path, self.duration_s)
        self.source_size = (self.width, self.height)
        self.width, self.height = limits.scaled(self.width, self.height)

    def frames(self, every: int = 1) -> Iterator[Frame]:
        """Every frame in order; ``image`` is decoded to BGR only for every ``every``-th frame."""
        import av

        index, start = 0, None
        limits = self.limits
        try:
            with _open_container(self.path, limits) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for other in container.streams:  # one video stream is decoded; the others are not even read
                    if other is not stream:
                        other.discard = av.stream.Discard.all
                for vf in container.decode(stream):
                    t = vf.time
                    if t is not None and start is None:
                        start = t
                    time_s = (t - start) if t is not None else index / self.fps
                    if limits != NO_LIMITS:  # the header may have lied
                        limits.check_size(self.path, vf.width, vf.height)
                        limits.check_duration(self.path, time_s)
                        limits.check_decoded(self.path, index, time_s)
                    image = None
                    if index % every == 0:
                        w, h = limits.scaled(vf.width, vf.height)
                        if (w, h) == (vf.width, vf.height):
                            image = vf.to_ndarray(format="bgr24")
                        else:  # scaled while converting: no full-size BGR copy
                            image = vf.to_ndarray(format="bgr24", width=w, height=h, interpolation="AREA")
                    del vf
                    yield Frame(index, round(float(time_s), 4), image, self.path.name)
                    index += 1
        except MediaError:
            raise
        except (av.FFmpegError, OSError, ValueError) as e:
            raise MediaError(f"{self.path}: corrupt video, decoding failed at frame {index} ({_reason(e)})") from None
        if index == 0:
            raise MediaError(f"{self.path}: the video has no decodable frames")


def _open_container(path: Path, limits: MediaLimits):
    """``av.open`` for reading, with at most ``limits.max_streams`` streams read from the header
    (FFmpeg's ``max_streams``: one more, to tell a container over the limit from one at it)."""
    import av

    if limits.max_streams is None:
        return av.open(str(path))
    try:
        container = av.open(str(path), container_options={"max_streams": str(limits.max_streams + 1)})
    except MemoryError:  # ENOMEM: the demuxer could not add a stream past the limit (MP4, MOV)
        raise MediaError(f"{path}: the file has more than {limits.max_streams} streams (tracks), or is damaged; "
                         f"at most {limits.max_streams} are read") from None
    if len(container.streams) > limits.max_streams:  # (MKV, WebM: the rest were left out)
        container.close()
        raise MediaError(f"{path}: the file has more than {limits.max_streams} streams (tracks); "
                         f"at most {limits.max_streams} are read")
    return container


class ImageSource(MediaSource):
    """A single image or the images of a folder (sorted by name), IMAGE_INTERVAL_S apart."""

    fps = 1.0 / IMAGE_INTERVAL_S

    def __init__(self, path: Path, files: list[Path], kind: str, limits: MediaLimits = NO_LIMITS):
        self.path, self.files, self.kind = path, files, kind
        self.limits = limits
        self.frame_count = len(files)
        first = read_image(files[0], limits)  # fail early on the first file
        self.height, self.width = first.shape[:2]

    def frames(self, every: int = 1) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            image = read_image(file, self.limits) if index % every == 0 else None
            yield Frame(index, index * IMAGE_INTERVAL_S, image, file.name)


_END = object()


def prefetch(iterable, size: int = 8):
    """Iterate ``iterable`` in a background thread, ``size`` items ahead (decoding overlaps analysis).

    Exceptions of the producer are raised in the consumer; stopping early stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce():
        try:
            for item in iterable:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as e:  # handed to the consumer
            q.put(e)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:  # a generator: release its file now, in this thread
                close()

    thread = threading.Thread(target=produce, name="media-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            thread.join(0.05)


def open_media(path: str | os.PathLike, limits: MediaLimits = NO_LIMITS) -> MediaSource:
    """Open a video, an image or a folder of images; MediaError (naming the file) if it cannot be read,
    or if its header says it is larger than ``limits``."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file or folder")
    kind = media_kind(path)
    if kind == "video":
        return VideoSource(path, limits)
    if kind == "image":
        return ImageSource(path, [path], "image", limits)
    images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    files = [p for p in images if not is_own_output(p)]
    if not files:
        skipped = f" ({len(images)} earlier outputs of ml.analyze skipped)" if images else ""
        raise MediaError(
            f"{path}: the folder has no images ({', '.join(e.lstrip('.') for e in IMAGE_EXTS)}){skipped}"
        )
    return ImageSource(path, files, "folder", limits)


def _reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(": '")[0].strip() or e.__class__.__name__


def temp_path(target: Path) -> Path:
    """A hidden temporary name next to ``target``, keeping its extension (formats go by it)."""
    return target.with_name(f".{target.stem}.part-{uuid.uuid4().hex[:8]}{target.suffix}")


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _umask() -> int:
    try:  # Linux: read, not set (setting it to read it is a race with other threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _published_mode(folder: Path, default: int) -> int:
    """The mode of a finished output: what a new file (folder) gets, or owner-only in an owner-only folder."""
    try:
        if os.stat(folder).st_mode & 0o077 == 0:
            return default & 0o700
    except OSError:
        pass
    return default & ~_umask()


class AtomicFile:
    """A path to write under a temporary name; ``commit()`` renames it into place, ``discard()`` removes it.

    The temporary file exists from the start, empty and 0600 (writers open it and keep its mode)."""

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        if not self.target.parent.is_dir():
            raise MediaError(f"{self.target}: the folder {self.target.parent} does not exist")
        self.tmp = temp_path(self.target)
        os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))

    def commit(self) -> Path:
        os.chmod(self.tmp, _published_mode(self.target.parent, 0o666))
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        _remove(self.tmp)


class VideoWriter:
    """Browser-playable video: H.264 (yuv420p, faststart) in .mp4, or VP9 in .webm."""

    CODECS = {".mp4": ("mp4", "libx264"), ".webm": ("webm", "libvpx-vp9")}

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
        import av

        path = Path(path)
        ext = path.suffix.lower()
        if ext not in self.CODECS:
            raise MediaError(f"{path}: annotated video must be .mp4 (H.264) or .webm (VP9)")
        self.file = AtomicFile(path)
        fmt, codec = self.CODECS[ext]
        # yuv420p needs even sides: drop a last odd row/column
        self.width, self.height = width - width % 2, height - height % 2
        options = {"movflags": "+faststart"} if fmt == "mp4" else {}
        try:
            self.container = av.open(str(self.file.tmp), mode="w", format=fmt, options=options)
            stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "23", "preset": "veryfast"}
            else:
                stream.options = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
            self.stream = stream
        except Exception as e:
            self.file.discard()
            raise MediaError(f"{path}: cannot write the video ({_reason(e)})") from None
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        import av

        if bgr.shape[0] != self.height or bgr.shape[1] != self.width:
            bgr = cv2.resize(bgr, (self.width, self.height)) if (
                bgr.shape[0] < self.height or bgr.shape[1] < self.width
            ) else bgr[: self.height, : self.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self, commit: bool = True) -> Path | None:
        try:
            if commit:
                for packet in self.stream.encode():
                    self.container.mux(packet)
        finally:
            self.container.close()
        if commit and self.frames:
            return self.file.commit()
        self.file.discard()
        return None


class ImageWriter:
    """Annotated images: one file for a single image, or a folder of them for a folder input."""

    def __init__(self, path: str | os.PathLike, single: bool):
        self.target = Path(path)
        self.single = single
        if single:
            if self.target.suffix.lower() not in IMAGE_EXTS:
                raise MediaError(f"{self.target}: annotated image needs an image extension (png, jpg, ...)")
            self.file = AtomicFile(self.target)
        else:
            if self.target.exists() and not self.target.is_dir():
                raise MediaError(f"{self.target}: exists and is not a folder (a folder input gives a folder)")
            if not self.target.parent.is_dir():
                raise MediaError(f"{self.target}: the folder {self.target.parent} does not exist")
            self.tmpdir = temp_path(self.target)
            self.tmpdir.mkdir(mode=0o700)
        self.written: list[str] = []

    def write(self, bgr: np.ndarray, name: str) -> None:
        dest = self.file.tmp if self.single else self.tmpdir / name
        ok, buf = cv2.imencode(dest.suffix or ".png", bgr)
        if not ok:
            raise MediaError(f"{dest}: cannot encode the annotated image")
        buf.tofile(str(dest))
        self.written.append(name)

    def close(self, commit: bool = True) -> Path | None:
        if self.single:
            if commit and self.written:
                return self.file.commit()
            self.file.discard()
            return None
        if not commit:
            _remove(self.tmpdir)
            return None
        if not self.target.exists():
            os.chmod(self.tmpdir, _published_mode(self.target.parent, 0o777))
            os.replace(self.tmpdir, self.target)
        else:  # an existing folder: move the finished files in, one rename each
            for name in self.written:
                os.replace(self.tmpdir / name, self.target / name)
            _remove(self.tmpdir)
        return self.target


class MediaOutput:
    """Annotated output matching a source: a video for a video, images for images.

    Frames are encoded on a background thread (encoding overlaps analysis); an encoding
    error is raised by the next ``write`` or by ``close``.
    """

    def __init__(self, path: str | os.PathLike, source: MediaSource, queue_size: int = 16):
        self.source = source
        if source.kind == "video":
            self.writer = VideoWriter(path, source.fps, source.width, source.height)
        else:
            self.writer = ImageWriter(path, single=source.kind == "image")
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name="media-writer", daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None:
                continue  # drain
            frame, bgr = item
            try:
                if self.source.kind == "video":
                    self.writer.write(bgr)
                else:
                    self.writer.write(bgr, frame.name)
            except BaseException as e:
                self._error = e

    def write(self, frame: Frame, bgr: np.ndarray) -> None:
        """Queue ``bgr`` (not to be modified afterwards) for writing."""
        if self._error is not None:
            raise self._error
        self._queue.put((frame, bgr))

    def close(self, commit: bool = True) -> Path | None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            self.writer.close(commit=False)
            raise self._error
        return self.writer.close(commit)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(commit=exc_type is None)


def _creation_time(metadata: dict) -> float | None:
    """A container's ``creation_time`` tag (ISO 8601, as cameras and phones write it) as epoch seconds."""
    from datetime import datetime, timezone

    text = metadata.get("creation_time")
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()
