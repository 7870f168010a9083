"""The studies' pages: the researcher's (login, studies, results) and the participant's (consent, tasks, thanks).

    GET  /login, POST /login        the researcher's token -> an HttpOnly SameSite cookie
    POST /logout
    GET  /studies[?token=TOKEN]     the researcher's studies (the token in the URL logs in, as Jupyter's does)
    GET  /studies/{id}              a study's results (its ``results_url``)
    GET  /p/{token}                 a participant's invitation (the study's ``participant_url``); 410 and
                                    why, when the study is closed or has all its participants
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

import ml
from ml.schema import COLUMNS

from .. import keys
from . import store
from .auth import is_researcher, log_in, log_out, token_owner
from .definitions import GLOSSARY, QUALITY, STATUS_TEXT
from .moments import GLOSSARY as INSIGHT_GLOSSARY
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
    name = await token_owner(request, token) if isinstance(token, str) else None
    if name is None:
        context = {"next": target, "message": "That is not a researcher token (it may have been revoked)."}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    response = web.HTTPSeeOther(target)
    await log_in(request, response, token, name)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/login")
    await log_out(request, response)
    raise response


async def _researcher_or_login(request: web.Request) -> None:
    if not await is_researcher(request):
        raise web.HTTPSeeOther(URL("/login").with_query(next=request.path))


def _config(**extra) -> dict:
    return {"classes": list(ml.CLASSES), "emoji": dict(ml.EMOJI), "colors": dict(ml.COLORS), "columns": list(COLUMNS), **extra}


async def studies_page(request: web.Request) -> web.Response:
    token = request.query.get("token")
    if token is not None:  # the researcher URL printed at start: log in, then drop the token from the address
        name = await token_owner(request, token)
        if name is None:
            return await login_page(request, "That is not a researcher token (it may have been revoked).", status=401)
        response = web.HTTPSeeOther("/studies")
        await log_in(request, response, token, name)
        raise response
    await _researcher_or_login(request)
    return aiohttp_jinja2.render_template("studies.html", request, {"config": _config()})


async def results_page(request: web.Request) -> web.Response:
    await _researcher_or_login(request)
    study = await store.get_study(request.app[keys.STUDIES].db, request.match_info["id"])
    if study is None:
        raise web.HTTPNotFound(text="no such study")
    config = _config(study=study["id"], title=study["title"], tasks=study["tasks"], screen=study["screen"],
                     glossary=[{"key": k, "name": name, "unit": unit, "text": text}
                               for k, name, unit, text in (*GLOSSARY, *INSIGHT_GLOSSARY)],
                     quality=[{"key": k, "figure": f, "kind": kind, "default": d, "text": text}
                              for k, f, kind, d, text in QUALITY],
                     statuses=STATUS_TEXT)
    return aiohttp_jinja2.render_template("results.html", request, {"config": config, "title": study["title"]})


async def participant_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    study = await store.study_by_token(request.app[keys.STUDIES].db, token) if len(token) <= 128 else None
    if study is None:
        return aiohttp_jinja2.render_template("participant.html", request, {"study": None, "config": {}}, status=404)
    closed = await request.app[keys.STUDIES].why_closed(study["id"])
    if closed is not None:  # closed, or all the participants it needs: no new session
        context = {"study": study, "closed": closed[0].upper() + closed[1:], "config": {}}
        return aiohttp_jinja2.render_template("participant.html", request, context, status=410)
    settings = request.app[keys.SETTINGS]
    config = _config(study=token, title=study["title"], tasks=study["tasks"], feedback=study["feedback"],
                     ice_servers=list(settings.ice_servers), check_required=study["check_required"],
                     check_help_s=settings.check_help_s, screen=study["screen"], screen_chunk_s=CHUNK_S)
    return aiohttp_jinja2.render_template("participant.html", request, {"study": study, "config": config})
