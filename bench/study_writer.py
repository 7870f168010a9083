"""Benchmark the studies' result writer alone: how many rows per second a database takes, and its size.

    python bench/study_writer.py [--database sqlite | postgresql | URL] [--sessions 8] [--rate 30] [--duration 20]

No model and no WebRTC: ``--sessions`` study sessions each publish ``--rate`` result messages per
second (one face each, built by server/live/protocol.py as the live server builds them) through the
hub into the real ``ResultWriter`` (flushes every 0.5 s) for ``--duration`` seconds; ``--rate 0``
publishes as fast as the loop can. Prints rows published and stored (they must be equal),
rows stored per second (until the writer has caught up), the slowest flush, and the database's growth per row and per
participant-minute at 15 and 30 results per second.
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

from bench.study_streams import bench_database, db_size, print_figures  # noqa: E402
from ml.labels import CLASSES  # noqa: E402
from server.live import protocol  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.studies import Studies, store  # noqa: E402


def message(frame: int, t0: float) -> dict:
    probs = {c: 0.05 for c in CLASSES}
    probs["happy"] = 0.7
    return protocol.result([{"id": 1, "box": (264, 104, 97, 97), "label": "happy", "probs": probs}], frame=frame,
                           timestamp=frame / 30, received_utc=t0 + frame / 30, width=640, height=480,
                           processing_s=0.01, latency_s=0.02, frames_received=frame + 1, frames_processed=frame + 1,
                           frames_dropped=0, server_time=time.time())


async def run(url: str, sessions: int, rate: float, duration: float) -> dict:
    studies = Studies(Settings(database=url, admin_token="x" * 32))
    lifespan = studies.lifespan(None)
    await lifespan.__anext__()
    try:
        study = await store.create_study(studies.db, "bench", "ok", ["one"])
        parts = [await studies.join(study["participant_token"]) for _ in range(sessions)]
        size_before = await db_size(url)
        t0 = time.time()
        published = 0
        frame = 0
        while time.time() - t0 < duration:
            for p in parts:
                p.on_result(message(frame, t0))
                published += 1
            frame += 1
            await asyncio.sleep(1 / rate if rate else 0)
        while studies.writer.pending:  # until the writer has caught up
            await asyncio.sleep(0.05)
        await studies.writer.flush()
        wall = time.time() - t0
        stored = sum([await store.count_rows(studies.db, p.session_id) for p in parts])
        size_after = await db_size(url)
    finally:
        with_end = lifespan.__anext__()
        try:
            await with_end
        except StopAsyncIteration:
            pass
    per_row = (size_after - size_before) / max(1, stored)
    return {"sessions": sessions, "rate_per_session": rate, "duration_s": round(wall, 1), "rows_published": published,
            "rows_stored": stored, "rows_stored_per_s": stored / wall, "slowest_flush_ms": studies.writer.slowest_flush_s * 1000,
            "db_bytes_per_row": per_row, "db_mb_per_participant_minute_15fps": per_row * 15 * 60 / 1e6,
            "db_mb_per_participant_minute_30fps": per_row * 30 * 60 / 1e6}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", default="sqlite", help="sqlite, postgresql (a throw-away server) or a URL")
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--rate", type=float, default=30.0, help="results per second per session (0: as fast as possible)")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args()
    with bench_database(a.database) as url:
        figures = asyncio.run(run(url, a.sessions, a.rate, a.duration))
    figures["database"] = a.database if a.database in ("sqlite", "postgresql") else "url"
    print_figures(figures, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
