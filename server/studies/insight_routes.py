"""The moments', per-task figures' and hotspots' API (docs/studies.md, "Moments, figures and hotspots"); researcher only.

    GET /api/sessions/{id}/moments.csv     the session's moments (also in GET /api/sessions/{id} and its JSON export)
    GET /api/studies/{id}/insights.json    every session's baseline, moments and per-task figures; the hotspots
    GET /api/studies/{id}/moments.csv      every session's moments
    GET /api/studies/{id}/figures.csv      every session's per-task valence, expressiveness, face time, moments
    GET /api/studies/{id}/hotspots.csv     one row per participant of each hotspot
"""

from __future__ import annotations

import asyncio
import csv
import io
import time

from aiohttp import web

from ml.schema import utc_iso

from .. import keys
from . import store
from .insights import session_insights, study_insights
from .moments import DEFINITIONS, KINDS
from .routes import ID, _csv_headers, with_record

MOMENT_COLUMNS = ("session", "label", "kind", "expression", "task", "title", "start_s", "length_s", "peak_s",
                  "strength", "play_from_s")
FIGURE_COLUMNS = ("session", "label", "completed", "task", "title", "frames_with_face", "face_s", "valence",
                  "expressiveness", *(f"moments_{k}" for k in KINDS))
HOTSPOT_COLUMNS = ("task", "title", "kind", "from_s", "to_s", "sessions", "of", "text", "session", "label",
                   "onset_s", "at_s", "play_from_s", "expression", "strength", "recording")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"/api/sessions/{ID}/moments.csv", session_moments_csv)
    r.add_get(f"/api/studies/{ID}/insights.json", insights_json)
    r.add_get(f"/api/studies/{ID}/moments.csv", study_moments_csv)
    r.add_get(f"/api/studies/{ID}/figures.csv", figures_csv)
    r.add_get(f"/api/studies/{ID}/hotspots.csv", hotspots_csv)


def _csv(name: str, columns, rows) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([("" if v is None else v) for v in row] for row in rows)
    return web.Response(body=buffer.getvalue().encode(), headers=_csv_headers(name))


def _title(tasks: list[str], task) -> str:
    return tasks[task] if task is not None else "(outside tasks)"


def _moment_rows(session: str, label: str, moments: list[dict], tasks: list[str]):
    for m in moments:
        yield (session, label, m["kind"], m["expression"], m["task"], _title(tasks, m["task"]), m["start_s"],
               m["length_s"], m["peak_s"], m["strength"], m["play_from_s"])


async def _study(request: web.Request, db, study: dict) -> dict:
    recorded = await request.app[keys.STUDIES].screen.ready_in(study["id"])
    return await study_insights(db, study, recorded)


@with_record("session")
async def session_moments_csv(request: web.Request, db, session: dict, study: dict) -> web.Response:
    rows = [r async for r in store.result_rows(db, session_id=session["id"])]
    found = (await asyncio.to_thread(session_insights, rows, study["tasks"]))["moments"]
    return _csv(f"session-{session['id'][:8]}-moments.csv", MOMENT_COLUMNS,
                _moment_rows(session["id"], "", found, study["tasks"]))


@with_record("study")
async def insights_json(request: web.Request, db, study: dict) -> web.Response:
    found = await _study(request, db, study)
    return web.json_response({"study": study["id"], "title": study["title"], "tasks": study["tasks"],
                              "computed": utc_iso(time.time()), "definitions": DEFINITIONS, **found})


@with_record("study")
async def study_moments_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await _study(request, db, study)
    rows = (row for s in found["sessions"] for row in _moment_rows(s["id"], s["label"], s["moments"], study["tasks"]))
    return _csv(f"study-{study['id'][:8]}-moments.csv", MOMENT_COLUMNS, rows)


@with_record("study")
async def figures_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await _study(request, db, study)
    rows = ((s["id"], s["label"], s["completed"], f["task"], f["title"], f["frames_with_face"], f["face_s"],
             f["valence"], f["expressiveness"], *(f["moments"][k] for k in KINDS))
            for s in found["sessions"] for f in s["task_figures"])
    return _csv(f"study-{study['id'][:8]}-figures.csv", FIGURE_COLUMNS, rows)


@with_record("study")
async def hotspots_csv(request: web.Request, db, study: dict) -> web.Response:
    found = await _study(request, db, study)
    rows = ((h["task"], h["title"], h["kind"], h["from_s"], h["to_s"], h["sessions"], h["of"], h["text"],
             m["session"], m["label"], m["onset_s"], m["at_s"], m["play_from_s"], m["expression"], m["strength"],
             m["recording"]) for h in found["hotspots"] for m in h["members"])
    return _csv(f"study-{study['id'][:8]}-hotspots.csv", HOTSPOT_COLUMNS, rows)
