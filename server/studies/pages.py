"""The studies' pages: the researcher's (login, studies, results) and the participant's (consent, tasks, thanks).

    GET  /login, POST /login        the researcher's token -> an HttpOnly SameSite cookie
    POST /logout
    GET  /studies[?token=TOKEN]     the researcher's studies (the token in the URL logs in, as Jupyter's does)
    GET  /studies/{id}              a study's results (its ``results_url``)
    GET  /p/{token}                 a participant's invitation (the study's ``participant_url``)
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

import ml
from ml.schema import COLUMNS

from .. import keys
from . import store
from .auth import COOKIE, is_researcher, set_cookie, token_matches
from .routes import ID
from .screen import CHUNK_S


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/studies", studies_page)
    r.add_get(f"/studies/{ID}", results_page)
    r.add_get("/p/{token}", participant_page)


def _local(path: str | None) -> str:
    """Where to go after the login: a path on this server only."""
    return path if path and path.startswith("/") and not path.startswith("//") and "\\" not in path else "/studies"


async def login_page(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    context = {"next": _local(request.query.get("next")), "message": message}
    return aiohttp_jinja2.render_template("login.html", request, context, status=status)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    token = form.get("token")
    target = _local(form.get("next"))
    if not isinstance(token, str) or not token_matches(request, token.strip()):
        context = {"next": target, "message": "That is not the researcher token."}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    response = web.HTTPSeeOther(target)
    set_cookie(request, response)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _researcher_or_login(request: web.Request) -> None:
    if not is_researcher(request):
        raise web.HTTPSeeOther(URL("/login").with_query(next=request.path))


def _config(**extra) -> dict:
    return {"classes": list(ml.CLASSES), "emoji": dict(ml.EMOJI), "colors": dict(ml.COLORS), "columns": list(COLUMNS), **extra}


async def studies_page(request: web.Request) -> web.Response:
    token = request.query.get("token")
    if token is not None:  # the researcher URL printed at start: log in, then drop the token from the address
        if not token_matches(request, token):
            return await login_page(request, "That is not the researcher token.", status=401)
        response = web.HTTPSeeOther("/studies")
        set_cookie(request, response)
        raise response
    _researcher_or_login(request)
    return aiohttp_jinja2.render_template("studies.html", request, {"config": _config()})


async def results_page(request: web.Request) -> web.Response:
    _researcher_or_login(request)
    study = await store.get_study(request.app[keys.STUDIES].db, request.match_info["id"])
    if study is None:
        raise web.HTTPNotFound(text="no such study")
    config = _config(study=study["id"], title=study["title"], tasks=study["tasks"], screen=study["screen"])
    return aiohttp_jinja2.render_template("results.html", request, {"config": config, "title": study["title"]})


async def participant_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    study = await store.study_by_token(request.app[keys.STUDIES].db, token) if len(token) <= 128 else None
    if study is None:
        return aiohttp_jinja2.render_template("participant.html", request, {"study": None, "config": {}}, status=404)
    config = _config(study=token, title=study["title"], tasks=study["tasks"], feedback=study["feedback"],
                     ice_servers=list(request.app[keys.SETTINGS].ice_servers), screen=study["screen"],
                     screen_chunk_s=CHUNK_S)
    return aiohttp_jinja2.render_template("participant.html", request, {"study": study, "config": config})
