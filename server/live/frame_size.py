"""Live pictures larger than the server takes are never decoded: a gate in front of aiortc's video decoders.

    frame_size.install(max_pixels)      # create_app: process-wide, as aiortc's decoders are
    frame_size.too_large(frame)         # (width, height) of a picture over the limit, else None

aiortc decodes each stream's video on a thread of its own, with a decoder it makes
(``aiortc.rtcrtpreceiver.get_decoder``). A camera, or an attacker, that switches to
7680x4320 made that decoder allocate about 50 MB a picture plus its reference pictures
(docs/deploy-limits.md). The gate learns a picture's size before it is decoded:

- VP8 (what browsers send first): the size is in every key frame's first ten bytes; a
  key frame over the limit is not decoded, nor are the frames that refer to it;
- H.264: FFmpeg's decoder takes a ``max_pixels`` option and refuses such a picture from its
  sequence parameters, before allocating it.

In place of a picture that was not decoded, the track gets a 2x2 stand-in frame whose
``opaque`` holds the size: the track processor tells the browser and closes the stream.
A picture over the limit that comes some other way is caught by ``too_large`` too.
"""

from __future__ import annotations

import av
import aiortc.rtcrtpreceiver as receiver
from aiortc.codecs import get_decoder as aiortc_get_decoder

DEFAULT_MAX_PIXELS = 1920 * 1080
STAND_IN = "fer: picture not decoded"

_max_pixels = DEFAULT_MAX_PIXELS


def install(max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Put the gate in front of every video decoder aiortc makes from now on (idempotent)."""
    global _max_pixels
    _max_pixels = int(max_pixels)
    receiver.get_decoder = _gated_decoder


def max_pixels() -> int:
    return _max_pixels


def too_large(frame) -> tuple[int, int] | None:
    """The picture's (width, height) if it is over the limit (a stand-in or a decoded frame), else None."""
    opaque = getattr(frame, "opaque", None)
    if isinstance(opaque, tuple) and opaque and opaque[0] == STAND_IN:
        return opaque[1], opaque[2]
    if frame.width * frame.height > _max_pixels:
        return frame.width, frame.height
    return None


def vp8_key_frame_size(data: bytes) -> tuple[int, int] | None:
    """A VP8 key frame's (width, height) from its header (RFC 6386, 9.1), None for an inter frame."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF


def _stand_in(size: tuple[int, int], timestamp: int) -> av.VideoFrame:
    frame = av.VideoFrame(2, 2, "yuv420p")
    frame.pts = timestamp
    frame.opaque = (STAND_IN, *size)
    return frame


class GatedDecoder:
    """aiortc's decoder for one stream, with the size gate in front (module docstring)."""

    def __init__(self, inner, mime_type: str):
        self.inner = inner
        self.vp8 = mime_type.lower() == "video/vp8"
        self.refused: tuple[int, int] | None = None  # VP8: the last key frame was over the limit
        codec = getattr(inner, "codec", None)
        if codec is not None:  # FFmpeg checks the picture size before allocating it (H.264; VP8 after libvpx)
            codec.options = {**dict(codec.options or {}), "max_pixels": str(_max_pixels)}

    def decode(self, encoded_frame):
        if self.vp8:
            size = vp8_key_frame_size(encoded_frame.data)
            if size is not None:
                self.refused = size if size[0] * size[1] > _max_pixels else None
                if self.refused:
                    return [_stand_in(size, encoded_frame.timestamp)]
            elif self.refused:
                return []  # refers to a picture that was not decoded
            return self.inner.decode(encoded_frame)
        try:
            return self.inner.decode(encoded_frame)
        except av.FFmpegError:
            codec = getattr(self.inner, "codec", None)
            width, height = (getattr(codec, "width", 0) or 0), (getattr(codec, "height", 0) or 0)
            if width * height > _max_pixels:
                return [_stand_in((width, height), encoded_frame.timestamp)]
            raise


def _gated_decoder(codec):
    decoder = aiortc_get_decoder(codec)
    if codec.mimeType.lower().startswith("video/"):
        return GatedDecoder(decoder, codec.mimeType)
    return decoder
