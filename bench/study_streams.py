"""Benchmark studies: N participants stream at once to a real server storing every result row.

    python bench/study_streams.py [--participants 8] [--duration 30] [--fps 30]
                                  [--database sqlite | postgresql | URL] [--size 640x480] [--no-study]

Starts ``python -m server`` on a free port with the database (``sqlite``: a new file in a
temporary folder; ``postgresql``: a throw-away PostgreSQL cluster started like the tests'
one, tests/db_support.py; or a URL), creates a study, and streams the test suite's 640x480
astronaut frame (scaled to ``--size``) from N aiortc clients (server/client.py) at ``--fps``,
each in a task. Then it counts what was stored against what was sent. By default the
clients send that face as pre-encoded H.264 (``bench/load.py``'s 2-s loop, packets sent as
they are), so that they cost this machine little (real participants encode on theirs);
``--size`` (or ``--encode``) makes each client encode the frame itself with VP8 instead. Prints:

- results per second per participant (median, min) and the share of results with a face,
- rows expected (one per face per result, one for a result without a face) and rows stored,
  per participant and in all; frames the server analysed (the sessions' counters),
- rows written per second (all participants), and the database's growth per participant-minute.

``--no-study`` streams the same way without a study (nothing stored): the baseline for
what storing costs the live results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402

from bench.live_stream import face_frame_640, free_port, wait_up  # noqa: E402
from bench.load import EncodedTrack, cpu_s, encoded_loops  # noqa: E402
from server.client import FrameTrack, LiveClient  # noqa: E402

TOKEN = "bench-researcher-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def db_size(url: str) -> int:
    """Bytes the database takes: the SQLite file (its WAL checkpointed into it), or PostgreSQL's database."""
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
        return await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()


async def participant(http, base: str, camera, token: str | None, duration: float, fps: float,
                      connecting: asyncio.Semaphore) -> dict:
    """``camera``: one BGR frame (encoded by the client, VP8) or H.264 loops by frame rate (sent as they are).
    ``connecting``: the server takes 2 streams still connecting per client address (all the
    participants here share one), so each waits for its turn and connects, then streams."""
    ws = await http.ws_connect(base + "/ws", max_msg_size=0)
    live = LiveClient(ws)
    fields = {"study": token, "consent": True} if token else {}
    async with connecting:
        if isinstance(camera, dict):
            await live.start(EncodedTrack(camera, fps), codec="video/H264", **fields)
        else:
            await live.start(FrameTrack([camera], fps=fps), **fields)
        await live.wait_results(1, timeout=30)
    session = next((m["id"] for m in live.messages if m["type"] == "session"), None)
    if token:
        await live.mark(0, "start")
    await asyncio.sleep(duration)
    if token:
        await live.mark(0, "end")
    await live.close()
    arrivals = live.arrivals
    settled = [a for a in arrivals if a >= arrivals[0] + 3] if arrivals else []  # after WebRTC's ramp-up
    span = settled[-1] - settled[0] if len(settled) > 1 else float("nan")
    last = live.results[-1] if live.results else {}
    return {
        "dropped_share": last.get("frames_dropped", 0) / max(1, last.get("frames_received", 0)),
        "paces": [m["max_fps"] for m in live.messages if m["type"] == "pace"],
        "session": session,
        "results": len(live.results),
        "results_per_s": (len(settled) - 1) / span if span else float("nan"),
        "rows_expected": sum(max(1, len(r["faces"])) for r in live.results),
        "with_face": sum(bool(r["faces"]) for r in live.results) / max(1, len(live.results)),
    }


async def run(base: str, url: str, pid: int, n: int, duration: float, fps: float, study: bool, size: str | None) -> dict:
    import cv2

    if size is None:
        camera, size = encoded_loops(int(fps)), "640x480 H.264, pre-encoded"
    else:
        width, height = (int(v) for v in size.split("x"))
        camera = cv2.resize(face_frame_640(), (width, height), interpolation=cv2.INTER_AREA)
    async with aiohttp.ClientSession() as http:
        token = study_id = None
        if study:
            async with http.post(base + "/api/studies", headers=AUTH,
                                 json={"title": "bench", "consent": "ok", "tasks": ["stream"]}) as r:
                created = await r.json()
            study_id, token = created["id"], created["participant_url"].rsplit("/", 1)[1]
        size_before = await db_size(url)
        t0, cpu0 = time.time(), cpu_s(pid)
        connecting = asyncio.Semaphore(2)
        clients = await asyncio.gather(*(participant(http, base, camera, token, duration, fps, connecting)
                                         for _ in range(n)))
        wall, server_cpu = time.time() - t0, cpu_s(pid) - cpu0
        await asyncio.sleep(2)  # the last flush
        figures = {"participants": n, "duration_s": duration, "camera_fps": fps, "size": size, "study": study}
        rates = [c["results_per_s"] for c in clients]
        figures.update({
            "results_per_s_median": statistics.median(rates),
            "results_per_s_min": min(rates),
            "results_received": sum(c["results"] for c in clients),
            "with_face": statistics.mean(c["with_face"] for c in clients),
            "server_cores_busy": server_cpu / wall,
            "server_cpu_ms_per_result": 1000 * server_cpu / max(1, sum(c["results"] for c in clients)),
            "frames_dropped_share_median": statistics.median(c["dropped_share"] for c in clients),
            "pace_messages_median": statistics.median(len(c["paces"]) for c in clients),
        })
        if not study:
            return figures
        async with http.get(f"{base}/api/studies/{study_id}", headers=AUTH) as r:
            sessions = {s["id"]: s for s in (await r.json())["sessions"]}
        stored = {}
        async with http.get(f"{base}/api/studies/{study_id}/export.csv", headers=AUTH) as r:
            header = None
            async for line in r.content:
                if header is None:
                    header = line.decode().strip().split(",")
                    column = header.index("session")
                    continue
                sid = line.decode().strip().split(",")[column]
                stored[sid] = stored.get(sid, 0) + 1
        size_after = await db_size(url)
        expected = sum(c["rows_expected"] for c in clients)
        figures.update({
            "rows_expected": expected,
            "rows_stored": sum(stored.values()),
            "every_row_stored": all(stored.get(c["session"], 0) >= c["rows_expected"] for c in clients),
            "frames_analysed_stored": sum(s["frames"] for s in sessions.values()),
            "rows_written_per_s": sum(stored.values()) / wall,
            "db_bytes_per_participant_minute": (size_after - size_before) / (n * wall / 60),
            "db_bytes_per_row": (size_after - size_before) / max(1, sum(stored.values())),
        })
        return figures


@contextmanager
def bench_database(choice: str):
    """The URL of the benchmark's database: ``sqlite`` a new file, ``postgresql`` a throw-away
    server (tests/db_support.py), or the URL given; removed afterwards (except a given URL)."""
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
        if choice == "sqlite":
            yield f"sqlite:///{tmp}/bench.db"
        elif choice == "postgresql":
            from db_support import PostgresServer

            pg = PostgresServer()
            pg.start()
            try:
                yield pg.new_database()
            finally:
                pg.stop()
        else:
            yield choice


def print_figures(figures: dict, json_path: str | None) -> None:
    figures["command"] = "python " + " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    for key, value in figures.items():
        print(f"{key:38s} {value:.2f}" if isinstance(value, float) else f"{key:38s} {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--participants", type=int, default=8)
    p.add_argument("--duration", type=float, default=30.0, help="seconds each participant streams (default 30)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--database", default="sqlite", help="sqlite, postgresql (a throw-away server) or a URL")
    p.add_argument("--size", default=None,
                   help="each client encodes (VP8) the face at this size, WIDTHxHEIGHT (default: pre-encoded 640x480 H.264)")
    p.add_argument("--encode", action="store_true", help="each client encodes the 640x480 face itself (VP8)")
    p.add_argument("--no-study", action="store_true", help="stream without a study: nothing stored (baseline)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args()
    if a.encode and a.size is None:
        a.size = "640x480"
    with bench_database(a.database) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--database", url,
                                 "--admin-token", TOKEN, "--max-streams", str(max(8, a.participants)),
                                 "--max-streams-per-client", str(max(8, a.participants))],  # one address here
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(wait_up(base))
            figures = asyncio.run(run(base, url, proc.pid, a.participants, a.duration, a.fps, not a.no_study, a.size))
        finally:
            proc.terminate()
            proc.wait(30)
    figures["database"] = a.database if a.database in ("sqlite", "postgresql") else "url"
    print_figures(figures, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
