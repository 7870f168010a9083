"""The real server process (``python -m server``) with a study: the researcher URL it prints, and
``kill -9`` in the middle of a participant's stream loses at most the last second of results."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from server.client import FrameTrack, LiveClient
from server.storage.db import Database
from server.storage.models import sessions

from db_support import database_url, free_port, postgres_server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent


async def wait_for_line(proc, pattern: str, timeout: float = 180) -> re.Match:
    deadline = time.monotonic() + timeout
    loop = asyncio.get_running_loop()
    while time.monotonic() < deadline:
        line = await loop.run_in_executor(None, proc.stdout.readline)
        if not line:
            raise RuntimeError(f"the server exited ({proc.poll()}) before printing {pattern!r}")
        m = re.search(pattern, line)
        if m:
            return m
    raise TimeoutError(pattern)


@pytest.mark.asyncio
async def test_kill_minus_9_loses_at_most_the_last_second(database_url, face_frame_640, tmp_path):
    port = free_port()
    env = {**os.environ, "FER_ADMIN_TOKEN": "", "PYTHONUNBUFFERED": "1", "FER_SCREEN_DIR": str(tmp_path / "screen")}
    proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--database", database_url],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        m = await wait_for_line(proc, r"Studies \(researcher\): (http://\S+/studies\?token=(\S+))")
        token = m.group(2)
        assert len(token) >= 22  # made at start: >= 128 random bits
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the model loads before the server listens
                try:
                    async with http.get(base + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.3)
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(base + "/api/studies", headers=auth,
                                 json={"title": "kill", "consent": "ok", "tasks": ["one"]}) as r:
                assert r.status == 201
                study = await r.json()
            async with http.get(m.group(1), allow_redirects=False) as r:  # the printed URL logs the researcher in
                assert r.status == 303 and "fer_researcher" in r.cookies
                cookie = r.cookies["fer_researcher"].value
            ws = await http.ws_connect(base + "/ws")
            live = LiveClient(ws)
            await live.start(FrameTrack([face_frame_640], fps=30), study=study["participant_url"].rsplit("/", 1)[1],
                             consent=True)
            await live.mark(0, "start")
            await live.wait_results(40, timeout=60)
            await asyncio.sleep(2.3)  # mid-way between two flushes, whatever the phase
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = time.time()
            proc.wait(10)
            received = list(live.results)
            arrivals = list(live.arrivals)
            await live.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    db = Database(database_url)
    await db.open()
    try:
        async with db.engine.connect() as conn:
            [frames] = (await conn.execute(sessions.select().with_only_columns(sessions.c.frames))).scalars().all()
    finally:
        await db.close()
    last_second = sum(1 for a in arrivals if a > killed_at - 1.0)
    assert len(received) >= 40
    assert frames >= len(received) - last_second - 1, (frames, len(received), last_second)
    assert frames > 0

    # started again: the token made at the first start is kept (not printed, not made anew), and the
    # researcher's login cookie from before the restart still opens the results page
    proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--database", database_url],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        again = await wait_for_line(proc, r"Studies \(researcher\): (\S+)(.*)")
        assert again.group(1).endswith("/studies") and "token" not in again.group(1)
        assert "researcher add" in again.group(2)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/studies/{study['id']}", headers={"Cookie": f"fer_researcher={cookie}"},
                                allow_redirects=False) as r:
                assert r.status == 200 and 'id="timeline"' in await r.text()
            async with http.get(f"{base}/api/studies", headers=auth) as r:
                assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(30)
