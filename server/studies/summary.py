"""A session's figures for the results page: its timeline (main face per analysed frame) and per-task table."""

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
    for index in [*range(len(tasks)), None]:
        s = stats.get(index)
        if s is None and index is None:
            continue
        s = s or {"frames": 0, "with_face": 0, "faces": 0, "labels": {}, "sums": {}}
        n = s["faces"]
        table.append({
            "task": index,
            "title": tasks[index] if index is not None else "(outside tasks)",
            "frames": s["frames"],
            "frames_with_face": s["with_face"],
            "shares": {c: round(s["labels"].get(c, 0) / n, 4) if n else 0.0 for c in CLASSES},
            "mean_probs": {c: round(s["sums"].get(c, 0.0) / n, 4) if n else 0.0 for c in CLASSES},
        })
    return {"timeline": timeline, "tasks": table}
