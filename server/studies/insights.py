"""A session's moments and per-task figures, and a study's hotspots, from the participant's timeline
(moments.py has the definitions; this module gathers their input from issue 21's data).

    found = await session_insights(db, session, tasks, summary)   # {"baseline", "moments", "tasks"}
    found = await study_insights(db, study, live_ids, recorded)   # every session's, and the hotspots

- The participant's face only: ``store.frames_of`` (as ``store.participant_frames``), one point per
  analysed frame, another person's face never in it; a frame counts as one with their face exactly as
  in the figures (``definitions.has_face``: a held face, not found in the frame, is not a measurement).
- The baseline: the camera check's held seconds (``sessions.check_s`` of a passed check), else the
  participant's first seconds with a face.
- Per task: ``definitions.summarize``'s figures (``figures.session_summary``: the same numbers as every
  page and export) with valence, expressiveness and the moments added (``moments.task_figures``).
- Hotspots: over the completed sessions (``summary.compared_sessions``: with ``incomplete``, also the
  incomplete and running ones), as the comparison does.
"""

from __future__ import annotations

import asyncio

from ml.labels import CLASSES

from . import store
from .definitions import has_face
from .figures import session_summary, study_overview
from .moments import Baseline, Point, SessionMoments, baseline, hotspots, moments, task_figures
from .summary import compared_sessions


def participant_line(frames) -> list[Point]:
    """The participant's timeline (``store.frames_of``: one dict per analysed frame, the face fields None
    where the participant was not found) as moments.py takes it: tasks numbered from 1; probabilities
    only where ``definitions.has_face`` (a held face is a frame without the face, as in every figure)."""
    return [Point(f["time_s"], None if f["task"] is None else f["task"] + 1,
                  [f[c] or 0.0 for c in CLASSES] if has_face(f) else None, not f.get("file"))
            for f in frames]


def session_baseline(line: list[Point], check_status: str | None, check_s: float | None) -> Baseline | None:
    """The participant's baseline: their face while the camera check held, if it passed; else their first seconds."""
    return baseline(line, check_s if check_status == "passed" else None)


def _titled(moment: dict, tasks: list[str]) -> dict:
    task = moment["task"]
    return {**moment, "title": tasks[task - 1] if task is not None and 0 < task <= len(tasks) else "(outside tasks)"}


def _compute(keys: list[str], rows: list, check_status, check_s, periods: list[dict], tasks: list[str]):
    """Pure (a worker thread): the baseline, the moments and the per-task figures of a session's rows."""
    line = participant_line(store.frames_of(keys, rows))
    base = session_baseline(line, check_status, check_s)
    found = moments(line, base)
    return base, found, task_figures(line, base, found, periods)


def _json(base: Baseline | None, found, figures: list[dict], tasks: list[str]) -> dict:
    return {"baseline": None if base is None else base.to_json(),
            "moments": [_titled(m.to_json(), tasks) for m in found], "tasks": figures}


async def _insights(db, session_id: str, check_status, check_s, periods: list[dict], tasks: list[str]):
    keys, rows = await store.session_rows(db, session_id)
    return await asyncio.get_running_loop().run_in_executor(None, _compute, keys, rows, check_status, check_s,
                                                            periods, tasks)


async def session_insights(db, session: dict, tasks: list[str], summary: dict | None = None) -> dict:
    """``baseline``, ``moments`` and ``tasks`` (``summary``'s per-task figures, made if not given, each with
    valence, expressiveness and moments) of a session (a ``sessions`` row)."""
    if summary is None:
        summary = await session_summary(db, session, tasks)
    found = await _insights(db, session["id"], session.get("check_status"), session.get("check_s"),
                            summary["tasks"], tasks)
    return _json(*found, tasks)


def task_spans(markers: list[dict]) -> dict:
    """Each task's first start and its end after it (None while it runs): {task number (from 1): [start_s, end_s]}."""
    spans: dict = {}
    for m in markers:
        task = m["task"] + 1
        if m["event"] == "start" and task not in spans:
            spans[task] = [m["time_s"], None]
        elif m["event"] == "end" and task in spans and spans[task][1] is None:
            spans[task][1] = m["time_s"]
    return spans


async def study_insights(db, study: dict, live_ids=(), recorded: set[str] | None = None, incomplete: bool = False,
                         overview: list[dict] | None = None) -> dict:
    """Every session with data (withdrawn ones have none): its label and status as on the pages, whether the
    hotspots count it (``included``), whether it has a screen recording to play, its task spans, baseline,
    moments and per-task figures; and the hotspots over the included sessions. ``overview``:
    ``figures.study_overview(..., tasks=True)`` if the caller has it."""
    if overview is None:
        overview = await study_overview(db, study, live_ids, tasks=True)
    included = {s["id"] for s in compared_sessions(overview, incomplete)}
    marks = await store.study_markers(db, study["id"])
    recorded = recorded or set()
    out, parts = [], []
    for s in overview:
        if s["status"] == "withdrawn":
            continue
        base, found, figures = await _insights(db, s["id"], s["check"], s["check_s"], s["tasks"], study["tasks"])
        spans = task_spans(marks.get(s["id"], []))
        out.append({"id": s["id"], "label": s["label"], "status": s["status"], "included": s["id"] in included,
                    "recording": s["id"] in recorded, "task_spans": spans, **_json(base, found, figures, study["tasks"])})
        if s["id"] in included:
            parts.append(SessionMoments(s["id"], s["label"], {task: span[0] for task, span in spans.items()}, found,
                                        s["id"] in recorded))
    return {"incomplete": incomplete, "sessions": out, "hotspots": hotspots(parts, study["tasks"]),
            "left_out": {k: sum(1 for s in overview if s["status"] == k and s["id"] not in included)
                         for k in ("incomplete", "live", "withdrawn")}}
