"""What carrying live events between replicas costs: two hubs, each with its PostgreSQL relay
(server/studies/relay.py), in this process, on a throw-away PostgreSQL (tests/db_support.py).

    python bench/relay_cost.py [--rates 64,240] [--seconds 8] [--intervals 0,0.05] [--faces 1] [--sessions 8]

Replica A makes ``rate`` result events a second, from ``--sessions`` sessions in turn (the /ws
result message with ``--faces`` faces, about 470 bytes with one), replica B's observer receives
them (a session's results made faster than the relay's interval are coalesced: its newest goes). For each rate and batching
interval it prints (first without relays, A's own observer: the baseline of making the events): events received (of those made), the relay's delay (made on A -> handed to
B's observer; median, p95), NOTIFY statements a second, and CPU: this process (both relays:
A's serialising and sending, B's parsing) and the two relay connections' PostgreSQL backends,
each as cores busy (CPU seconds per second) and microseconds per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from server.studies.hub import ResultHub, StudyResult  # noqa: E402
from server.studies.relay import PgRelay  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PROBS = {"angry": 0.0123, "disgust": 0.0011, "fear": 0.0345, "happy": 0.8812, "sad": 0.0234, "surprise": 0.0231,
         "neutral": 0.0244}


def cpu_s(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def message(i: int, faces: int) -> dict:
    return {"type": "result", "faces": [{"id": k + 1, "box": [264 + k, 104, 97, 97], "label": "happy", "probs": PROBS,
                                         "held": False} for k in range(faces)],
            "frame": i, "timestamp": round(i / 30, 6), "utc": "2026-11-26T14:00:00.033Z", "width": 640,
            "height": 480, "processing_ms": 24.91, "latency_ms": 48.22, "frames_received": i + 3,
            "frames_processed": i + 1, "frames_dropped": 2, "server_time": time.time()}


async def step(url: str, rate: float, seconds: float, interval: float | None, faces: int, sessions: int) -> dict:
    """``interval`` None: no relay, A's own observer gets the events (the baseline: making and pacing them)."""
    a, b = ResultHub(), ResultHub()
    relays = [] if interval is None else [PgRelay(a, url, interval=interval), PgRelay(b, url, interval=interval)]
    for r in relays:
        await r.start()
    delays = []
    (a if interval is None else b).watch("study", lambda e: delays.append(time.time() - e.at))
    pids = [r._conn.get_server_pid() for r in relays]
    notifies = []
    if relays:
        await relays[1]._conn.add_listener(relays[1].channel, lambda *_: notifies.append(1))
    await asyncio.sleep(0.5)
    t0, me0, pg0 = time.time(), cpu_s(), sum(cpu_s(p) for p in pids)
    n = int(rate * seconds)
    for i in range(n):
        a.publish(StudyResult("study", f"session-{i % sessions}", 0, message(i, faces)))
        wait = t0 + (i + 1) / rate - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
    await asyncio.sleep(1.0)
    me, pg = cpu_s() - me0, sum(cpu_s(p) for p in pids) - pg0
    wall = time.time() - t0
    for r in relays:
        await r.close()
    delays.sort()
    return {"rate": rate, "interval_s": interval, "faces": faces, "sessions": sessions, "made": n, "received": len(delays),
            "event_bytes": len(json.dumps(message(0, faces))),
            "relay_delay_ms_median": round(1000 * statistics.median(delays), 1),
            "relay_delay_ms_p95": round(1000 * delays[int(0.95 * (len(delays) - 1))], 1),
            "notifies_per_s": round(len(notifies) / wall, 1),
            "process_cores": round(me / wall, 3), "process_us_per_event": round(1e6 * me / n),
            "postgres_cores": round(pg / wall, 3), "postgres_us_per_event": round(1e6 * pg / n)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="64,240", help="events a second made on replica A (default 64,240)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--intervals", default="0,0.05", help="the relay's batching interval, seconds (default 0,0.05)")
    p.add_argument("--faces", type=int, default=1)
    p.add_argument("--sessions", type=int, default=8, help="live sessions the events come from (default 8)")
    a = p.parse_args()
    from db_support import PostgresServer

    pg = PostgresServer()
    pg.start()
    try:
        url = pg.new_database()
        for rate in (float(r) for r in a.rates.split(",")):
            for interval in [None] + [float(i) for i in a.intervals.split(",")]:
                print(json.dumps(asyncio.run(step(url, rate, a.seconds, interval, a.faces, a.sessions))), flush=True)
    finally:
        pg.stop()
    print("load average:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
