"""A study's comparison of its sessions task by task, from the sessions' figures (``definitions``).

    included = compared_sessions(overview, incomplete=False)   # completed sessions (and, with incomplete,
                                                               # the incomplete and running ones)
    comparison(included, tasks, bins, bin_s)                   # per task: each session, the study's mean,
                                                               # the timelines aligned on the task's start
"""

from __future__ import annotations

from ml.labels import CLASSES

from .definitions import mean_of_sessions, no_figures, period_title

COMPARED = ("completed",)
COMPARED_WITH_INCOMPLETE = ("completed", "incomplete", "live")


def compared_sessions(overview: list[dict], incomplete: bool = False) -> list[dict]:
    """The sessions the study's figures are made of: the completed ones (by default), or also the
    incomplete ones and those running now. Withdrawn sessions have no data."""
    wanted = COMPARED_WITH_INCOMPLETE if incomplete else COMPARED
    return [s for s in overview if s["status"] in wanted]


def comparison(sessions: list[dict], tasks: list[str], bins: list[dict], bin_s: float) -> dict:
    """Per task (1-based ``task``, and None for the time outside every task if any session had some):
    each session's figures (``sessions``: ``figures.study_overview(..., tasks=True)`` entries, oldest
    first), the study's mean (``definitions.mean_of_sessions``: every session with the face in the
    task counts once) and the timeline of each session aligned on the task's start (``bins`` of
    ``bin_s`` seconds, ``store.task_bins``: [seconds since the start, mean probabilities])."""
    lines: dict = {}
    for b in bins:
        lines.setdefault((b["task"], b["session_id"]), []).append(
            [round(b["bin"] * bin_s, 3), [round(b["means"][c], 4) for c in CLASSES]])
    outside = any(t["task"] is None and t["frames"] for s in sessions for t in s["tasks"])
    out = []
    for index in [*range(len(tasks)), *([None] if outside else [])]:
        number = None if index is None else index + 1
        rows = []
        for s in sessions:
            figures = next((t for t in s["tasks"] if t["task"] == number), None) or no_figures()
            rows.append({"session": s["id"], "label": s["label"], "status": s["status"], "flags": s["flags"],
                         **{k: v for k, v in figures.items() if k not in ("task", "title")}})
        entry = {"task": number, "title": period_title(tasks, index), "mean": mean_of_sessions(rows),
                 "sessions": rows}
        if index is not None:
            entry["timeline"] = [{"session": s["id"], "label": s["label"], "bins": lines[(index, s["id"])]}
                                 for s in sessions if (index, s["id"]) in lines]
        out.append(entry)
    return {"classes": list(CLASSES), "bin_s": bin_s, "tasks": out}
