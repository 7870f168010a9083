"""The results page's figures: a session's timeline (main face per analysed frame) and per-task table;
a study's comparison of its sessions task by task."""

from __future__ import annotations

from ml.labels import CLASSES


def session_summary(rows, tasks: list[str]) -> dict:
    """``rows``: the session's stored results rows in order. Returns

    - ``timeline``: ``[[time_s, [p per class] | None], ...]``, one point per analysed frame
      (its first face, the largest; None without a face);
    - ``tasks``: one entry per task, then one for the time outside every task (``task`` None):
      frames, frames with a face, the share of each expression and the mean probabilities
      (over the rows with a face)."""
    timeline = []
    stats = {}
    last = None
    for r in rows:
        key = (r["frame"], r["time_s"])
        first_of_frame = key != last
        last = key
        s = stats.setdefault(r["task"], {"frames": 0, "with_face": 0, "faces": 0,
                                         "labels": dict.fromkeys(CLASSES, 0), "sums": dict.fromkeys(CLASSES, 0.0)})
        if first_of_frame:
            s["frames"] += 1
            timeline.append([r["time_s"], None if r["face"] is None else [r[c] for c in CLASSES]])
            if r["face"] is not None:
                s["with_face"] += 1
        if r["face"] is not None:
            s["faces"] += 1
            s["labels"][r["label"]] += 1
            for c in CLASSES:
                s["sums"][c] += r[c]
    table = []
    for index in task_indexes(tasks, None in stats):
        s = stats.get(index) or {"frames": 0, "with_face": 0, "faces": 0, "labels": {}, "sums": {}}
        table.append({"task": index, "title": task_title(tasks, index), "frames": s["frames"],
                      "frames_with_face": s["with_face"], **figures(s["labels"], s["sums"], s["faces"])})
    return {"timeline": timeline, "tasks": table}


def task_indexes(tasks: list[str], outside: bool) -> list:
    """The tasks' indexes in order, then None (the time outside every task) if there was any."""
    return [*range(len(tasks)), *([None] if outside else [])]


def task_title(tasks: list[str], index: int | None) -> str:
    return tasks[index] if index is not None else "(outside tasks)"


def figures(labels: dict, sums: dict, n: int) -> dict:
    """Over ``n`` rows with a face: the share of each expression (``labels``: rows per label) and the
    mean probabilities (``sums``: the sum of each class's probability)."""
    return {"shares": {c: round(labels.get(c, 0) / n, 4) if n else 0.0 for c in CLASSES},
            "mean_probs": {c: round((sums.get(c) or 0.0) / n, 4) if n else 0.0 for c in CLASSES}}


def comparison(sessions: list[dict], tasks: list[str], counts: list[dict], bins: list[dict], bin_s: float) -> dict:
    """Per task across a study's sessions (``sessions``: oldest first, with id and started): each
    session's figures (``faces``: rows with a face, shares, mean probabilities) and the study's mean,
    in which every session with a face in the task counts once; and the timeline of each session
    aligned on the task's start (``bins`` of ``bin_s`` seconds: [seconds since the start, mean
    probabilities]). ``counts`` and ``bins``: ``store.task_counts`` and ``store.task_bins``."""
    per: dict = {}
    for c in counts:
        s = per.setdefault((c["task"], c["session_id"]), {"n": 0, "labels": {}, "sums": dict.fromkeys(CLASSES, 0.0)})
        s["n"] += c["n"]
        if c["label"] is not None:
            s["labels"][c["label"]] = s["labels"].get(c["label"], 0) + c["n"]
        for k in CLASSES:
            s["sums"][k] += c["sums"][k] or 0.0
    lines: dict = {}
    for b in bins:
        lines.setdefault((b["task"], b["session_id"]), []).append(
            [round(b["bin"] * bin_s, 3), [round(b["means"][c], 4) for c in CLASSES]])
    out = []
    for index in task_indexes(tasks, any(task is None for task, _ in per)):
        rows = []
        for session in sessions:
            s = per.get((index, session["id"]), {"n": 0, "labels": {}, "sums": {}})
            rows.append({"session": session["id"], "faces": s["n"], **figures(s["labels"], s["sums"], s["n"])})
        seen = [r for r in rows if r["faces"]]
        mean = {"sessions": len(seen), "faces": sum(r["faces"] for r in seen),
                **{k: {c: round(sum(r[k][c] for r in seen) / len(seen), 4) if seen else 0.0 for c in CLASSES}
                   for k in ("shares", "mean_probs")}}
        entry = {"task": index, "title": task_title(tasks, index), "mean": mean, "sessions": rows}
        if index is not None:
            entry["timeline"] = [{"session": s["id"], "bins": lines[(index, s["id"])]} for s in sessions
                                 if (index, s["id"]) in lines]
        out.append(entry)
    return {"classes": list(CLASSES), "bin_s": bin_s, "tasks": out}
