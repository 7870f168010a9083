"""The figures of a study's sessions for its pages and exports: ``definitions.summarize`` over each
session's participant timeline, off the event loop, and never made twice from the same rows.

    summary = await session_summary(db, session, tasks)           # {"session": figures, "tasks": [...]}
    sessions = await study_overview(db, study, live_ids)          # every session: label, status, figures, flags

- An ended session's summary is kept in its row (``sessions.figures``), made ``KEEP_AFTER_S`` after
  it ended (its rows are all stored by then) and forgotten when rows are added to it (a recording)
  or it is withdrawn.
- A running session's summary is kept in memory here and fed only its new rows at each call
  (``definitions.Summary``), so a page that refreshes a long session every few seconds costs the
  few seconds' rows, not the session's.
- Turning rows into frames and figures (pure Python) runs on a worker thread: the event loop keeps
  serving the streams while a study of many long sessions is read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from . import store
from .definitions import Summary, quality_flags, session_labels, session_status, summarize, thresholds
from ..storage.db import Database

KEEP_AFTER_S = 5.0
VERSION = 2  # of the kept summaries: a change of the definitions makes them again (2: held rows not counted)
RUNNING_MAX = 256  # running sessions' summaries kept in memory (the least recently used go)


class _Running:
    """A running session's summary so far, and the last row it has."""

    def __init__(self, tasks: list[str]):
        self.summary = Summary(tasks)
        self.last_id = 0
        self.lock = asyncio.Lock()

    def feed(self, keys: list[str], rows: list) -> dict:
        frames = store.frames_of(keys, rows)
        if frames:
            self.summary.add(frames)
            self.last_id = frames[-1]["last_id"]
        return self.summary.result()


_running: OrderedDict = OrderedDict()  # (database url, session id) -> _Running


def _summarize_rows(keys: list[str], rows: list, tasks: list[str], timeline: bool) -> dict:
    return summarize(store.frames_of(keys, rows), tasks, timeline=timeline)


async def session_summary(db: Database, session: dict, tasks: list[str], *, timeline: bool = False) -> dict:
    """``summarize`` of a session: the kept one if there is one, else made (and kept if it may be)."""
    kept = session.get("figures")
    if not timeline and isinstance(kept, dict) and kept.get("version") == VERSION:
        return {k: v for k, v in kept.items() if k != "version"}
    loop = asyncio.get_running_loop()
    key = (db.url, session["id"])
    if session.get("ended") is None and not timeline:
        running = _running.pop(key, None) or _Running(tasks)
        _running[key] = running  # the most recently used last
        while len(_running) > RUNNING_MAX:
            _running.popitem(last=False)
        async with running.lock:
            keys, rows = await store.session_rows(db, session["id"], after=running.last_id)
            return await loop.run_in_executor(None, running.feed, keys, rows)
    _running.pop(key, None)
    keys, rows = await store.session_rows(db, session["id"])
    summary = await loop.run_in_executor(None, _summarize_rows, keys, rows, tasks, timeline)
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
