"""The researcher's access: ``Authorization: Bearer TOKEN`` for the API, an HttpOnly SameSite cookie for pages.

A token is the --admin-token (``FER_ADMIN_TOKEN``) or a researcher's named token
(``python -m server researcher add NAME``; researchers.py). The cookie holds a random login id,
stored hashed in the database with the token it was made with: it survives a restart, and stops
working when it expires, at logout, or when its token is revoked. A wrong or missing token reveals
nothing: the API answers 401, pages send to the login form.
"""

from __future__ import annotations

from aiohttp import web

from .. import keys
from . import researchers

COOKIE = "fer_researcher"
COOKIE_MAX_AGE = researchers.LOGIN_S


def _studies(request: web.Request):
    return request.app[keys.STUDIES]


async def token_owner(request: web.Request, token: str | None) -> str | None:
    """Whose ``token`` is (a researcher's name, or "admin"), None if it is no valid token."""
    studies = _studies(request)
    return await researchers.token_owner(studies.db, token.strip() if token else token, studies.admin_token)


async def researcher_name(request: web.Request) -> str | None:
    """The researcher making the request (Bearer token or login cookie), None if nobody valid."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return await token_owner(request, header[len("Bearer "):])
    studies = _studies(request)
    return await researchers.cookie_owner(studies.db, request.cookies.get(COOKIE), studies.admin_token)


async def is_researcher(request: web.Request) -> bool:
    return await researcher_name(request) is not None


async def log_in(request: web.Request, response: web.StreamResponse, token: str, name: str) -> None:
    """A login for ``token`` (already checked: its owner ``name``), as a cookie on ``response``."""
    cookie = await researchers.log_in(_studies(request).db, token.strip(), name)
    response.set_cookie(COOKIE, cookie, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict",
                        secure=request.secure, path="/")


async def log_out(request: web.Request, response: web.StreamResponse) -> None:
    """The request's login ends server-side (its cookie stops working even if kept), and the cookie goes."""
    await researchers.log_out(_studies(request).db, request.cookies.get(COOKIE))
    response.del_cookie(COOKIE, path="/")


def unauthorized() -> web.Response:
    return web.json_response({"error": "researcher token required (Authorization: Bearer TOKEN, or log in again "
                                       "at /login)"}, status=401, headers={"WWW-Authenticate": "Bearer"})
