"""Benchmark a study's figures (server/studies/definitions.py): how long its pages take to compute them.

    python bench/study_figures.py [--database sqlite | postgresql | URL] [--sessions 10] [--minutes 20] [--fps 15]

Fills a study with ``--sessions`` ended sessions of ``--minutes`` at ``--fps`` analysed frames a second
(the participant's face in 9 frames of 10, someone else in view a tenth of the time, three tasks),
stored as the writer stores them, then times, on the real database:

- ``overview_cold_s``: the sessions table (``figures.study_overview``) when no session's figures are
  kept yet: every session's rows read and summarised (the first load after sessions ended);
- ``overview_kept_s``: the same once the figures are kept in the sessions' rows (every later load);
- ``loop_lag_max_ms``: the longest the event loop was held up (a 10 ms ticker) during the cold overview:
  what a live stream on the same server would feel (``loop_lag_idle_max_ms``: the same over 3 s with
  nothing to do, the machine's own share);
- ``session_detail_s``: one session's page (its timeline and per-task table, read from its rows);
- ``running_first_s`` / ``running_refresh_s``: a running session of that length, its first summary and
  one more after 5 s of new frames (what the page's 5-s refresh costs);
- ``summarize_frames_per_s``: ``definitions.summarize`` alone, in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.study_streams import bench_database, print_figures  # noqa: E402
from ml.labels import CLASSES  # noqa: E402
from server.storage.db import Database  # noqa: E402
from server.storage.models import results, sessions  # noqa: E402
from server.studies import definitions, store  # noqa: E402
from server.studies.figures import KEEP_AFTER_S, session_summary, study_overview  # noqa: E402
from server.studies.rows import stored_rows  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

TASKS = ["Find a lamp", "Pay", "Review"]


def messages(n: int, fps: float):
    for i in range(n):
        probs = {c: 0.02 for c in CLASSES}
        probs[CLASSES[i // 40 % len(CLASSES)]] = 0.88
        faces = [] if i % 10 == 9 else [{"id": 1, "box": [264, 104, 97, 97], "label": max(probs, key=probs.get),
                                         "probs": probs, "brightness": 130.0, "participant": True}]
        if i % 100 < 10:
            faces.append({"id": 2 + i // 100, "box": [480, 90, 80, 80], "label": "neutral", "probs": probs,
                          "brightness": 90.0, "participant": False})
        yield {"frame": i, "timestamp": i / fps, "utc": "", "faces": faces}


async def fill(db: Database, study: dict, count: int, frames: int, fps: float) -> list[str]:
    ids = []
    for _ in range(count):
        sid = await store.create_session(db, study["id"])
        batch = []
        async with db.engine.begin() as conn:
            for i, m in enumerate(messages(frames, fps)):
                task = min(len(TASKS) - 1, i * len(TASKS) // frames)
                batch += stored_rows(sid, task, m)
                if len(batch) >= 5000:
                    await conn.execute(insert(results), batch)
                    batch = []
            if batch:
                await conn.execute(insert(results), batch)
            await conn.execute(update(sessions).where(sessions.c.id == sid).values(
                frames=frames, ended=time.time() - 2 * KEEP_AFTER_S, status="completed"))
        ids.append(sid)
    return ids


async def run(url: str, count: int, minutes: float, fps: float) -> dict:
    db = Database(url)
    await db.open()
    try:
        study = await store.create_study(db, "bench", "ok", TASKS)
        frames = int(minutes * 60 * fps)
        t = time.perf_counter()
        ids = await fill(db, study, count, frames, fps)
        filled = time.perf_counter() - t
        lags = []

        async def ticker():
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - t0 - 0.01)

        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(3.0)  # the machine's own lag, nothing else running in this process
        idle, lags[:] = max(lags or [0.0]), []
        t = time.perf_counter()
        cold = await study_overview(db, study)
        cold_s = time.perf_counter() - t
        tick.cancel()
        t = time.perf_counter()
        kept = await study_overview(db, study)
        kept_s = time.perf_counter() - t
        assert [s["frames"] for s in cold] == [s["frames"] for s in kept] == [frames] * count
        session = await store.get_session(db, ids[0])
        t = time.perf_counter()
        await session_summary(db, session, TASKS, timeline=True)
        detail_s = time.perf_counter() - t
        async with db.engine.begin() as conn:  # the last session as if it still ran
            await conn.execute(update(sessions).where(sessions.c.id == ids[-1]).values(ended=None, status=None,
                                                                                          figures=None))
        running = await store.get_session(db, ids[-1])
        t = time.perf_counter()
        await session_summary(db, running, TASKS)
        running_first_s = time.perf_counter() - t
        async with db.engine.begin() as conn:
            await conn.execute(insert(results), [r for i, m in enumerate(messages(int(5 * fps), fps))
                                                 for r in stored_rows(ids[-1], 2, {**m, "frame": frames + i,
                                                                                   "timestamp": (frames + i) / fps})])
        t = time.perf_counter()
        more = await session_summary(db, running, TASKS)
        running_refresh_s = time.perf_counter() - t
        assert more["session"]["frames"] == frames + int(5 * fps)
        rows = [f async for f in store.participant_frames(db, ids[0])]
        t = time.perf_counter()
        definitions.summarize(rows, TASKS)
        alone = time.perf_counter() - t
        return {"sessions": count, "frames_per_session": frames, "rows_per_session": await store.count_rows(db, ids[0]),
                "fill_s": filled, "overview_cold_s": cold_s, "overview_kept_s": kept_s,
                "loop_lag_max_ms": 1000 * max(lags or [0.0]), "loop_lag_idle_max_ms": 1000 * idle,
                "session_detail_s": detail_s,
                "running_first_s": running_first_s, "running_refresh_s": running_refresh_s,
                "summarize_frames_per_s": frames / alone}
    finally:
        await db.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", default="sqlite", help="sqlite, postgresql (throw-away servers) or a URL")
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args()
    with bench_database(a.database) as url:
        figures = asyncio.run(run(url, a.sessions, a.minutes, a.fps))
        figures["database"] = a.database
        print_figures(figures, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
