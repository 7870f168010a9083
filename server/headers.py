"""Security headers on every response, and a ``Server`` header without versions.

The page runs only the app's own scripts (``/static/*.js``: no inline script, nothing
from elsewhere), may not be framed by another site, sends no referrer to other sites,
and may ask for the camera for itself only. Inline styles stay allowed: the page's
scripts set them (no script can run from them).
"""

from __future__ import annotations

from aiohttp import web

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
