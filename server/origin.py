"""The Origin allow-list: a page of another site may not open ``/ws`` or change anything here.

Browsers send ``Origin`` with every WebSocket handshake and every POST/DELETE; a request
whose ``Origin`` is neither the server's own (the scheme and ``Host`` it was reached by)
nor one of ``Settings.allowed_origins`` gets 403 before its handler runs. Requests
without an ``Origin`` (curl, the Python client, no browser behind them) are let through:
no visitor's browser can be made to send one of those from another site. ``Origin: null``
(sandboxed frames, ``file://`` pages) is refused.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from . import keys
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
