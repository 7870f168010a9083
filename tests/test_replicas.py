"""Two ``python -m server`` replicas on one real PostgreSQL, as docs/deploy.md runs them: a
participant streams (real WebRTC) to replica A and is watched live from replica B, and a note a
researcher adds on B reaches an observer on A. The events cross through PostgreSQL
(LISTEN/NOTIFY, server/studies/relay.py); nothing else connects the two processes."""

import csv
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from server.client import FrameTrack, LiveClient, ObserverClient

from db_support import postgres_server  # noqa: F401  (fixture)
from test_server_process import ROOT, ServerProcess

TOKEN = "researcher-token-for-the-replicas-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def replicas(postgres_server, tmp_path):  # noqa: F811
    url = postgres_server.new_database()
    args = ("--database", url, "--admin-token", TOKEN)
    with ThreadPoolExecutor(2) as pool:  # both load the model at once
        starting = [pool.submit(ServerProcess, tmp_path, tmp_path / f"uploads-{name}", *args) for name in "ab"]
        servers = [f.result() for f in starting]
    yield servers
    for s in servers:
        log = s.stop()
        assert "Traceback" not in log, log


def kind(k, session):
    return lambda e: e["kind"] == k and e["session"] == session


async def observer(http, server, study_id: str) -> ObserverClient:
    return ObserverClient(await http.ws_connect(f"{server.url}/api/studies/{study_id}/live", headers=AUTH))


@pytest.mark.asyncio
async def test_a_participant_streaming_to_replica_a_is_watched_live_from_replica_b(replicas, face_frame_640):
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{a.url}/api/studies", headers=AUTH,
                             json={"title": "Checkout", "consent": "ok", "tasks": ["Find a lamp", "Pay"]}) as r:
            assert r.status == 201, await r.text()
            study = await r.json()
        on_b = await observer(http, b, study["id"])  # the study was made on A: B has it from the database
        assert (await on_b.snapshot())["sessions"] == []
        on_a = await observer(http, a, study["id"])
        await on_a.snapshot()

        live = LiveClient(await http.ws_connect(f"{a.url}/ws"))
        await live.start(FrameTrack([face_frame_640], fps=15), study=study["participant_url"].rsplit("/", 1)[1],
                         consent=True)
        sid = next(m["id"] for m in live.messages if m["type"] == "session")
        started = await on_b.wait_event(kind("started", sid))
        await live.mark(0, "start")
        marker = await on_b.wait_event(kind("marker", sid))
        assert (marker["data"]["task"], marker["data"]["event"]) == (0, "start")
        await live.wait_results(5, timeout=60)
        result = await on_b.wait_event(lambda e: kind("result", sid)(e) and e["data"]["message"]["faces"])
        message = result["data"]["message"]
        # analysed on A (the smiling astronaut), seen on B: the very result the participant got
        assert message["faces"][0]["label"] == "happy" and result["data"]["task"] == 0
        frames = [r["frame"] for r in live.results]
        assert message["frame"] in frames
        # at most a second behind the participant, who got the same result from A
        assert on_b.arrivals[on_b.events.index(result)] - live.arrivals[frames.index(message["frame"])] < 1.0
        assert {e["kind"] for e in on_b.events} <= {"started", "marker", "result", "check"}  # results, never video
        assert started["origin"] == marker["origin"] == result["origin"]  # made on A

        late = await observer(http, b, study["id"])  # joins mid-task on B: the session is in its snapshot
        [s] = (await late.snapshot())["sessions"]
        assert s["id"] == sid and s["task"] == 0

        await live.wait_results(len(live.results) + 5, timeout=60)
        now = live.results[-1]["timestamp"]
        await on_b.note(sid, "hesitates at the price")  # added on B, for a session live on A
        for o in (on_a, on_b, late):
            note = await o.wait_event(kind("note", sid))
            assert note["data"]["text"] == "hesitates at the price"
        assert note["origin"] != started["origin"]  # made on B: it reached A through PostgreSQL
        assert abs(note["data"]["time_s"] - now) < 1.5  # on the stream's clock, which B knows from A's results

        await live.close()
        for o in (on_a, on_b):
            await o.wait_event(kind("ended", sid))
        after = await observer(http, b, study["id"])
        assert (await after.snapshot())["sessions"] == []

        async with http.get(f"{a.url}/api/studies/{study['id']}/notes.csv", headers=AUTH) as r:  # stored once
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        assert [(row["session"], row["text"]) for row in rows] == [(sid, "hesitates at the price")]
        for o in (on_a, on_b, late, after):
            await o.close()


OPEN_DATABASE = """
import asyncio, sys
from server.storage.db import Database

async def main():
    db = Database(sys.argv[1])
    await db.open()
    await db.close()

asyncio.run(main())
"""


def test_replicas_starting_at_once_on_an_empty_database_all_come_up(postgres_server):  # noqa: F811
    """Each replica migrates the database at start-up; started together (a deploy, a restart of
    all), they take turns instead of failing on the tables another one is creating. Without the
    lock, about half of these rounds had a replica fail."""
    for _ in range(4):
        url = postgres_server.new_database()
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_DATABASE, url], cwd=ROOT, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
