"""The studies' JSON API (docs/studies.md). Errors are ``{"error": message}``.

Researcher (``Authorization: Bearer TOKEN``, or the cookie of the login form; else 401):

    POST   /api/studies                    {"title", "consent", "tasks": [...], "feedback": true, and optionally
                                           "check_required", "max_sessions", "retention_days", "quality": {...}}
                                           -> 201 {id, participant_url, results_url}
    PATCH  /api/studies/{id}               {"closed": true|false, "max_sessions", "retention_days",
                                           "check_required", "quality"}: the study's lifecycle and thresholds
    GET    /api/studies                    every study, newest first, with its sessions per status
    GET    /api/studies/{id}               the study and its sessions (label, status, check, figures, flags)
    GET    /api/studies/{id}/export.csv    every session's rows (the participant's; ?faces=all: every face)
    GET    /api/studies/{id}/sessions.csv  the sessions table
    GET    /api/studies/{id}/notes.csv     every session's notes
    GET    /api/studies/{id}/export.zip    everything: a folder per session, the study's CSVs, README.txt
    GET    /api/studies/{id}/compare.json  per task: each session's figures beside the study's mean, timelines
                                           aligned on the task's start (?bin=SECONDS; completed sessions, or
                                           ?incomplete=1 also the incomplete and running ones)
    GET    /api/studies/{id}/compare.csv   the same table
    GET    /api/studies/{id}/live          the live view, a WebSocket (observe.py)
    DELETE /api/studies/{id}               the study, its sessions, markers and results
    GET    /api/sessions/{id}              a session: figures, flags, markers, notes, timeline, per-task table
                                           (with valence, expressiveness, moments: insights.py); its screen
                                           recording (screen.py), baseline and moments
    GET    /api/sessions/{id}/export.csv   its rows;  .../export.json: the same with markers, notes and figures
    GET    /api/sessions/{id}/markers.csv  its markers;  .../notes.csv: its notes
    DELETE /api/sessions/{id}
    GET    /api/researcher                 who is logged in ({"name"}), 401 if nobody

Participant (the study's token from the invitation link, and the session id it got on /ws):

    DELETE /api/participant/{token}/sessions/{id}     "stop and delete my data": the session is withdrawn

Task numbers are 1-based everywhere here (``task``, with its ``title``), as on the pages.
"""

from __future__ import annotations

import json
import math
import time
from functools import wraps

from aiohttp import web

from ml.schema import utc_iso

from .. import keys, strict_text
from . import exports, store
from .auth import researcher_name, unauthorized
from .definitions import QUALITY_DEFAULTS, session_labels, thresholds
from .figures import session_entry, session_summary, study_overview
from .insights import session_insights, study_insights
from .rows import EXPORT_COLUMNS
from .service import WITHDRAW_DOWN, DatabaseUnavailable
from .summary import compared_sessions, comparison
from ..storage.models import CONSENT_MAX, TASK_MAX, TASKS_MAX, TITLE_MAX

BODY_MAX = 256 * 1024
ID = r"{id:[A-Za-z0-9_-]{1,64}}"
NOT_FOUND = {"study": "no such study", "session": "no such session"}
MAX_SESSIONS_LIMIT = 100_000
RETENTION_DAYS_MAX = 36_500  # a hundred years
QUALITY_RANGES = {"min_face_share": (0.0, 1.0), "min_face_px": (0.0, 10_000.0), "min_brightness": (0.0, 255.0),
                  "max_other_s": (0.0, 86_400.0)}
assert set(QUALITY_RANGES) == set(QUALITY_DEFAULTS)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/studies", create_study)
    r.add_get("/api/studies", list_studies)
    r.add_get(f"/api/studies/{ID}", show_study)
    r.add_patch(f"/api/studies/{ID}", change_study)
    r.add_get(f"/api/studies/{ID}/export.csv", export_study)
    r.add_get(f"/api/studies/{ID}/sessions.csv", export_sessions)
    r.add_get(f"/api/studies/{ID}/export.zip", export_zip)
    r.add_get(f"/api/studies/{ID}/notes.csv", export_study_notes)
    r.add_get(f"/api/studies/{ID}/compare.json", compare_json)
    r.add_get(f"/api/studies/{ID}/compare.csv", compare_csv)
    r.add_delete(f"/api/studies/{ID}", delete_study)
    r.add_get(f"/api/sessions/{ID}", show_session)
    r.add_get(f"/api/sessions/{ID}/export.csv", export_session_csv)
    r.add_get(f"/api/sessions/{ID}/export.json", export_session_json)
    r.add_get(f"/api/sessions/{ID}/markers.csv", export_session_markers)
    r.add_get(f"/api/sessions/{ID}/notes.csv", export_session_notes)
    r.add_delete(f"/api/sessions/{ID}", delete_session)
    r.add_get("/api/researcher", whoami)
    r.add_delete("/api/participant/{token:[A-Za-z0-9_-]{1,64}}/sessions/" + ID, participant_withdraw)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def researcher(handler):
    @wraps(handler)
    async def wrapped(request: web.Request):
        if await researcher_name(request) is None:
            return unauthorized()
        return await handler(request)

    return wrapped


def study_links(request: web.Request, study: dict) -> dict:
    origin = str(request.url.origin())
    return {"participant_url": f"{origin}/p/{study['participant_token']}",
            "results_url": f"{origin}/studies/{study['id']}"}


# -- a study's fields ---------------------------------------------------------------------------


def _text(body: dict, name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{name}" must be a non-empty string')
    if len(value) > limit:
        raise ValueError(f'"{name}" is too long ({len(value)} characters; the limit is {limit})')
    return value.strip()


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_settings(body: dict) -> dict:
    """The study's lifecycle and quality settings in ``body`` (each optional); ValueError with what is wrong."""
    out = {}
    if "check_required" in body:
        if not isinstance(body["check_required"], bool):
            raise ValueError('"check_required" must be true (a failed camera check blocks the tasks) or false '
                             "(it only flags the session)")
        out["check_required"] = body["check_required"]
    if "max_sessions" in body:
        n = body["max_sessions"]
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SESSIONS_LIMIT):
            raise ValueError(f'"max_sessions" must be a whole number from 1 to {MAX_SESSIONS_LIMIT} '
                             "(the most participants), or null for no cap")
        out["max_sessions"] = n
    if "retention_days" in body:
        days = body["retention_days"]
        if days is not None and (not _number(days) or not 0 < days <= RETENTION_DAYS_MAX):
            raise ValueError(f'"retention_days" must be more than 0 and at most {RETENTION_DAYS_MAX} days '
                             "(sessions are deleted that long after they ended), or null to keep them until deleted")
        out["retention_days"] = None if days is None else float(days)
    if "quality" in body:
        given = body["quality"]
        if given is not None and not isinstance(given, dict):
            raise ValueError('"quality" must be an object of thresholds, e.g. {"min_face_share": 0.8}')
        given = given or {}
        unknown = set(given) - set(QUALITY_RANGES)
        if unknown:
            raise ValueError(f"unknown quality threshold(s): {', '.join(sorted(unknown))[:200]} "
                             f"(known: {', '.join(QUALITY_RANGES)})")
        for key, value in given.items():
            lo, hi = QUALITY_RANGES[key]
            if value is not None and (not _number(value) or not lo <= value <= hi):
                raise ValueError(f'quality "{key}" must be a number from {lo:g} to {hi:g}, or null for no threshold')
        out["quality"] = {**thresholds(None), **given}
    return out


def parse_study(body) -> dict:
    """Check a new study's JSON; ValueError with what is wrong."""
    if not isinstance(body, dict):
        raise ValueError('a study is a JSON object: {"title": ..., "consent": ..., "tasks": [...]}')
    unknown = set(body) - {"title", "consent", "tasks", "feedback", "screen", "check_required", "max_sessions",
                           "retention_days", "quality"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise ValueError('"tasks" must be a non-empty list of strings')
    if len(tasks) > TASKS_MAX:
        raise ValueError(f'too many tasks ({len(tasks)}; the limit is {TASKS_MAX})')
    for i, t in enumerate(tasks):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f'task {i + 1} must be a non-empty string')
        if len(t) > TASK_MAX:
            raise ValueError(f'task {i + 1} is too long ({len(t)} characters; the limit is {TASK_MAX})')
    feedback = body.get("feedback", True)
    if not isinstance(feedback, bool):
        raise ValueError('"feedback" must be true or false')
    screen = body.get("screen", False)
    if not isinstance(screen, bool):
        raise ValueError('"screen" must be true or false')
    return {"title": _text(body, "title", TITLE_MAX), "consent": _text(body, "consent", CONSENT_MAX),
            "tasks": [t.strip() for t in tasks], "feedback": feedback, "screen": screen,
            **parse_settings(body)}


def parse_change(body) -> dict:
    """Check a study's change (PATCH); ValueError with what is wrong."""
    if not isinstance(body, dict) or not body:
        raise ValueError('a change is a JSON object, e.g. {"closed": true}')
    unknown = set(body) - {"closed", "check_required", "max_sessions", "retention_days", "quality"}
    if unknown:
        raise ValueError(f"unknown or unchangeable field(s): {', '.join(sorted(unknown))[:200]}")
    out = parse_settings(body)
    if "closed" in body:
        if not isinstance(body["closed"], bool):
            raise ValueError('"closed" must be true (no new sessions) or false (open again)')
        out["closed"] = body["closed"]
    return out


async def read_json(request: web.Request, what: str):
    """The request's JSON body; web.HTTPException (as JSON, its message after ``what``) when too large
    or not JSON."""
    if request.content_length is not None and request.content_length > BODY_MAX:
        raise _json_error(413, f"the request is too large (the limit is {BODY_MAX} bytes)")
    raw = await request.content.read(BODY_MAX + 1)
    if len(raw) > BODY_MAX:
        raise _json_error(413, f"the request is too large (the limit is {BODY_MAX} bytes)")
    try:  # UTF-8 JSON of bounded depth, without NUL or lone surrogates
        return strict_text.loads(raw, what="the request body")
    except strict_text.TextError as e:
        raise _json_error(400, f"{what}: {e}") from None


def _json_error(status: int, message: str) -> web.HTTPException:
    kind = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict,
            413: web.HTTPRequestEntityTooLarge}[status]
    kwargs = {"max_size": BODY_MAX, "actual_size": 0} if status == 413 else {}
    return kind(text=json.dumps({"error": message}), content_type="application/json", **kwargs)


@researcher
async def create_study(request: web.Request) -> web.Response:
    body = await read_json(request, "invalid study")
    try:
        study = parse_study(body)
    except ValueError as e:
        return error(400, f"invalid study: {e}")
    created = await store.create_study(request.app[keys.STUDIES].db, **study)
    return web.json_response({"id": created["id"], **study_links(request, created)}, status=201)


def study_json(request: web.Request, study: dict) -> dict:
    return {"id": study["id"], "title": study["title"], "consent": study["consent"], "tasks": study["tasks"],
            "feedback": study["feedback"], "screen": study["screen"], "created": utc_iso(study["created"]),
            "closed": utc_iso(study["closed"]) or None, "max_sessions": study["max_sessions"],
            "retention_days": study["retention_days"], "check_required": study["check_required"],
            "quality": thresholds(study["quality"]), **study_links(request, study)}


def session_json(session: dict) -> dict:
    """A session entry (``figures.session_entry``) with its times as ISO 8601 UTC."""
    return {**session, "started": utc_iso(session["started"]), "ended": utc_iso(session["ended"]) or None}


@researcher
async def list_studies(request: web.Request) -> web.Response:
    found = await store.list_studies(request.app[keys.STUDIES].db)
    return web.json_response([{**study_json(request, s), "sessions": s["sessions"], "statuses": s["statuses"],
                               "last_session": utc_iso(s["last_session"]) or None} for s in found])


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


def _live(request: web.Request):
    return request.app[keys.STUDIES].live


@with_record("study")
async def show_study(request: web.Request, db, study: dict) -> web.Response:
    found = await study_overview(db, study, _live(request))
    return web.json_response({**study_json(request, study), "sessions": [session_json(s) for s in found]})


@with_record("study")
async def change_study(request: web.Request, db, study: dict) -> web.Response:
    body = await read_json(request, "invalid change")
    try:
        change = parse_change(body)
    except ValueError as e:
        return error(400, f"invalid change: {e}")
    if "closed" in change:
        change["closed"] = (study["closed"] or time.time()) if change["closed"] else None
    changed = await request.app[keys.STUDIES].change_study(study["id"], change)
    if changed is None:
        return error(404, NOT_FOUND["study"])
    return web.json_response(study_json(request, changed))


def _csv_headers(name: str) -> dict:
    return {"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'}


def _all_faces(request: web.Request) -> bool:
    """``?faces=all``: every face's rows; default: the participant's row of each frame only."""
    faces = request.query.get("faces", "participant")
    if faces not in ("participant", "all"):
        raise _json_error(400, "faces must be participant (the default: the participant's row of each frame) or all")
    return faces == "all"


async def _stream(request: web.Request, name: str, chunks) -> web.StreamResponse:
    response = web.StreamResponse(headers=_csv_headers(name))
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def _labels(db, study_id: str) -> dict:
    return session_labels(await store.study_sessions(db, study_id))


@with_record("study")
async def export_study(request: web.Request, db, study: dict) -> web.StreamResponse:
    rows = store.result_rows(db, study_id=study["id"], participant_only=not _all_faces(request))
    return await _stream(request, f"study-{study['id'][:8]}.csv",
                         exports.rows_csv(rows, study["tasks"], await _labels(db, study["id"])))


@with_record("study")
async def export_sessions(request: web.Request, db, study: dict) -> web.Response:
    text = exports.sessions_csv(await study_overview(db, study, _live(request)))
    return web.Response(body=text.encode(), headers=_csv_headers(f"study-{study['id'][:8]}-sessions.csv"))


@with_record("study")
async def export_study_notes(request: web.Request, db, study: dict) -> web.Response:
    text = exports.notes_csv(await store.notes_of(db, study_id=study["id"]), await _labels(db, study["id"]))
    return web.Response(body=text.encode(), headers=_csv_headers(f"study-{study['id'][:8]}-notes.csv"))


BIN_DEFAULT, BIN_MIN, BIN_MAX = 1.0, 0.1, 600.0


def _include_incomplete(request: web.Request) -> bool:
    value = request.query.get("incomplete", "0")
    if value not in ("0", "1"):
        raise _json_error(400, "incomplete must be 0 (completed sessions only, the default) or 1 (also the "
                               "incomplete and running ones)")
    return value == "1"


async def _comparison(request: web.Request, db, study: dict, overview: list[dict] | None = None) -> dict:
    try:
        bin_s = float(request.query.get("bin", BIN_DEFAULT))
    except ValueError:
        bin_s = float("nan")
    if not BIN_MIN <= bin_s <= BIN_MAX:  # also NaN
        raise _json_error(400, f"bin must be seconds from {BIN_MIN} to {BIN_MAX}")
    incomplete = _include_incomplete(request)
    if overview is None:
        overview = await study_overview(db, study, _live(request), tasks=True)
    included = compared_sessions(overview, incomplete)
    ids = {s["id"] for s in included}
    bins = [b for b in await store.task_bins(db, study["id"], bin_s) if b["session_id"] in ids]
    figures = comparison(included, study["tasks"], bins, bin_s)
    return {"study": study["id"], "title": study["title"], "incomplete": incomplete,
            "sessions": [{"id": s["id"], "label": s["label"], "status": s["status"], "started": utc_iso(s["started"]),
                          "ended": utc_iso(s["ended"]) or None, "flags": s["flags"]} for s in included],
            "left_out": {k: sum(1 for s in overview if s["status"] == k and s["id"] not in ids)
                         for k in ("incomplete", "live", "withdrawn")},
            **figures}


@with_record("study")
async def compare_json(request: web.Request, db, study: dict) -> web.Response:
    return web.json_response(await _comparison(request, db, study))


@with_record("study")
async def compare_csv(request: web.Request, db, study: dict) -> web.Response:
    text = exports.compare_csv(await _comparison(request, db, study))
    return web.Response(body=text.encode(), headers=_csv_headers(f"study-{study['id'][:8]}-compare.csv"))


async def _session_export(db, study: dict, entry: dict, found: dict, rows: list | None = None) -> dict:
    """A session as its JSON export: the session (``entry``: label, status, check, figures, flags), the
    study, its per-task figures (with valence, expressiveness, moments), baseline and moments (``found``:
    insights.py), markers and notes; with ``rows`` (already in JSON form) the rows too."""
    body = {"session": session_json(entry), "study": {"id": study["id"], "title": study["title"],
                                                      "tasks": study["tasks"]},
            "tasks": found["tasks"], "baseline": found["baseline"], "moments": found["moments"],
            "markers": [exports.marker_json(m, study["tasks"]) for m in await store.session_markers(db, entry["id"])],
            "notes": _session_notes(await store.notes_of(db, session_id=entry["id"]))}
    if rows is not None:
        body.update(columns=list(EXPORT_COLUMNS), rows=rows)
    return body


@with_record("study")
async def export_zip(request: web.Request, db, study: dict) -> web.StreamResponse:
    incomplete = _include_incomplete(request)
    overview = await study_overview(db, study, _live(request), tasks=True)
    compared = await _comparison(request, db, study, overview)
    recorded = await request.app[keys.STUDIES].screen.ready_in(study["id"])
    found = await study_insights(db, study, _live(request), recorded, incomplete, overview)
    by_id = {s["id"]: s for s in found["sessions"]}
    response = web.StreamResponse(headers={"Content-Type": "application/zip",
                                           "Content-Disposition": f'attachment; filename="study-{study["id"][:8]}.zip"'})
    await response.prepare(request)

    async def session_doc(entry: dict) -> dict:
        return await _session_export(db, study, {k: v for k, v in entry.items() if k != "tasks"}, by_id[entry["id"]])

    await exports.write_zip(response.write, db, study, overview, compared,
                            "completed and incomplete" if incomplete else "completed", session_doc, found)
    await response.write_eof()
    return response


def _session_notes(notes: list[dict]) -> list[dict]:
    return [{k: v for k, v in n.items() if k != "session_id"} for n in notes]


@researcher
async def delete_study(request: web.Request) -> web.Response:
    if not await request.app[keys.STUDIES].delete_study(request.match_info["id"]):
        return error(404, NOT_FOUND["study"])
    return web.Response(status=204)


async def _entry(request: web.Request, db, session: dict, study: dict, summary: dict) -> dict:
    labels = await _labels(db, study["id"])
    live = session["id"] in _live(request)
    return session_entry(session, labels.get(session["id"], ""), summary, live, thresholds(study["quality"]))


@with_record("session")
async def show_session(request: web.Request, db, session: dict, study: dict) -> web.Response:
    summary = await session_summary(db, session, study["tasks"], timeline=True)
    entry = await _entry(request, db, session, study, summary)
    return web.json_response({
        **session_json(entry),
        "study": {"id": study["id"], "title": study["title"], "tasks": study["tasks"]},
        "rows": await store.count_rows(db, session["id"]),
        "markers": [exports.marker_json(m, study["tasks"]) for m in await store.session_markers(db, session["id"])],
        "notes": _session_notes(await store.notes_of(db, session_id=session["id"])),
        "timeline": summary["timeline"],
        "screen": await request.app[keys.STUDIES].screen.info(session["id"]),
        # "tasks": the per-task figures with valence, expressiveness, moments; "baseline", "moments"
        **await session_insights(db, session, study["tasks"], summary),
    })


@with_record("session")
async def export_session_csv(request: web.Request, db, session: dict, study: dict) -> web.StreamResponse:
    rows = store.result_rows(db, session_id=session["id"], participant_only=not _all_faces(request))
    return await _stream(request, f"session-{session['id'][:8]}.csv",
                         exports.rows_csv(rows, study["tasks"], await _labels(db, study["id"])))


@with_record("session")
async def export_session_json(request: web.Request, db, session: dict, study: dict) -> web.Response:
    all_faces = _all_faces(request)
    labels = await _labels(db, study["id"])
    label = labels.get(session["id"], "")
    rows = [exports.json_row(r, study["tasks"], label)
            async for r in store.result_rows(db, session_id=session["id"], participant_only=not all_faces)]
    summary = await session_summary(db, session, study["tasks"])
    entry = session_entry(session, label, summary, session["id"] in _live(request), thresholds(study["quality"]))
    found = await session_insights(db, session, study["tasks"], summary)
    body = await _session_export(db, study, entry, found, rows)
    body["screen"] = await request.app[keys.STUDIES].screen.info(session["id"])
    return web.json_response(body, headers={
        "Content-Disposition": f'attachment; filename="session-{session["id"][:8]}.json"'})


@with_record("session")
async def export_session_markers(request: web.Request, db, session: dict, study: dict) -> web.Response:
    label = (await _labels(db, study["id"])).get(session["id"], "")
    text = exports.markers_csv(session["id"], label, await store.session_markers(db, session["id"]), study["tasks"])
    return web.Response(body=text.encode(), headers=_csv_headers(f"session-{session['id'][:8]}-markers.csv"))


@with_record("session")
async def export_session_notes(request: web.Request, db, session: dict, study: dict) -> web.Response:
    text = exports.notes_csv(await store.notes_of(db, session_id=session["id"]), await _labels(db, study["id"]))
    return web.Response(body=text.encode(), headers=_csv_headers(f"session-{session['id'][:8]}-notes.csv"))


@researcher
async def delete_session(request: web.Request) -> web.Response:
    if not await request.app[keys.STUDIES].delete_session(request.match_info["id"]):
        return error(404, NOT_FOUND["session"])
    return web.Response(status=204)


async def whoami(request: web.Request) -> web.Response:
    name = await researcher_name(request)
    if name is None:
        return unauthorized()
    return web.json_response({"name": name})


async def participant_withdraw(request: web.Request) -> web.Response:
    """The participant stops and deletes their data (any moment: camera check, a task, the end)."""
    studies = request.app[keys.STUDIES]
    try:
        study = await store.study_by_token(studies.db, request.match_info["token"])
        if study is None or not await studies.withdraw(request.match_info["id"], study["id"]):
            return error(404, "no such session (already deleted?)")
    except DatabaseUnavailable as e:  # nothing was deleted: the page says so, the participant tries again
        return web.json_response({"error": str(e)}, status=503, headers={"Retry-After": "60"})
    except Exception as e:
        if studies.db.health.failed(e, "withdrawing a session"):
            return web.json_response({"error": WITHDRAW_DOWN}, status=503, headers={"Retry-After": "60"})
        raise
    return web.Response(status=204)
