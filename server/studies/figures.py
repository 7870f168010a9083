"""The figures of a study's sessions for its pages and exports: ``definitions.summarize`` over each
session's participant timeline, kept in the session's row once it has ended (so a study's pages do
not read every row each time).

    summary = await session_summary(db, session, tasks)           # {"session": figures, "tasks": [...]}
    sessions = await study_overview(db, study, live_ids)          # every session: label, status, figures, flags

A kept summary is made ``KEEP_AFTER_S`` after the session ended (when its last rows are surely
stored) and forgotten when rows are added to the session (a recording) or it is withdrawn.
"""

from __future__ import annotations

import time

from . import store
from .definitions import quality_flags, session_labels, session_status, summarize, thresholds
from ..storage.db import Database

KEEP_AFTER_S = 5.0
VERSION = 1  # of the kept summaries: a change of the definitions makes them again


async def session_summary(db: Database, session: dict, tasks: list[str], *, timeline: bool = False) -> dict:
    """``summarize`` of a session: the kept one if there is one, else from its rows (kept if it may be)."""
    kept = session.get("figures")
    if not timeline and isinstance(kept, dict) and kept.get("version") == VERSION:
        return {k: v for k, v in kept.items() if k != "version"}
    frames = [f async for f in store.participant_frames(db, session["id"])]
    summary = summarize(frames, tasks, timeline=timeline)
    ended = session.get("ended")
    if ended is not None and ended < time.time() - KEEP_AFTER_S and session.get("status") != "withdrawn":
        kept = {"version": VERSION, "session": summary["session"], "tasks": summary["tasks"]}
        await store.set_figures(db, session["id"], kept)
    return summary


def session_entry(session: dict, label: str, summary: dict, live: bool, limits: dict) -> dict:
    """A session as every page and export lists it: id, label, times, status, camera check, its
    figures (``definitions.GLOSSARY``) and data-quality flags."""
    return {
        "id": session["id"], "label": label, "started": session["started"], "ended": session["ended"],
        "status": session_status(session, live), "live": live,
        "check": session.get("check_status"), "check_s": session.get("check_s"),
        **summary["session"],
        "flags": quality_flags(summary["session"], session.get("check_status"), limits),
    }


async def study_overview(db: Database, study: dict, live_ids=(), *, tasks: bool = False) -> list[dict]:
    """Every session of the study, oldest first, as ``session_entry`` gives it (``tasks``: with each
    session's per-task figures under ``"tasks"``)."""
    found = await store.study_sessions(db, study["id"])
    labels = session_labels(found)
    limits = thresholds(study.get("quality"))
    out = []
    for s in found:
        summary = await session_summary(db, s, study["tasks"])
        entry = session_entry(s, labels[s["id"]], summary, s["id"] in live_ids, limits)
        if tasks:
            entry["tasks"] = summary["tasks"]
        out.append(entry)
    return out
