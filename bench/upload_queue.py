"""Benchmark the upload jobs' queue in the database: how fast workers claim and finish jobs, and that
each job is taken exactly once.

    python bench/upload_queue.py [--database sqlite | postgresql | URL] [--jobs 400] [--workers 1,4] [--runs 3]

For each worker count and run: ``--jobs`` queued jobs are inserted, then that many workers
(each with its own ``Database``: its own connections, as separate replicas have) claim the
next job (server/uploads/queue.py: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and mark it
done, until the queue is empty. No analysis runs: this is the queue's own cost, to set
against an analysis of seconds per upload. Prints, medians over the runs:

- jobs per second (claim + finish) for each worker count, and the median and 95th percentile
  of one claim's time;
- jobs taken twice and jobs left in the queue (both must be 0: what was found);
- an idle worker's look at an empty queue (it does this every second), in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.study_streams import bench_database, print_figures  # noqa: E402
from server.storage.db import Database  # noqa: E402
from server.storage.models import jobs  # noqa: E402
from server.uploads import queue  # noqa: E402

STORE = "bench-store"


def row(i: int) -> dict:
    return {"id": f"bench-{i:06d}", "store": STORE, "status": "queued", "attempts": 0, "filename": "x.mp4",
            "kind": "video", "input": "input.mp4", "size": 1, "delete_hash": "0" * 64, "created": 1000.0 + i,
            "frames_done": 0, "frames_total": 0}


async def one_run(url: str, n_jobs: int, n_workers: int) -> dict:
    admin = Database(url)
    await admin.open()
    workers = [Database(url) for _ in range(n_workers)]
    try:
        for w in workers:
            await w.open()
        async with admin.engine.begin() as conn:
            await conn.execute(jobs.delete())
            await conn.execute(jobs.insert(), [row(i) for i in range(n_jobs)])
        claim_s: list[float] = []

        async def work(db: Database, owner: str) -> list[str]:
            got = []
            while True:
                t = time.perf_counter()
                claimed = await queue.claim(db, STORE, owner)
                claim_s.append(time.perf_counter() - t)
                if claimed is None:
                    return got
                await queue.finish(db, claimed.id, owner, {"status": "done", "finished": time.time()})
                got.append(claimed.id)

        started = time.perf_counter()
        taken = await asyncio.gather(*(work(db, f"w{k}") for k, db in enumerate(workers)))
        wall = time.perf_counter() - started
        every = [i for got in taken for i in got]
        left = await queue.pending(admin, STORE)
        idle = []
        for _ in range(20):
            t = time.perf_counter()
            assert await queue.claim(workers[0], STORE, "w0") is None
            idle.append(time.perf_counter() - t)
        claim_s.sort()
        return {"jobs_per_s": len(every) / wall, "twice": len(every) - len(set(every)),
                "missed": n_jobs - len(set(every)), "left": left,
                "claim_ms": statistics.median(claim_s) * 1000, "claim_p95_ms": claim_s[int(0.95 * len(claim_s))] * 1000,
                "idle_ms": statistics.median(idle) * 1000}
    finally:
        for db in (admin, *workers):
            await db.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database", default="sqlite", help="sqlite, postgresql (a throw-away server) or a URL")
    p.add_argument("--jobs", type=int, default=400)
    p.add_argument("--workers", default="1,4", help="worker counts, comma-separated")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args()
    figures: dict = {"database": a.database, "jobs": a.jobs, "runs": a.runs}
    with bench_database(a.database) as url:
        for n in (int(x) for x in a.workers.split(",")):
            runs = [await one_run(url, a.jobs, n) for _ in range(a.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            figures[f"{n} workers: jobs per second"] = med["jobs_per_s"]
            figures[f"{n} workers: claim ms (median)"] = med["claim_ms"]
            figures[f"{n} workers: claim ms (p95)"] = med["claim_p95_ms"]
            figures[f"{n} workers: jobs taken twice"] = sum(r["twice"] for r in runs)
            figures[f"{n} workers: jobs missed or left"] = sum(r["missed"] + r["left"] for r in runs)
            figures[f"{n} workers: idle look ms"] = med["idle_ms"]
    print_figures(figures, a.json)


if __name__ == "__main__":
    asyncio.run(main())
