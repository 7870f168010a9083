"""A session's moments and per-task figures, and a study's hotspots, from the stored rows (moments.py has
the definitions; this module only gathers their input).

    found = session_insights(rows, tasks)                 # rows: the session's stored rows, in order
    spots = await study_hotspots(db, study, screen)       # every completed session of the study

Three things come from issue 21 (the participant's face, the camera check, session status); until it
is merged each is one small function here, marked ``ISSUE 21``, so that the switch is in one place.
"""

from __future__ import annotations

import asyncio

from ml.labels import CLASSES

from . import store
from .moments import Point, SessionMoments, baseline, hotspots, moments, task_figures


# ---- ISSUE 21 integration points ----

def participant_timeline(rows) -> list[Point]:
    """ISSUE 21: the participant's face only. Until then: each analysed frame's first row (its largest
    face), as the session timeline shows it; a frame without a face is a point without probabilities.
    Rows of a recording added to the session (``file`` set: another clock) are left out."""
    line, last = [], None
    for r in rows:
        if r["file"]:
            continue
        key = (r["frame"], r["time_s"])
        if key == last:
            continue
        last = key
        line.append(Point(r["time_s"], r["task"], None if r["face"] is None else [r[c] for c in CLASSES]))
    return line


def session_baseline(line: list[Point]):
    """ISSUE 21: the camera check's frames. Until then: the first seconds after the face is first seen."""
    return baseline(line)


def completed(markers: list[dict], n_tasks: int) -> bool:
    """ISSUE 21: the session's status is ``completed``. Until then: every task was ended (its Done pressed)."""
    return {m["task"] for m in markers if m["event"] == "end"} >= set(range(n_tasks))


# ---- a session ----

def _insights(rows, tasks: list[str]):
    line = participant_timeline(rows)
    base = session_baseline(line)
    found = moments(line, base)
    figures = task_figures(line, base, found, len(tasks))
    for f in figures:
        f["title"] = tasks[f["task"]] if f["task"] is not None else "(outside tasks)"
    return base, found, figures


def session_insights(rows, tasks: list[str]) -> dict:
    """``baseline``, ``moments`` and ``task_figures`` (per task: valence, expressiveness ...) of a session."""
    base, found, figures = _insights(rows, tasks)
    return {"baseline": None if base is None else base.to_json(), "moments": [m.to_json() for m in found],
            "task_figures": figures}


# ---- a study ----

def task_spans(markers: list[dict]) -> dict:
    """Each task's first start and its end after it (None while it runs): {task: [start_s, end_s]}."""
    spans: dict = {}
    for m in markers:
        if m["event"] == "start" and m["task"] not in spans:
            spans[m["task"]] = [m["time_s"], None]
        elif m["event"] == "end" and m["task"] in spans and spans[m["task"]][1] is None:
            spans[m["task"]][1] = m["time_s"]
    return spans


async def study_insights(db, study: dict, recorded: set[str] | None = None) -> dict:
    """Every session's insights (with its short label S1, S2 ... in start order, as the pages show it, and
    whether it counts as completed) and the study's hotspots over its completed sessions.
    ``recorded``: the sessions with a screen recording to play."""
    sessions = await store.session_list(db, study["id"])
    marks = await store.study_markers(db, study["id"])
    recorded = recorded or set()
    out, parts = [], []
    for i, s in enumerate(sessions):
        rows = [r async for r in store.result_rows(db, session_id=s["id"])]
        base, found, figures = await asyncio.to_thread(_insights, rows, study["tasks"])
        done = completed(marks.get(s["id"], []), len(study["tasks"]))
        label = f"S{i + 1}"
        out.append({"id": s["id"], "label": label, "completed": done, "recording": s["id"] in recorded,
                    "task_spans": task_spans(marks.get(s["id"], [])),
                    "baseline": None if base is None else base.to_json(), "moments": [m.to_json() for m in found],
                    "task_figures": figures})
        if done:
            starts = {task: span[0] for task, span in task_spans(marks.get(s["id"], [])).items()}
            parts.append(SessionMoments(s["id"], label, starts, found,
                                        s["id"] in recorded))
    return {"sessions": out, "hotspots": hotspots(parts, study["tasks"])}
