"""The server's logs: what goes in them at which level, and nothing about who the visitors are.

    logs.configure("info")                     # python -m server --log-level info
    web.run_app(app, access_log_class=AccessLogger)

At INFO (the default): start-up, one line per live stream (when it ends: why, how long,
frames) and one per upload (when its analysis ends), refused offers and uploads with
their reason. No client addresses, no upload ids, no file names, no ICE candidates.
aioice/aiortc's own INFO lines (every candidate pair) and the HTTP access log are
DEBUG only. A malformed HTTP request is one WARNING line, without a traceback.
"""

from __future__ import annotations

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

NOISY = ("aioice", "aiortc", "alembic")  # aioice/aiortc INFO: every candidate pair and address; alembic: its context lines
QUIET = ("PIL", "matplotlib")  # their DEBUG is chunk by chunk: never
_ID_IN_PATH = re.compile(r"(/api/uploads/)(?!config\b)[^/?\s]+")


def configure(level: str = "info") -> None:
    """Set the root level, quiet the WebRTC libraries and tame aiohttp's malformed-request tracebacks."""
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())


def redact_path(path: str) -> str:
    """A request path with its upload id (a capability: whoever has it can read the results) blanked."""
    return _ID_IN_PATH.sub(r"\1…", path)


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a malformed request (bad request line, headers, chunking) with the client's address
    and a traceback at ERROR: make it one WARNING line with the reason only."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "malformed HTTP request refused: %s", (f"{exc.__class__.__name__}: {exc.message}"[:200],)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class AccessLogger(AbstractAccessLogger):
    """One DEBUG line per request: method, path (upload ids blanked), status, size, time; no address."""

    def log(self, request, response, time: float) -> None:
        if not self.logger.isEnabledFor(logging.DEBUG):
            return
        self.logger.debug(
            '"%s %s" %s %s %.1f ms',
            request.method, redact_path(request.path), response.status, response.body_length, time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)
