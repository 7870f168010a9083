"""The researcher's access: ``Authorization: Bearer TOKEN`` for the API, an HttpOnly SameSite cookie for pages.

The cookie holds an HMAC of the token, not the token. Comparisons take constant time.
A wrong or missing token reveals nothing: the API answers 401, pages send to the login form.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from .. import keys

COOKIE = "fer_researcher"
COOKIE_MAX_AGE = 12 * 3600


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"fer researcher cookie", hashlib.sha256).hexdigest()


def token_matches(request: web.Request, candidate: str | None) -> bool:
    token = request.app[keys.STUDIES].admin_token
    return bool(candidate) and hmac.compare_digest(candidate.encode(), token.encode())


def is_researcher(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return token_matches(request, header[len("Bearer "):].strip())
    cookie = request.cookies.get(COOKIE)
    expected = cookie_value(request.app[keys.STUDIES].admin_token)
    return bool(cookie) and hmac.compare_digest(cookie.encode(), expected.encode())


def set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.set_cookie(COOKIE, cookie_value(request.app[keys.STUDIES].admin_token), max_age=COOKIE_MAX_AGE,
                        httponly=True, samesite="Strict", secure=request.secure, path="/")


def unauthorized() -> web.Response:
    return web.json_response({"error": "researcher token required (Authorization: Bearer TOKEN)"}, status=401,
                             headers={"WWW-Authenticate": "Bearer"})
