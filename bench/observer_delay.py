"""Observer delay: a participant's camera frame -> its result on the researcher's live view, on one
server and across two replicas that share one PostgreSQL.

    python bench/observer_delay.py [--sessions 1,8] [--seconds 10] [--warmup 4] [--fps 30]

Starts a throw-away PostgreSQL (tests/db_support.py) and two ``python -m server`` processes, A and
B, on it with the same ``--admin-token``, and creates a study. For each number of sessions, N
participants stream to A with the study's token and consent (aiortc clients sending a
pre-encoded H.264 loop of the test suite's face, bench/load.py: the clients cost little), and two
observers watch the study (``/api/studies/{id}/live``): one on A (**one replica**) and one on B
(**two replicas**: A's events reach B through PostgreSQL LISTEN/NOTIFY, server/studies/relay.py).

**Delay** of a result event = when the observer received it (wall clock) minus when the
participant's client handed that frame to WebRTC (the result message's ``timestamp`` is the
frame's pts, ``FrameTrack.sent_at``). Everything runs on this machine: one clock. It contains the
participant's own result delay (WebRTC, decoding, waiting for the analysis thread, the analysis),
printed beside it; ``added`` is the observer path alone (observer delay minus the participant's
own delay for the same frame). Printed per number of sessions and observer: result events a
second per session, the share of the participant's results the observer got, delay median and
p95, the participant's own delay median, added median and p95, the share of observed results
whose face is labelled happy (the face is the smiling astronaut), and the load average.
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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402

from live_stream import free_port, wait_up  # noqa: E402
from load import EncodedTrack, encoded_loops  # noqa: E402
from server.client import LiveClient, ObserverClient  # noqa: E402

TOKEN = "bench-researcher-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def pctl(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


async def participant(http, base: str, packets, fps: int, token: str):
    ws = await http.ws_connect(base + "/ws", max_msg_size=0)
    client = LiveClient(ws)
    track = EncodedTrack(packets, fps)
    await client.start(track, codec="video/H264", study=token, consent=True)
    await client.wait_results(1, timeout=30)  # connected (the server takes 2 connecting per address)
    session = next(m["id"] for m in client.messages if m["type"] == "session")
    return session, client, track


async def observer(http, base: str, study_id: str) -> ObserverClient:
    ws = await http.ws_connect(f"{base}/api/studies/{study_id}/live", headers=AUTH, max_msg_size=0)
    obs = ObserverClient(ws)
    await obs.snapshot()
    return obs


def figures(obs: ObserverClient, parts, t0: float, t1: float) -> dict:
    tracks = {session: track for session, _, track in parts}
    own = {}  # (session, timestamp) -> the participant's own delay
    for session, client, track in parts:
        for r, arrived in zip(client.results, client.arrivals):
            sent = track.sent_at(r["timestamp"])
            if t0 <= arrived <= t1 and sent is not None:
                own[(session, r["timestamp"])] = arrived - sent
    delays, added, happy, results, seen = [], [], 0, 0, set()
    for event, arrived in zip(obs.events, obs.arrivals):
        if event["kind"] != "result" or event["session"] not in tracks or not t0 <= arrived <= t1:
            continue
        results += 1
        message = event["data"]["message"]
        happy += bool(message["faces"]) and message["faces"][0]["label"] == "happy"
        sent = tracks[event["session"]].sent_at(message["timestamp"])
        if sent is None:
            continue
        delays.append(arrived - sent)
        key = (event["session"], message["timestamp"])
        if key in own:
            added.append(arrived - sent - own[key])
            seen.add(key)
    ms = lambda v: round(1000 * v, 1)  # noqa: E731
    return {"result_events_per_session_s": round(results / len(parts) / (t1 - t0), 1),
            "share_of_results_observed": round(len(seen) / max(1, len(own)), 3),
            "delay_ms_median": ms(pctl(delays, 50)), "delay_ms_p95": ms(pctl(delays, 95)),
            "participant_delay_ms_median": ms(statistics.median(own.values())) if own else None,
            "added_ms_median": ms(pctl(added, 50)), "added_ms_p95": ms(pctl(added, 95)),
            "happy_share": round(happy / max(1, results), 3), "delays_measured": len(delays)}


async def run(a_base: str, b_base: str, counts: list[int], seconds: float, warmup: float, fps: int) -> list[dict]:
    packets = encoded_loops(fps)
    rows = []
    async with aiohttp.ClientSession() as http:
        async with http.post(a_base + "/api/studies", headers=AUTH,
                             json={"title": "observer delay", "consent": "ok", "tasks": ["watch"]}) as r:
            assert r.status == 201, await r.text()
            study = await r.json()
        token = study["participant_url"].rsplit("/", 1)[1]
        for n in counts:
            observers = {"one replica (A -> A)": await observer(http, a_base, study["id"]),
                         "two replicas (A -> B)": await observer(http, b_base, study["id"])}
            parts = [await participant(http, a_base, packets, fps, token) for _ in range(n)]
            await asyncio.sleep(warmup)
            t0 = time.time()
            await asyncio.sleep(seconds)
            t1 = time.time()
            for name, obs in observers.items():
                row = {"sessions": n, "observer": name, **figures(obs, parts, t0, t1),
                       "load_average_1min": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
            await asyncio.gather(*(client.close() for _, client, _ in parts))
            await asyncio.gather(*(obs.close() for obs in observers.values()))
            await asyncio.sleep(2)
    return rows


def start_server(port: int, url: str, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--database", url,
                             "--admin-token", TOKEN, "--max-streams", "16", "--max-streams-per-client", "16",
                             "--log-level", "warning"],  # the participants share one address here
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", default="1,8", help="numbers of live sessions (default 1,8)")
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per step (default 10)")
    p.add_argument("--warmup", type=float, default=4, help="seconds before measuring each step (default 4)")
    p.add_argument("--fps", type=int, default=30, help="each participant's camera frame rate (default 30)")
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args()
    from db_support import PostgresServer

    started = time.time()
    pg = PostgresServer()
    pg.start()
    procs = []
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
        try:
            url = pg.new_database()
            ports = free_port(), free_port()
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            logs = [open(Path(tmp) / f"server-{i}.log", "w") for i in range(2)]
            procs = [start_server(port, url, log) for port, log in zip(ports, logs)]
            for base in bases:
                asyncio.run(wait_up(base))
            rows = asyncio.run(run(*bases, [int(n) for n in a.sessions.split(",")], a.seconds, a.warmup, a.fps))
        except BaseException:
            for i, _ in enumerate(procs):
                print(f"--- server {'AB'[i]} log:\n" + (Path(tmp) / f"server-{i}.log").read_text()[-3000:],
                      file=sys.stderr)
            raise
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            pg.stop()
    out = {"rows": rows, "cpus": os.cpu_count(), "total_s": round(time.time() - started),
           "command": "python " + " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:])}
    print(f"total {out['total_s']} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
