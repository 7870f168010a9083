"""The one row schema of the app's results: live exports, recorded-media CSVs and stored sessions.

One row per face per analysed frame:

    frame       index of the frame in its stream or file (every frame counts, analysed or not)
    time_s      seconds from the start of the stream or video
    utc         absolute time of the frame, ISO 8601 UTC with milliseconds ("2026-11-26T12:00:00.123Z");
                empty where unknown (a recorded video without a creation time, images)
    face        the face's stable id (``ml.FaceTracker``)
    source      how the face's row was made (``SOURCES``):
                  detected      the face was found in this frame
                  held          live only: not found in this frame, shown at its last box with its
                                last probabilities, for up to 0.5 s after its last sighting (the face
                                may have gone: it is not known yet)
                  interpolated  recorded media only: not found in this frame but in frames before and
                                after it (within 0.5 s, no shot cut between): box and probabilities
                                interpolated between those two sightings
                empty for a row without a face, and for results stored before this column existed
    x, y, w, h  its box in the frame's pixels
    label       the expression shown, ``confidence`` its probability
    angry ... neutral   the seven probabilities (``ml.CLASSES`` order)
    file        the image a row comes from, for a folder of images; empty otherwise

The page takes ``COLUMNS`` from the server (the ``hello`` message), so both ends agree.
Summaries count face time from ``detected`` and ``interpolated`` rows, not ``held`` ones
(``seen``: ``ml.recorded.report.Summary``, a study's figures in server/studies/definitions.py,
the live page's session shares in static/shares.js), and a face of a video only if it was
detected in at least 2 frames (``ml.recorded.hindsight.MIN_DETECTED``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from .labels import CLASSES

COLUMNS = ("frame", "time_s", "utc", "face", "source", "x", "y", "w", "h", "label", "confidence", *CLASSES, "file")
SOURCES = DETECTED, HELD, INTERPOLATED = ("detected", "held", "interpolated")


def seen(source: str | None) -> bool:
    """Whether a face's row (its ``source``) says the face was there: found in its frame
    (``detected``), or between two sightings of it (``interpolated``); also a row stored before
    the column existed (None or empty: every row was a face found then). A ``held`` row is not a
    measurement (the face was not found; it may have gone): no summary or figure counts it."""
    return source != HELD


def utc_iso(epoch_s: float | None) -> str:
    """Seconds since the epoch -> ``2026-11-26T12:00:00.123Z`` ("" for None)."""
    if epoch_s is None:
        return ""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_epoch(text: str | None) -> float | None:
    """``utc_iso``'s text -> seconds since the epoch (None for "", None or a text that is no such time)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def frame_row(frame: int, time_s: float, utc: float | None = None, file: str = "") -> dict:
    """The row of an analysed frame without a face (``COLUMNS`` keys; the face's fields empty)."""
    row = dict.fromkeys(COLUMNS, "")
    row.update({"frame": int(frame), "time_s": f"{time_s:.3f}", "utc": utc_iso(utc), "file": file})
    return row


def face_row(frame: int, time_s: float, face: dict, utc: float | None = None, file: str = "") -> dict:
    """One row (``COLUMNS`` keys, values formatted for CSV) for a tracked face of an analysed frame."""
    x, y, w, h = face["box"]
    row = frame_row(frame, time_s, utc, file)
    row.update({
        "face": face.get("id", ""),
        "source": face.get("source") or (HELD if face.get("held") else DETECTED),
        "x": int(x),
        "y": int(y),
        "w": int(w),
        "h": int(h),
        "label": face["label"],
        "confidence": f"{face['probs'][face['label']]:.4f}",
    })
    row.update({c: f"{face['probs'][c]:.4f}" for c in CLASSES})
    return row
