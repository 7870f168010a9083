"""The server's logs: what goes in them at which level, and nothing about who the visitors are.

    logs.configure("info")                     # python -m server --log-level info
    web.run_app(app, access_log_class=AccessLogger)

At INFO (the default): start-up, one line per live stream (when it ends: why, how long,
frames) and one per upload (when its analysis ends), refused offers and uploads with
their reason. No client addresses, no upload ids, no file names, no ICE candidates.
aioice/aiortc's own INFO lines (every candidate pair) and the HTTP access log are
DEBUG only. A malformed HTTP request is one WARNING line, without a traceback.

No capability at any level: whoever holds an upload id, a participant link's token, a
session id with it, a study id or the researcher token can read or delete data, so paths
are logged with every segment that is not a word of the app's routes blanked
(``redact_path``), query strings never, and the SQL libraries (SQLAlchemy, aiosqlite,
asyncpg), whose DEBUG lines carry statements with their values, stay at WARNING at every
level (the engine hides parameters in its error messages too: ``storage/db.py``).
"""

from __future__ import annotations

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

NOISY = ("aioice", "aiortc", "alembic")  # aioice/aiortc INFO: every candidate pair and address; alembic: its context lines
QUIET = ("PIL", "matplotlib")  # their DEBUG is chunk by chunk: never
SQL = ("sqlalchemy", "aiosqlite", "asyncpg")  # statements and their values (tokens, notes): never below WARNING
# path segments that are words of the app's routes (kept in logs); any other segment may be an id or a token
ROUTE_WORDS = frozenset({
    "api", "uploads", "config", "csv", "video", "timeline.png", "studies", "sessions", "participant", "recordings",
    "export.csv", "export.json", "notes.csv", "compare.json", "compare.csv", "live", "p", "login", "logout", "ws",
    "healthz", "static", "export.zip", "sessions.csv", "markers.csv", "researcher", "responsible-use",
    "screen", "screen.webm", "end", "moments.csv", "insights.json", "figures.csv", "hotspots.csv",
})
_WORD = re.compile(r"[a-z][a-z.]{0,11}")  # a short lower-case word (a route of another issue): kept


def configure(level: str = "info") -> None:
    """Set the root level, quiet the WebRTC libraries and tame aiohttp's malformed-request tracebacks."""
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in SQL:
        logging.getLogger(name).setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())


def redact_path(path: str) -> str:
    """A request path for the logs: every segment that is not a word of the routes blanked (upload ids,
    participant tokens, session and study ids are capabilities); static files' paths as they are."""
    if path.startswith("/static/"):
        return path
    return "/".join(s if not s or s in ROUTE_WORDS or _WORD.fullmatch(s) else "…" for s in path.split("/"))


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
