"""The moments', per-task figures' and hotspots' API (docs/studies.md, "Moments, figures and hotspots"); researcher only.

    GET /api/sessions/{id}/moments.csv     the session's moments (also in GET /api/sessions/{id} and its JSON export)
    GET /api/studies/{id}/insights.json    every session's baseline, moments and per-task figures; the hotspots
    GET /api/studies/{id}/moments.csv      every session's moments
    GET /api/studies/{id}/figures.csv      every session's per-task face time, valence, expressiveness, moments
    GET /api/studies/{id}/hotspots.csv     one row per participant of each hotspot

The hotspots are made of the completed sessions; ``?incomplete=1`` also takes the incomplete and running
ones (as the comparison does). Task numbers count from 1, with their titles; the CSVs' columns are
those of export.zip (exports.py, README.txt).
"""

from __future__ import annotations

import time

from aiohttp import web

from ml.schema import utc_iso

from .. import keys
from . import exports
from .definitions import session_labels
from .insights import session_insights, study_insights
from .moments import DEFINITIONS
from .routes import ID, _csv_headers, _include_incomplete, _live, with_record
from . import store


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"/api/sessions/{ID}/moments.csv", session_moments_csv)
    r.add_get(f"/api/studies/{ID}/insights.json", insights_json)
    r.add_get(f"/api/studies/{ID}/moments.csv", study_moments_csv)
    r.add_get(f"/api/studies/{ID}/figures.csv", figures_csv)
    r.add_get(f"/api/studies/{ID}/hotspots.csv", hotspots_csv)


def _csv(name: str, text: str) -> web.Response:
    return web.Response(body=text.encode(), headers=_csv_headers(name))


async def study_found(request: web.Request, db, study: dict, overview: list[dict] | None = None) -> dict:
    """``insights.study_insights`` for a request (its ``?incomplete`` switch), with the recordings to play."""
    recorded = await request.app[keys.STUDIES].screen.ready_in(study["id"])
    return await study_insights(db, study, _live(request), recorded, _include_incomplete(request), overview)


@with_record("session")
async def session_moments_csv(request: web.Request, db, session: dict, study: dict) -> web.Response:
    found = await session_insights(db, session, study["tasks"])
    label = session_labels(await store.study_sessions(db, study["id"])).get(session["id"], "")
    return _csv(f"session-{session['id'][:8]}-moments.csv",
                exports.moments_csv([{"id": session["id"], "label": label, **found}]))


@with_record("study")
async def insights_json(request: web.Request, db, study: dict) -> web.Response:
    found = await study_found(request, db, study)
    return web.json_response({"study": study["id"], "title": study["title"], "tasks": study["tasks"],
                              "computed": utc_iso(time.time()), "definitions": DEFINITIONS, **found})


@with_record("study")
async def study_moments_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await study_found(request, db, study)
    return _csv(f"study-{study['id'][:8]}-moments.csv", exports.moments_csv(found["sessions"]))


@with_record("study")
async def figures_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await study_found(request, db, study)
    return _csv(f"study-{study['id'][:8]}-figures.csv", exports.task_figures_csv(found["sessions"]))


@with_record("study")
async def hotspots_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await study_found(request, db, study)
    return _csv(f"study-{study['id'][:8]}-hotspots.csv", exports.hotspots_csv(found["hotspots"]))
