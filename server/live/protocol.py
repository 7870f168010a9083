"""The ``/ws`` protocol (docs/protocol.md, one to one): parsing of incoming messages and
builders of every outgoing one. No other module knows these JSON shapes.

Browser -> server: ``offer`` (with ``study`` and ``consent`` for a study), ``marker``, ``stop``, ``ping`` (``parse``).
Server -> browser: ``hello``, ``session``, ``answer``, ``state``, ``result``, ``marked``, ``stopped``, ``pong``,
``error``.
"""

from __future__ import annotations

import json

import ml
from ml.schema import COLUMNS, utc_iso

from .. import strict_text

MESSAGE_LIMIT = 64 * 1024  # larger text messages get an error (an SDP offer is a few kB)
HARD_MESSAGE_LIMIT = 1024 * 1024  # larger frames close the WebSocket: aiohttp does not even read them
MESSAGE_TYPES = ("offer", "marker", "stop", "ping")
STUDY_TOKEN_MAX = 128  # characters of an offer's "study" token
MARKER_EVENTS = ("start", "end")


class ProtocolError(ValueError):
    """A message the server cannot take; its text goes back to the browser in an ``error``."""


# -- browser -> server ---------------------------------------------------------------------------


def parse(text: str) -> dict:
    """Check one text message: a JSON object with a known ``type`` and that type's fields."""
    if len(text) > MESSAGE_LIMIT:
        raise ProtocolError(f"message too large ({len(text)} characters; the limit is {MESSAGE_LIMIT})")
    try:
        message = strict_text.loads(text, what="the message")  # depth, NUL, lone surrogates
    except strict_text.TextError as e:
        raise ProtocolError(str(e)) from None
    if not isinstance(message, dict):
        raise ProtocolError('a message must be a JSON object with a "type", e.g. {"type": "offer", "sdp": "..."}')
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('a message must have a string "type" (offer, marker, stop or ping)')
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind[:40]!r} (expected offer, marker, stop or ping)")
    if kind == "offer":
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError('an offer needs its SDP as a non-empty string in "sdp"')
        if not sdp.lstrip().startswith("v=0"):
            raise ProtocolError('malformed SDP offer: an SDP starts with "v=0"')
        if "study" in message:
            _check_study(message)
    elif kind == "marker":
        _check_marker(message)
    return message


def _check_study(message: dict) -> None:
    study = message["study"]
    if not isinstance(study, str) or not study or len(study) > STUDY_TOKEN_MAX:
        raise ProtocolError('"study" must be the token of the participant link (a string of at most '
                            f'{STUDY_TOKEN_MAX} characters)')
    if message.get("consent") is not True:
        raise ProtocolError('a study stream needs "consent": true (the participant agreed to the consent text); '
                            "nothing is streamed or stored without it")


def _check_marker(message: dict) -> None:
    task, event = message.get("task"), message.get("event")
    if not isinstance(task, int) or isinstance(task, bool):
        raise ProtocolError('a marker needs the task\'s index as an integer in "task", e.g. '
                            '{"type": "marker", "task": 0, "event": "start"}')
    if event not in MARKER_EVENTS:
        raise ProtocolError('a marker\'s "event" must be "start" or "end"')


def encode(message: dict) -> str:
    return json.dumps(message)


# -- server -> browser ---------------------------------------------------------------------------


def hello(model: str) -> dict:
    return {
        "type": "hello",
        "classes": list(ml.CLASSES),
        "emoji": dict(ml.EMOJI),
        "model": model,
        "columns": list(COLUMNS),
    }


def answer(sdp: str) -> dict:
    return {"type": "answer", "sdp": sdp}


def state(value: str) -> dict:
    return {"type": "state", "state": value}


def session(session_id: str, title: str, tasks: list[str], feedback: bool) -> dict:
    """A study stream was accepted: its session (the participant's key to delete their data)."""
    return {"type": "session", "id": session_id, "title": title, "tasks": list(tasks), "feedback": bool(feedback)}


def marked(task: int, event: str, time_s: float, stored: bool = True) -> dict:
    """A task marker was taken: stored, or (``stored`` false) kept until the database is back."""
    return {"type": "marked", "task": int(task), "event": event, "time_s": time_s, "stored": bool(stored)}


def pace(max_fps: int) -> dict:
    """The frame rate the server can analyse for this stream: the client sends at most that many
    frames a second (a frame the server would drop costs it decoding all the same)."""
    return {"type": "pace", "max_fps": int(max_fps)}


def stopped() -> dict:
    return {"type": "stopped"}


def pong(t) -> dict:
    return {"type": "pong", "t": t}


def error(text: str) -> dict:
    return {"type": "error", "message": text}


def result(
    faces: list[dict],
    *,
    frame: int,
    timestamp: float | None,
    received_utc: float,
    width: int,
    height: int,
    processing_s: float,
    latency_s: float,
    frames_received: int,
    frames_processed: int,
    frames_dropped: int,
    server_time: float,
) -> dict:
    """One analysed frame: its confirmed faces (``ml.FaceTracker`` output: ``source`` "detected"
    when found in this frame, "held" when not, shown at its last box; ``held`` the same as a
    boolean; ``brightness``: the box's mean luma, 0-255, where the analyser measured it, never for a
    held face) and the stream's counters. A study session's results also say which face is the
    participant's, and how the camera check goes (``studies.Participation.on_result``)."""
    return {
        "type": "result",
        "faces": [
            {
                "id": int(f["id"]),
                "box": [int(v) for v in f["box"]],
                "label": f["label"],
                "probs": {c: round(float(p), 4) for c, p in f["probs"].items()},
                "source": f.get("source") or ("held" if f.get("held") else "detected"),
                "held": bool(f.get("held", False)),
                **({"brightness": round(float(f["brightness"]), 1)} if f.get("brightness") is not None else {}),
            }
            for f in faces
        ],
        "frame": int(frame),
        "timestamp": None if timestamp is None else round(float(timestamp), 6),
        "utc": utc_iso(received_utc),
        "width": int(width),
        "height": int(height),
        "processing_ms": round(processing_s * 1000, 2),
        "latency_ms": round(latency_s * 1000, 2),
        "frames_received": frames_received,
        "frames_processed": frames_processed,
        "frames_dropped": frames_dropped,
        "server_time": server_time,
    }
