"""The real server (``python -m server --log-level debug``) through a whole study and an upload: its log,
at the most talkative level, holds no capability (the admin and a named researcher token, a login cookie,
participant link token, session and study ids, upload id and delete token) and no participant's data (a
note's text), through the downloads (export.zip too), a study's settings, a login, a logout and a
participant's withdrawal."""

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from server.client import FrameTrack, LiveClient, ObserverClient

from db_support import free_port
from test_studies_server import wait_for_line

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "researcher-token-for-the-log-test-0123456789"
NOTE = "Participant-7 sighed at the price"


async def wait_healthy(http, base):
    for _ in range(300):
        try:
            async with http.get(base + "/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the server did not answer /healthz")


@pytest.mark.asyncio
async def test_a_debug_log_holds_no_capability_and_no_note(tmp_path, face_frame_640):
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FER_UPLOAD_DIR": str(tmp_path / "uploads")}
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(port), "--log-level", "debug", "--admin-token", ADMIN,
             "--database", f"sqlite:///{tmp_path / 'fer.db'}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env)
    secrets_seen = {"researcher token": ADMIN}
    added = subprocess.run([sys.executable, "-m", "server", "researcher", "add", "alice", "--database",
                            f"sqlite:///{tmp_path / 'fer.db'}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    named = added.stdout.split("\n")[1].strip()
    secrets_seen["named researcher token"] = named
    try:
        await wait_for_line(proc, r"Studies \(researcher\)")
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base)
            async with http.post(base + "/api/studies", headers=auth,
                                 json={"title": "Logs", "consent": "ok", "tasks": ["one"]}) as r:
                assert r.status == 201
                study = await r.json()
            token = study["participant_url"].rsplit("/", 1)[1]
            secrets_seen |= {"participant token": token, "study id": study["id"]}
            async with http.get(f"{base}/studies?token={ADMIN}", allow_redirects=False) as r:
                assert r.status == 303
            async with http.get(f"{base}/p/{token}") as r:
                assert r.status == 200
            live = LiveClient(await http.ws_connect(base + "/ws"))
            await live.start(FrameTrack([face_frame_640], fps=15), study=token, consent=True)
            await live.mark(0, "start")
            await live.wait_results(10, timeout=60)
            session = next(m["id"] for m in live.messages if m["type"] == "session")
            secrets_seen["session id"] = session
            observer = ObserverClient(await http.ws_connect(f"{base}/api/studies/{study['id']}/live", headers=auth))
            await observer.snapshot()
            await observer.note(session, NOTE)
            await observer.wait_event(lambda e: e["kind"] == "note")
            await observer.close()
            await live.mark(0, "end")
            await live.close()
            # issue 21's researcher paths: a named token's login (its cookie), a study's settings, the
            # downloads (export.zip, sessions.csv, a session's markers), who is logged in, a logout
            async with http.post(base + "/login", data={"token": named, "next": "/studies"},
                                 allow_redirects=False) as r:
                assert r.status == 303
                secrets_seen["login cookie"] = r.cookies["fer_researcher"].value
            login = {"Cookie": f"fer_researcher={secrets_seen['login cookie']}"}  # (the jar keeps none for an IP)
            async with http.patch(f"{base}/api/studies/{study['id']}", json={"retention_days": 30},
                                  headers=login) as r:
                assert r.status == 200
            for path in (f"/api/studies/{study['id']}/export.zip", f"/api/studies/{study['id']}/sessions.csv",
                         f"/api/sessions/{session}/markers.csv", "/api/researcher"):
                async with http.get(base + path, headers=login) as r:
                    assert r.status == 200, path
                    await r.read()
            async with http.post(base + "/logout", headers=login, allow_redirects=False) as r:
                assert r.status == 303
            # a refused delete (another site's page): logged at INFO
            async with http.delete(f"{base}/api/participant/{token}/sessions/{session}",
                                   headers={"Origin": "https://evil.example"}) as r:
                assert r.status == 403
            form = aiohttp.FormData()
            ok, png = cv2.imencode(".png", face_frame_640)
            form.add_field("file", io.BytesIO(png.tobytes()), filename="me.png")
            async with http.post(base + "/api/uploads", data=form) as r:
                assert r.status == 202
                upload = await r.json()
            secrets_seen |= {"upload id": upload["id"], "delete token": upload["delete_token"]}
            async with http.get(f"{base}/api/uploads/{upload['id']}") as r:
                assert r.status == 200
            async with http.delete(f"{base}/api/uploads/{upload['id']}",
                                   headers={"X-Delete-Token": upload["delete_token"]}) as r:
                assert r.status == 200
            async with http.delete(f"{base}/api/participant/{token}/sessions/{session}") as r:
                assert r.status == 204  # the participant withdraws
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    text = log_path.read_text()
    leaked = {name: value for name, value in secrets_seen.items() if value in text}
    assert not leaked, f"in the log: {sorted(leaked)}"
    assert NOTE not in text
    assert "DEBUG" in text and '"DELETE /api/participant/…/sessions/…" 403' in text  # the log did talk
    assert "refused DELETE /api/participant/…/sessions/… from another origin" in text
    assert '"GET /api/studies/…/export.zip" 200' in text and '"POST /login" 303' in text  # logged, blanked
