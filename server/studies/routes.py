"""The studies' JSON API (docs/studies.md). Errors are ``{"error": message}``.

Researcher (``Authorization: Bearer TOKEN``, or the cookie of the login form; else 401):

    POST   /api/studies                    {"title", "consent", "tasks": [...], "feedback": true}
                                           -> 201 {id, participant_url, results_url}
    GET    /api/studies                    every study, newest first, with its number of sessions
    GET    /api/studies/{id}               the study and its sessions (started, ended, frames, shares)
    GET    /api/studies/{id}/export.csv    every session's rows: ml.schema.COLUMNS + session, task
    GET    /api/studies/{id}/notes.csv     every session's notes: session, time_s, utc, text
    GET    /api/studies/{id}/compare.json  per task: each session's shares and mean probabilities beside the
                                           study's mean; timelines aligned on the task's start (?bin=SECONDS)
    GET    /api/studies/{id}/compare.csv   the same table: one row per task and session, and per task its mean
    GET    /api/studies/{id}/live          the live view, a WebSocket (observe.py)
    DELETE /api/studies/{id}               the study, its sessions, markers and results
    GET    /api/sessions/{id}              a session: markers, timeline, per-task table; its screen recording,
                                           baseline, moments and per-task figures (screen.py, insights.py)
    GET    /api/sessions/{id}/export.csv   its rows;  .../export.json: the same with markers, notes and tasks
    GET    /api/sessions/{id}/notes.csv    its notes
    DELETE /api/sessions/{id}

Participant (the study's token from the invitation link, and the session id it got on /ws):

    DELETE /api/participant/{token}/sessions/{id}     "delete my data"
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from functools import wraps

from aiohttp import web

from ml.labels import CLASSES
from ml.schema import COLUMNS, utc_iso

from .. import keys, strict_text
from . import store
from .auth import is_researcher, unauthorized
from .insights import session_insights
from ..storage.models import CONSENT_MAX, TASK_MAX, TASKS_MAX, TITLE_MAX
from .rows import EXPORT_COLUMNS, schema_row
from .summary import comparison, session_summary

BODY_MAX = 256 * 1024
ID = r"{id:[A-Za-z0-9_-]{1,64}}"
NOT_FOUND = {"study": "no such study", "session": "no such session"}


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/studies", create_study)
    r.add_get("/api/studies", list_studies)
    r.add_get(f"/api/studies/{ID}", show_study)
    r.add_get(f"/api/studies/{ID}/export.csv", export_study)
    r.add_get(f"/api/studies/{ID}/notes.csv", export_study_notes)
    r.add_get(f"/api/studies/{ID}/compare.json", compare_json)
    r.add_get(f"/api/studies/{ID}/compare.csv", compare_csv)
    r.add_delete(f"/api/studies/{ID}", delete_study)
    r.add_get(f"/api/sessions/{ID}", show_session)
    r.add_get(f"/api/sessions/{ID}/export.csv", export_session_csv)
    r.add_get(f"/api/sessions/{ID}/export.json", export_session_json)
    r.add_get(f"/api/sessions/{ID}/notes.csv", export_session_notes)
    r.add_delete(f"/api/sessions/{ID}", delete_session)
    r.add_delete("/api/participant/{token:[A-Za-z0-9_-]{1,64}}/sessions/" + ID, participant_delete)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def researcher(handler):
    @wraps(handler)
    async def wrapped(request: web.Request):
        if not is_researcher(request):
            return unauthorized()
        return await handler(request)

    return wrapped


def study_links(request: web.Request, study: dict) -> dict:
    origin = str(request.url.origin())
    return {"participant_url": f"{origin}/p/{study['participant_token']}",
            "results_url": f"{origin}/studies/{study['id']}"}


def _text(body: dict, name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{name}" must be a non-empty string')
    if len(value) > limit:
        raise ValueError(f'"{name}" is too long ({len(value)} characters; the limit is {limit})')
    return value.strip()


def parse_study(body) -> dict:
    """Check a new study's JSON; ValueError with what is wrong."""
    if not isinstance(body, dict):
        raise ValueError('a study is a JSON object: {"title": ..., "consent": ..., "tasks": [...]}')
    unknown = set(body) - {"title", "consent", "tasks", "feedback", "screen"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise ValueError('"tasks" must be a non-empty list of strings')
    if len(tasks) > TASKS_MAX:
        raise ValueError(f'too many tasks ({len(tasks)}; the limit is {TASKS_MAX})')
    for i, t in enumerate(tasks):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f'task {i} must be a non-empty string')
        if len(t) > TASK_MAX:
            raise ValueError(f'task {i} is too long ({len(t)} characters; the limit is {TASK_MAX})')
    feedback = body.get("feedback", True)
    if not isinstance(feedback, bool):
        raise ValueError('"feedback" must be true or false')
    screen = body.get("screen", False)
    if not isinstance(screen, bool):
        raise ValueError('"screen" must be true or false')
    return {"title": _text(body, "title", TITLE_MAX), "consent": _text(body, "consent", CONSENT_MAX),
            "tasks": [t.strip() for t in tasks], "feedback": feedback, "screen": screen}


@researcher
async def create_study(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > BODY_MAX:
        return error(413, f"the request is too large (the limit is {BODY_MAX} bytes)")
    try:
        raw = await request.content.read(BODY_MAX + 1)
        if len(raw) > BODY_MAX:
            return error(413, f"the request is too large (the limit is {BODY_MAX} bytes)")
        study = parse_study(strict_text.loads(raw, what="the request body"))
    except ValueError as e:  # strict_text.TextError is one too
        return error(400, f"invalid study: {e}")
    created = await store.create_study(request.app[keys.STUDIES].db, **study)
    return web.json_response({"id": created["id"], **study_links(request, created)}, status=201)


def study_json(request: web.Request, study: dict) -> dict:
    return {"id": study["id"], "title": study["title"], "consent": study["consent"], "tasks": study["tasks"],
            "feedback": study["feedback"], "screen": study["screen"], "created": utc_iso(study["created"]),
            **study_links(request, study)}


def session_json(session: dict) -> dict:
    return {**session, "started": utc_iso(session["started"]), "ended": utc_iso(session["ended"]) or None}


@researcher
async def list_studies(request: web.Request) -> web.Response:
    found = await store.list_studies(request.app[keys.STUDIES].db)
    return web.json_response([{**study_json(request, s), "sessions": s["sessions"]} for s in found])


def with_record(kind: str):
    """A researcher's handler of one ``kind`` ("study" or "session", by the path's id): called with the
    database and the record (a session's with its study too); 404 if there is none."""
    get = store.get_study if kind == "study" else store.get_session

    def decorate(handler):
        @researcher
        @wraps(handler)
        async def wrapped(request: web.Request):
            db = request.app[keys.STUDIES].db
            found = await get(db, request.match_info["id"])
            if found is None:
                return error(404, NOT_FOUND[kind])
            if kind == "session":
                return await handler(request, db, found, await store.get_study(db, found["study_id"]))
            return await handler(request, db, found)

        return wrapped

    return decorate


@with_record("study")
async def show_study(request: web.Request, db, study: dict) -> web.Response:
    live = request.app[keys.STUDIES].live
    found = [{**session_json(s), "live": s["id"] in live} for s in await store.study_sessions(db, study["id"])]
    return web.json_response({**study_json(request, study), "sessions": found})


def _csv_headers(name: str) -> dict:
    return {"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'}


async def _csv_response(request: web.Request, name: str, rows) -> web.StreamResponse:
    response = web.StreamResponse(headers=_csv_headers(name))
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    n = 0
    async for row in rows:
        writer.writerow(schema_row(row))
        n += 1
        if n % 2000 == 0:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


@with_record("study")
async def export_study(request: web.Request, db, study: dict) -> web.StreamResponse:
    return await _csv_response(request, f"study-{study['id'][:8]}.csv", store.result_rows(db, study_id=study["id"]))


NOTE_COLUMNS = ("session", "time_s", "utc", "text")


def _notes_csv(name: str, notes: list[dict]) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(NOTE_COLUMNS)
    writer.writerows([n["session_id"], f"{n['time_s']:.3f}", n["utc"], n["text"]] for n in notes)
    return web.Response(body=buffer.getvalue().encode(), headers=_csv_headers(name))


@with_record("study")
async def export_study_notes(request: web.Request, db, study: dict) -> web.Response:
    return _notes_csv(f"study-{study['id'][:8]}-notes.csv", await store.notes_of(db, study_id=study["id"]))


@with_record("session")
async def export_session_notes(request: web.Request, db, session: dict, _study: dict) -> web.Response:
    return _notes_csv(f"session-{session['id'][:8]}-notes.csv", await store.notes_of(db, session_id=session["id"]))


BIN_DEFAULT, BIN_MIN, BIN_MAX = 1.0, 0.1, 600.0


async def _comparison(request: web.Request, db, study: dict) -> dict:
    try:
        bin_s = float(request.query.get("bin", BIN_DEFAULT))
    except ValueError:
        bin_s = float("nan")
    if not BIN_MIN <= bin_s <= BIN_MAX:  # also NaN
        raise web.HTTPBadRequest(text=json.dumps({"error": f"bin must be seconds from {BIN_MIN} to {BIN_MAX}"}),
                                 content_type="application/json")
    sessions = await store.session_list(db, study["id"])
    figures = comparison(sessions, study["tasks"], await store.task_counts(db, study["id"]),
                         await store.task_bins(db, study["id"], bin_s), bin_s)
    return {"study": study["id"], "title": study["title"],
            "sessions": [{"id": s["id"], "started": utc_iso(s["started"]), "ended": utc_iso(s["ended"]) or None}
                         for s in sessions], **figures}


@with_record("study")
async def compare_json(request: web.Request, db, study: dict) -> web.Response:
    return web.json_response(await _comparison(request, db, study))


COMPARE_COLUMNS = ("task", "title", "session", "sessions", "faces", *(f"share_{c}" for c in CLASSES),
                   *(f"prob_{c}" for c in CLASSES))


@with_record("study")
async def compare_csv(request: web.Request, db, study: dict) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COMPARE_COLUMNS)
    for t in (await _comparison(request, db, study))["tasks"]:
        task = "" if t["task"] is None else t["task"]
        for session, n, row in [("mean", t["mean"]["sessions"], t["mean"]),
                                *((r["session"], "", r) for r in t["sessions"])]:
            writer.writerow([task, t["title"], session, n, row["faces"], *(row["shares"][c] for c in CLASSES),
                             *(row["mean_probs"][c] for c in CLASSES)])
    return web.Response(body=buffer.getvalue().encode(), headers=_csv_headers(f"study-{study['id'][:8]}-compare.csv"))


def _session_notes(notes: list[dict]) -> list[dict]:
    return [{k: v for k, v in n.items() if k != "session_id"} for n in notes]


@researcher
async def delete_study(request: web.Request) -> web.Response:
    if not await request.app[keys.STUDIES].delete_study(request.match_info["id"]):
        return error(404, NOT_FOUND["study"])
    return web.Response(status=204)


@with_record("session")
async def show_session(request: web.Request, db, session: dict, study: dict) -> web.Response:
    rows = [dict(r) async for r in store.result_rows(db, session_id=session["id"])]
    return web.json_response({
        **session_json(session),
        "live": session["id"] in request.app[keys.STUDIES].live,
        "study": {"id": study["id"], "title": study["title"], "tasks": study["tasks"]},
        "rows": len(rows),
        "markers": await store.session_markers(db, session["id"]),
        "notes": _session_notes(await store.notes_of(db, session_id=session["id"])),
        **session_summary(rows, study["tasks"]),
        **await _screen_and_moments(request, session, study, rows),
    })


async def _screen_and_moments(request: web.Request, session: dict, study: dict, rows: list) -> dict:
    """The session's screen recording (or None) and its moments, baseline and per-task figures (insights.py)."""
    return {"screen": await request.app[keys.STUDIES].screen.info(session["id"]),
            **await asyncio.to_thread(session_insights, rows, study["tasks"])}  # off the loop: the streams


@with_record("session")
async def export_session_csv(request: web.Request, db, session: dict, _study: dict) -> web.StreamResponse:
    rows = store.result_rows(db, session_id=session["id"])
    return await _csv_response(request, f"session-{session['id'][:8]}.csv", rows)


@with_record("session")
async def export_session_json(request: web.Request, db, session: dict, study: dict) -> web.Response:
    stored = [r async for r in store.result_rows(db, session_id=session["id"])]
    rows = [{**{c: r[c] for c in COLUMNS}, "session": r["session_id"], "task": r["task"]} for r in stored]
    body = {"session": session_json(session), "study": {"id": study["id"], "title": study["title"],
                                                        "tasks": study["tasks"]},
            "markers": await store.session_markers(db, session["id"]),
            "notes": _session_notes(await store.notes_of(db, session_id=session["id"])),
            **await _screen_and_moments(request, session, study, stored),
            "columns": list(EXPORT_COLUMNS), "rows": rows}
    return web.json_response(body, headers={
        "Content-Disposition": f'attachment; filename="session-{session["id"][:8]}.json"'})


@researcher
async def delete_session(request: web.Request) -> web.Response:
    if not await request.app[keys.STUDIES].delete_session(request.match_info["id"]):
        return error(404, NOT_FOUND["session"])
    return web.Response(status=204)


async def participant_delete(request: web.Request) -> web.Response:
    studies = request.app[keys.STUDIES]
    study = await store.study_by_token(studies.db, request.match_info["token"])
    if study is None or not await studies.delete_session(request.match_info["id"], study_id=study["id"]):
        return error(404, "no such session (already deleted?)")
    return web.Response(status=204)
