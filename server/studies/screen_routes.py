"""The screen recordings' HTTP API (docs/studies.md, "Screen recording"). Errors are ``{"error": message}``.

Participant (the study's token from the invitation link and the session id it got on /ws: the session
is the credential; a study that does not record the screen refuses all three with 403):

    POST /api/participant/{token}/sessions/{id}/screen        {"since_ms": N}: the recorder started N ms ago
                                                              -> 201 the recording (200: it had started)
    PUT  /api/participant/{token}/sessions/{id}/screen/{seq}  a chunk's bytes (video/webm), seq from 0
                                                              -> 201 stored, 200 {"duplicate": true} stored before;
                                                              409 not started / ended, 413 too large or the
                                                              session's limit, 507 the disk is full; 429 more
                                                              than 2 of one session at once, 408 a body that
                                                              did not come within 120 s
    POST /api/participant/{token}/sessions/{id}/screen/end    {"chunks": N, "reason": "..."}: N chunks were sent

Researcher:

    GET  /api/sessions/{id}/screen         the recording's state (also in GET /api/sessions/{id} as "screen")
    GET  /api/sessions/{id}/screen.webm    the file, once ready (HTTP range requests: the video seeks)
"""

from __future__ import annotations

import asyncio
from functools import wraps

from aiohttp import web

from .. import keys, strict_text
from . import store
from .routes import ID, error, with_record
from .screen import ScreenError

PARTICIPANT = "/api/participant/{token:[A-Za-z0-9_-]{1,64}}/sessions/" + ID + "/screen"
SMALL_BODY = 1024  # the start and end calls' JSON
REASONS = ("stopped", "finished", "closed", "withdrawn", "error")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(PARTICIPANT, start)
    r.add_put(PARTICIPANT + "/{seq:[0-9]{1,7}}", chunk)
    r.add_post(PARTICIPANT + "/end", end)
    r.add_get(f"/api/sessions/{ID}/screen", show)
    r.add_get(f"/api/sessions/{ID}/screen.webm", video)


async def _participant_session(request: web.Request) -> str:
    """The session of the path, if it is of the study of the path's token and the study records the screen."""
    db = request.app[keys.STUDIES].db
    study = await store.study_by_token(db, request.match_info["token"])
    session = await store.get_session(db, request.match_info["id"]) if study is not None else None
    if session is None or session["study_id"] != study["id"]:
        raise ScreenError(404, "no such session (deleted?)")
    if session["status"] == "withdrawn":  # its recording was deleted with its data: nothing more is taken
        raise ScreenError(410, "you stopped this session and its data was deleted: nothing more is recorded")
    if not study["screen"]:
        raise ScreenError(403, "this study does not record the screen")
    return session


async def _small_json(request: web.Request) -> dict:
    raw = await request.content.read(SMALL_BODY + 1)
    if not raw.strip():
        return {}
    try:
        body = strict_text.loads(raw, max_bytes=SMALL_BODY)
    except strict_text.TextError as e:
        raise ScreenError(e.status, str(e)) from None
    if not isinstance(body, dict):
        raise ScreenError(400, "the body must be a JSON object")
    return body


def _number(body: dict, name: str, low: float, high: float, integer: bool = False):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)) \
            or not low <= value <= high:
        raise ScreenError(400, f'"{name}" must be a{"n integer" if integer else " number"} from {low} to {high}')
    return value


def _refused(handler):
    """A participant's handler: a ScreenError becomes its JSON error."""
    @wraps(handler)
    async def wrapped(request: web.Request):
        try:
            return await handler(request)
        except ScreenError as e:
            return error(e.status, e.text)

    return wrapped


@_refused
async def start(request: web.Request) -> web.Response:
    session = await _participant_session(request)
    body = await _small_json(request)
    if set(body) - {"since_ms"}:
        raise ScreenError(400, 'unknown field(s): only "since_ms"')
    if session["ended"] is not None:
        raise ScreenError(409, "this session has ended: its screen is no longer recorded")
    screen = request.app[keys.STUDIES].screen
    had = await screen.info(session["id"])
    recording = await screen.start(session["id"], (_number(body, "since_ms", 0, 3_600_000) or 0) / 1000)
    return web.json_response(recording, status=200 if had else 201)


async def _body(request: web.Request, limit: int) -> bytes:
    data = await request.content.read(limit + 1)
    while len(data) <= limit and not request.content.at_eof():
        more = await request.content.read(limit + 1 - len(data))
        if not more:
            break
        data += more
    return data


@_refused
async def chunk(request: web.Request) -> web.Response:
    session = await _participant_session(request)
    screen = request.app[keys.STUDIES].screen
    limit = screen.settings.chunk_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ScreenError(413, f"a chunk may have at most {limit} bytes")
    at_once, within = screen.settings.chunks_at_once, screen.settings.chunk_read_s
    sending = screen.sending.setdefault(session["id"], [0])
    if sending[0] >= at_once:  # the page sends one at a time: more is somebody holding connections
        raise ScreenError(429, f"at most {at_once} chunks of one session at once; send them one after the other")
    sending[0] += 1
    try:
        data = await asyncio.wait_for(_body(request, limit), within)
    except asyncio.TimeoutError:
        raise ScreenError(408, f"the chunk did not come within {within:g} s; try again") from None
    finally:
        sending[0] -= 1
        if not sending[0]:
            screen.sending.pop(session["id"], None)
    if len(data) > limit:
        raise ScreenError(413, f"a chunk may have at most {limit} bytes")
    done = await screen.add_chunk(session["id"], int(request.match_info["seq"]), data)
    return web.json_response(done, status=201 if done["stored"] else 200)


@_refused
async def end(request: web.Request) -> web.Response:
    session = await _participant_session(request)
    body = await _small_json(request)
    if set(body) - {"chunks", "reason"}:
        raise ScreenError(400, 'unknown field(s): only "chunks" and "reason"')
    reason = body.get("reason", "stopped")
    if reason not in REASONS:
        raise ScreenError(400, f'"reason" must be one of {", ".join(REASONS)}')
    done = await request.app[keys.STUDIES].screen.end(session["id"], _number(body, "chunks", 0, 10**6, True), reason)
    if done is None:
        raise ScreenError(409, "this session's screen recording has not started")
    return web.json_response(done)


@with_record("session")
async def show(request: web.Request, _db, session: dict, _study: dict) -> web.Response:
    found = await request.app[keys.STUDIES].screen.info(session["id"])
    if found is None:
        return error(404, "this session has no screen recording")
    return web.json_response(found)


@with_record("session")
async def video(request: web.Request, _db, session: dict, _study: dict) -> web.StreamResponse:
    screen = request.app[keys.STUDIES].screen
    found = await screen.info(session["id"])
    if found is None or found["status"] != "ready":
        state = "this session has no screen recording" if found is None else \
            f"the screen recording is not ready ({found['status']})"
        return error(404, state)
    name = f"session-{session['id'][:8]}-screen.webm"
    disposition = "attachment" if request.query.get("download") else "inline"
    return web.FileResponse(screen.file(session["id"]), headers={
        "Content-Type": "video/webm", "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "private, no-store"})
