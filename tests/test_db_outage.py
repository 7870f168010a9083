"""The studies' database goes away in the middle of a participant's stream, for real: PostgreSQL stopped
(``pg_ctl stop``), SQLite's disk full (a small tmpfs filled to the last byte). The server answers
instead of crashing through: the stream goes on, a task marker is kept for later, a new participant, a new
study, an upload, a note and a withdrawal are refused with a clear message (JSON under /api), ``/healthz`` says so, the
log has one line for the outage and no traceback; once the database is back, everything kept is stored
in order and the session that ended meanwhile is closed."""

import asyncio
import io
import logging
import subprocess
import time

import aiohttp

import cv2
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server import ScreenSettings, Settings, UploadSettings, create_app, keys
from server.client import FrameTrack, LiveClient, ObserverClient
from server.studies import store

from db_support import PostgresServer, SmallDisk
from test_abuse import real_offer
from test_studies import AUTH, STUDY, TOKEN, CountingAnalyzer, participant_token


class PgOutage:
    def __init__(self):
        self.server = PostgresServer()

    def start(self):
        if not (self.server.initdb and self.server.pg_ctl):
            pytest.skip("PostgreSQL's initdb/pg_ctl are not installed")
        self.server.start()
        self.url = self.server.new_database()

    def halt(self):
        self.server.halt()

    def resume(self):
        self.server.resume()

    def close(self):
        self.server.stop()


class SqliteOutage:
    def __init__(self):
        self.disk = SmallDisk("16m")

    def start(self):
        if not self.disk.mount():
            pytest.skip(f"cannot mount a small tmpfs for a full disk (needs root): {self.disk.error}")
        self.url = f"sqlite:///{self.disk.path / 'fer.db'}"

    def halt(self):
        self.disk.fill()

    def resume(self):
        self.disk.free()

    def close(self):
        self.disk.unmount()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def outage(request, tmp_path):
    kind = SqliteOutage() if request.param == "sqlite" else PgOutage()
    kind.start()
    settings = Settings(database=kind.url, admin_token=TOKEN, retention_sweep_s=0.3,  # (sweeps during the outage)
                        uploads=UploadSettings(directory=tmp_path / "uploads", poll_s=0.2),
                        screen=ScreenSettings(directory=tmp_path / "screen", sweep_interval_s=0.3))
    kind.app = create_app(settings, analyzer=CountingAnalyzer())
    kind.client = TestClient(TestServer(kind.app))
    await kind.client.start_server()
    yield kind
    try:
        try:
            kind.resume()  # (a test that failed during the outage)
        except subprocess.CalledProcessError:
            pass  # already running
        await kind.client.close()
    finally:
        kind.close()


async def until(condition, timeout=20.0, step=0.1):
    for _ in range(int(timeout / step)):
        value = await condition() if asyncio.iscoroutinefunction(condition) else condition()
        if value:
            return value
        await asyncio.sleep(step)
    raise AssertionError("not within the time")


@pytest.mark.asyncio
async def test_a_database_outage_is_answered_and_nothing_kept_is_lost(outage, face_frame_640, caplog):
    client, app = outage.client, outage.app
    db = app[keys.STUDIES].db
    study = await (await client.post("/api/studies", json=STUDY, headers=AUTH)).json()
    live = LiveClient(await client.ws_connect("/ws"))
    await live.start(FrameTrack([face_frame_640], fps=15), study=participant_token(study), consent=True)
    session = next(m["id"] for m in live.messages if m["type"] == "session")
    assert (await live.mark(0, "start"))["stored"] is True
    await live.wait_results(5, timeout=30)
    observer = ObserverClient(await client.ws_connect(f"/api/studies/{study['id']}/live", headers=AUTH))
    await observer.snapshot()

    caplog.set_level(logging.INFO)
    caplog.clear()
    outage.halt()

    async def degraded():
        return (await (await client.get("/healthz")).json())["database"] == "unavailable"

    await until(degraded)
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "degraded" and health["live_streams"] == 1
    n = len(live.results)
    await live.wait_results(n + 10, timeout=30)  # the stream goes on
    reply = await live.mark(0, "end")  # kept for later, said so; the socket stays open
    assert reply["type"] == "marked" and reply["stored"] is False, reply
    # a new participant is told, on a socket that stays open
    pc, sdp = await real_offer()
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "offer", "sdp": sdp, "study": participant_token(study), "consent": True})
    while (msg := await ws.receive_json(timeout=10))["type"] not in ("error", "session", "answer"):
        pass
    assert msg["type"] == "error" and "database is unavailable just now" in msg["message"], msg
    await ws.send_json({"type": "ping", "t": 3})
    while (msg := await ws.receive_json(timeout=10))["type"] != "pong":
        pass
    await ws.close()
    await pc.close()
    # the API answers JSON: a new study, an upload
    resp = await client.post("/api/studies", json=STUDY, headers=AUTH)
    assert resp.status == 503 and "database is unavailable" in (await resp.json())["error"]
    ok, png = cv2.imencode(".png", face_frame_640)
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(png.tobytes()), filename="me.png")
    resp = await client.post("/api/uploads", data=form)
    assert resp.status == 503 and "database is unavailable" in (await resp.json())["error"]
    # a note is refused, clearly; the live view stays open
    await observer.note(session, "during the outage")
    assert "the note was not stored" in await observer.wait_error(0)
    # the participant's "Stop and delete my data" while the database is down: refused clearly (the page
    # shows it, with the button to try again), nothing stopped or deleted, never kept for later
    withdraw = f"/api/participant/{participant_token(study)}/sessions/{session}"
    resp = await client.delete(withdraw)
    assert resp.status == 503 and resp.headers["Retry-After"], await resp.text()
    assert "nothing was deleted yet; please try again in a few minutes" in (await resp.json())["error"]
    n = len(live.results)
    await live.wait_results(n + 5, timeout=30)  # the stream goes on
    # the participant leaves while the database is down
    results_sent = len(live.results)
    await live.close()
    await until(lambda: not app[keys.LIVE_SESSIONS])
    await asyncio.sleep(1.5)  # a few more failed flushes and probes: still one line
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("server")]
    assert len(errors) == 1 and "database unavailable" in errors[0].getMessage(), [r.getMessage() for r in errors]
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("server")]  # no traceback

    resumed_at = time.time()
    outage.resume()

    async def healthy():
        return (await (await client.get("/healthz")).json())["status"] == "ok"

    await until(healthy, timeout=30)
    assert any("database available again" in r.getMessage() for r in caplog.records)
    stored = await store.get_session(db, session)
    assert stored["ended"] is not None and stored["ended"] < resumed_at  # when the participant left
    assert stored["frames"] >= results_sent  # every result the participant got is stored
    markers = await store.session_markers(db, session)
    assert [(m["task"], m["event"]) for m in markers] == [(0, "start"), (0, "end")]  # in order
    listed = await (await client.get(f"/api/studies/{study['id']}", headers=AUTH)).json()
    assert [s["live"] for s in listed["sessions"]] == [False]
    assert (await client.post("/api/studies", json=STUDY, headers=AUTH)).status == 201  # all as before
    # the withdrawal tried again, now that the database is back: everything of the session is deleted
    assert (await client.delete(withdraw)).status == 204
    gone = await (await client.get(f"/api/sessions/{session}", headers=AUTH)).json()
    assert gone["status"] == "withdrawn" and gone["rows"] == 0 and gone["frames"] == 0 and gone["markers"] == [] and gone["notes"] == []
    await observer.close()


@pytest.mark.asyncio
async def test_every_error_under_api_is_json(aiohttp_client, monkeypatch, caplog):
    """aiohttp's own errors (no such route, wrong method) and a handler's failure: JSON, no details."""
    from test_server import StubAnalyzer

    client = await aiohttp_client(create_app(Settings(admin_token=TOKEN), analyzer=StubAnalyzer()))
    resp = await client.get("/api/no-such-thing")
    assert resp.status == 404 and resp.content_type == "application/json" and "error" in await resp.json()
    resp = await client.put("/api/studies", headers=AUTH)
    assert resp.status == 405 and resp.content_type == "application/json" and "POST" in resp.headers["Allow"]

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug with a secret in its message")

    monkeypatch.setattr(store, "list_studies", broken)
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/api/studies", headers=AUTH)
    assert resp.status == 500 and resp.content_type == "application/json"
    body = await resp.json()
    assert "the server failed to answer this request" in body["error"] and "secret" not in body["error"]
    assert any(r.exc_info for r in caplog.records)  # the bug is in the log, with its traceback
    assert (await client.get("/healthz")).status == 200


def test_what_counts_as_an_outage():
    """The database unreachable or full is an outage; a bad query, or a full uploads folder, is not."""
    import errno

    from sqlalchemy import exc

    from server.storage.health import DatabaseHealth

    outage = DatabaseHealth.is_outage
    assert outage(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert outage(exc.OperationalError("INSERT", {}, Exception("database or disk is full")))
    assert not outage(exc.IntegrityError("INSERT", {}, Exception("FOREIGN KEY constraint failed")))
    assert not outage(OSError(errno.ENOSPC, "No space left on device"))  # a file's, not the database's
    assert not outage(ValueError("a bug"))
