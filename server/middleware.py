"""The web middleware of every request: errors as JSON, text of the address, the Origin allow-list,
researcher-token guesses and the security headers.

    app = web.Application(middlewares=[json_errors, refuse_bad_text, check_origin, limit_token_guesses])
    app.on_response_prepare.append(add_security_headers)

**Errors.** Under ``/api/`` every error is ``{"error": message}``: aiohttp's own (404 no
such route, 405) and a handler's exception. An exception that is a database outage
(``storage/health.py``: logged once per outage) is a 503 saying so, JSON under ``/api/`` and
text for pages; any other is logged with its traceback and answered 500 without details.
WebSocket upgrades are left to their handlers (an answer cannot follow an upgrade).

**Text.** A path or query string that decodes to a NUL character or a lone surrogate
(``/p/a%00b``) gets 400 before any handler looks it up (``strict_text``: PostgreSQL cannot
hold NUL, and no address of the app has it).

**Origin.** The Origin allow-list: a page of another site may not open ``/ws`` or change anything here.

Browsers send ``Origin`` with every WebSocket handshake and every POST/DELETE; a request
whose ``Origin`` is neither the server's own (the scheme and ``Host`` it was reached by)
nor one of ``Settings.allowed_origins`` gets 403 before its handler runs. Requests
without an ``Origin`` (curl, the Python client, no browser behind them) are let through:
no visitor's browser can be made to send one of those from another site. ``Origin: null``
(sandboxed frames, ``file://`` pages) is refused.

**Token guesses.** A request that presents a researcher token (an ``Authorization`` header,
the login form, ``/studies?token=``) and is answered 401 counts against its address: past
``Settings.max_token_failures`` in ``token_failure_window_s`` seconds, every such request
from that address gets 429 (with ``Retry-After``) before any token is looked at, a right one
too. Whatever checks the token (``studies/auth.py``) is wrapped, not changed. Requests with
only the login cookie are not counted (a page whose cookie expired keeps asking).

**Headers.** Security headers on every response, and a ``Server`` header without versions.

The page runs only the app's own scripts (``/static/*.js``: no inline script, nothing
from elsewhere), may not be framed by another site, sends no referrer to other sites,
and may ask for the camera for itself only. Inline styles stay allowed: the page's
scripts set them (no script can run from them).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from . import keys, strict_text
from .live.client_limits import client_address
from .logs import redact_path

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None if it is not one."""
    try:
        u = urlsplit(origin.strip())
        port = u.port
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or not u.hostname or u.path not in ("", "/") or u.query or u.username:
        return None
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    if port is not None and port != DEFAULT_PORTS[u.scheme]:
        host += f":{port}"
    return f"{u.scheme}://{host}"


def own_origin(request: web.Request) -> str | None:
    return normalize(f"{request.scheme}://{request.host}")


def allowed(request: web.Request, origin: str) -> bool:
    mine = normalize(origin)
    if mine is None:
        return False
    extra = {normalize(o) for o in request.app[keys.SETTINGS].allowed_origins}
    return mine == own_origin(request) or mine in extra


def needs_check(request: web.Request) -> bool:
    return request.method in STATE_CHANGING or request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


DATABASE_DOWN = "the database is unavailable just now; try again in a minute"
SERVER_FAILED = "the server failed to answer this request (the error is in its log)"


def _error(request: web.Request, status: int, message: str, headers=None) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message}, status=status, headers=headers)
    return web.Response(text=message, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler):
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith("/api/") or e.content_type == "application/json":
            raise
        headers = {k: v for k, v in e.headers.items() if k not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH)}
        return web.json_response({"error": e.text or e.reason}, status=e.status, headers=headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as e:
        if request.app[keys.STUDIES].db.health.failed(e, f"answering {request.method} {redact_path(request.path)}"):
            return _error(request, 503, DATABASE_DOWN, {"Retry-After": "60"})
        log.exception("%s %s failed", request.method, redact_path(request.path))
        return _error(request, 500, SERVER_FAILED)


@web.middleware
async def refuse_bad_text(request: web.Request, handler):
    why = strict_text.problem(request.path)
    if why is None:
        why = next((p for p in map(strict_text.problem, (*request.query.keys(), *request.query.values())) if p), None)
    if why is not None:
        log.info("refused %s with a bad character in its address", request.method)
        return web.json_response({"error": f"the address (URL) {why}"}, status=400)
    return await handler(request)


@web.middleware
async def check_origin(request: web.Request, handler):
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and needs_check(request) and not allowed(request, origin):
        log.info("refused %s %s from another origin (%s)", request.method, redact_path(request.path), origin[:80])
        return web.json_response(
            {"error": "this server does not take requests from other sites' pages "
                      "(the operator can allow an origin with --allowed-origin)"},
            status=403,
        )
    return await handler(request)


# ---- researcher-token guesses ----


def presents_token(request: web.Request) -> bool:
    """Whether the request tries a researcher token (not the cookie of a login)."""
    return (hdrs.AUTHORIZATION in request.headers
            or (request.method == "POST" and request.path == "/login")
            or "token" in request.query)


@web.middleware
async def limit_token_guesses(request: web.Request, handler):
    if not presents_token(request):
        return await handler(request)
    guesses = request.app[keys.TOKEN_GUESSES]
    client = client_address(request)
    wait = guesses.wait(client)
    if wait > 0:
        log.info("refused a researcher token: too many wrong ones from one address")
        return web.json_response(
            {"error": f"too many wrong researcher tokens from your address; try again in {wait:.0f} s"},
            status=429, headers={"Retry-After": str(max(1, round(wait)))})
    try:
        response = await handler(request)
    except web.HTTPException as e:
        if e.status == 401:
            guesses.add(client)
        raise
    if response.status == 401:
        guesses.add(client)
    return response


# ---- security headers ----



CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",  # fetch and the /ws WebSocket (CSP 3: 'self' covers ws:/wss: of this host)
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP 2
    "Referrer-Policy": "same-origin",  # none to other sites; with no-referrer, form POSTs say Origin: null
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SERVER = "fer"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``app.on_response_prepare``: every response, errors and static files included."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER
