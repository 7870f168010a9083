"""Strict text from clients: JSON of bounded size and depth, and strings without NUL or lone surrogates.

    value = loads(raw, max_bytes=256 * 1024)   # bytes or str -> JSON value; TextError with what is wrong
    check(text, "the study token")             # TextError if the text holds NUL or a lone surrogate
    problem(text)                              # why a text cannot be taken, or None

Every JSON body and message the server takes (the API, ``/ws``, the studies' live view) goes
through ``loads``; every path and query string through ``problem`` (``middleware.refuse_bad_text``).
Why each rule:

- **depth** (``MAX_DEPTH`` levels of arrays and objects): Python's ``json`` nests by recursion and
  raises ``RecursionError`` (not ``ValueError``) about a thousand levels down; no message of the
  app nests deeper than 4. The depth is counted before parsing, outside strings.
- **NUL** (``\\u0000``): PostgreSQL's text cannot hold it (an error from the driver: a 500, a closed
  socket), and no title, task, note or token needs it.
- **lone surrogates** (``"\\ud800"`` in JSON, ``%ED%A0%80`` in a path): valid JSON escapes, but not a
  character; SQLite stores them, and every page, CSV and JSON that shows one then fails to
  encode as UTF-8.

A ``TextError`` carries its HTTP status (400, or 413 for a body over ``max_bytes``) and a
message for people.
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 32  # levels of nested arrays/objects in one JSON value
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]', re.S)  # strings skipped whole, then brackets


class TextError(ValueError):
    """Text the server does not take; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def problem(text: str) -> str | None:
    """Why ``text`` cannot be taken (a NUL character or a lone surrogate), or None."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return None
    if m.group() == "\x00":
        return "contains a NUL character (\\u0000)"
    return f"contains a lone surrogate (\\u{ord(m.group()):04x}), which is not a character"


def check(text: str, what: str) -> str:
    """``text`` itself, or ``TextError`` naming ``what`` if it holds NUL or a lone surrogate."""
    why = problem(text)
    if why:
        raise TextError(f"{what} {why}")
    return text


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings skipped), without parsing it."""
    level = deepest = 0
    for m in _STRUCTURE.finditer(text):
        c = m.group()[0]
        if c in "[{":
            level += 1
            deepest = max(deepest, level)
        elif c in "]}":
            level -= 1
    return deepest


def loads(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH, what: str = "the body"):
    """Parse JSON ``data`` strictly: at most ``max_bytes`` (bytes: as received; str: its characters),
    UTF-8, at most ``max_depth`` levels deep, no NUL or lone surrogate in any key or string."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TextError(f"{what} is too large ({len(data)} bytes; the limit is {max_bytes})", status=413)
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise TextError(f"{what} must be UTF-8 JSON") from None
    levels = depth(data)
    if levels > max_depth:
        raise TextError(f"{what} nests {levels} levels deep; at most {max_depth} are taken")
    try:
        value = json.loads(data)
    except ValueError as e:
        raise TextError(f"invalid JSON ({e})") from None
    _check_strings(value, what)
    return value


def _check_strings(value, what: str) -> None:
    """Every key and string in a parsed JSON value (no recursion: the depth is bounded, this is not)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            check(v, f"a text in {what}")
        elif isinstance(v, dict):
            for k, item in v.items():
                check(k, f"a key in {what}")
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)
