"""Upload jobs in the app's database (a SQLite file and a real PostgreSQL server): claimed exactly once by
concurrent workers, resumed or failed cleanly after their server stopped or died, kept over a restart, and
a study session's recordings stored in the session and exported."""

import asyncio
import csv
import io
import logging
import threading
import time

import aiohttp
import cv2
import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from ml.schema import utc_iso
from server import Settings, UploadSettings, create_app, keys
from server.studies import store
from server.storage.db import Database
from server.storage.models import jobs
from server.uploads import queue
from server.uploads.jobs import STORE_FILE, store_id, token_hash

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)

TOKEN = "researcher-token-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def form(data: bytes, filename: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    return f


def face_video(path, frames: int, face_frame_640, fps: int = 10) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for i in range(frames):
        writer.write(np.roll(face_frame_640, abs(i % 80 - 40), axis=1))  # to and fro: a jump back would be a cut
    writer.release()
    return path.read_bytes()


def png_bytes(bgr) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)
    return buf.tobytes()


async def wait_status(client, job_id, until=("done", "error"), timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(f"/api/uploads/{job_id}")
        body = await resp.json()
        assert resp.status == 200, body
        if body["status"] in until:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"upload not {until} after {timeout} s: {body}")


def job_row(job_id: str, store_: str, **values) -> dict:
    row = {"id": job_id, "store": store_, "status": "queued", "owner": None, "heartbeat": None, "attempts": 0,
           "filename": f"{job_id}.png", "kind": "image", "input": "input.png", "size": 1, "client": "c",
           "delete_hash": token_hash("t"), "created": time.time(), "frames_done": 0, "frames_total": 0}
    return row | values


@pytest_asyncio.fixture
async def app_on(database_url, analyzer, tmp_path):
    """``await app_on(**upload_options)``: the app on the test database, uploads in tmp_path/uploads;
    ``.restart()`` stops it cleanly and starts a new one on the same database and folder."""
    running = []

    class Running:
        def __init__(self, **options):
            self.options = options

        async def start(self):
            settings = Settings(database=database_url, admin_token=TOKEN,
                                uploads=UploadSettings(directory=tmp_path / "uploads", **self.options))
            self.app = create_app(settings, analyzer=analyzer)
            self.client = TestClient(TestServer(self.app))
            await self.client.start_server()
            self.jobs = self.app[keys.UPLOADS]
            return self

        async def restart(self):
            await self.client.close()
            return await self.start()

    async def make(**options):
        r = await Running(**options).start()
        running.append(r)
        return r

    make.url = database_url
    yield make
    for r in running:
        await r.client.close()


# ---------- the queue ----------


@pytest.mark.asyncio
async def test_concurrent_workers_take_every_job_exactly_once(database_url):
    """Four workers (each its own Database: its own connections) claim at once until the queue is empty."""
    first = Database(database_url)
    await first.open()
    workers = [Database(database_url) for _ in range(4)]
    try:
        ids = [f"job{i:03d}" for i in range(60)]
        async with first.engine.begin() as conn:
            await conn.execute(jobs.insert(), [job_row(i, "store-a", created=1000.0 + n) for n, i in enumerate(ids)])
            await conn.execute(jobs.insert(), [job_row("other-store-job", "store-b")])
        for w in workers:
            await w.open()
        oldest = await queue.claim(workers[0], "store-a", "worker0")
        assert oldest.id == ids[0]  # first come, first served

        async def work(db, name):
            got = []
            while (row := await queue.claim(db, "store-a", name)) is not None:
                assert row.status == "running" and row.owner == name and row.attempts == 1
                got.append(row.id)
                await asyncio.sleep(0)
            return got

        claimed = await asyncio.gather(*(work(db, f"worker{n}") for n, db in enumerate(workers)))
        claimed[0].insert(0, oldest.id)
        every = [i for got in claimed for i in got]
        assert sorted(every) == ids  # each job once: none twice, none left behind
        async with first.engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(jobs.select())}
        assert rows["other-store-job"].status == "queued"  # another folder's job: not this worker's
        for n, got in enumerate(claimed):
            assert all(rows[i].owner == f"worker{n}" for i in got)
    finally:
        for db in (first, *workers):
            await db.close()


# ---------- restarts ----------


@pytest.mark.asyncio
async def test_a_clean_restart_resumes_the_running_job_and_keeps_the_finished_ones(app_on, face_frame_640,
                                                                                    astronaut_bgr, tmp_path):
    server = await app_on()
    c = server.client
    image = await (await c.post("/api/uploads", data=form(png_bytes(astronaut_bgr), "photo.png"))).json()
    assert (await wait_status(c, image["id"]))["status"] == "done"
    resp = await c.post("/api/uploads", data=form(face_video(tmp_path / "v.mp4", 600, face_frame_640), "talk.mp4"))
    video = await resp.json()
    assert resp.status == 202, video
    body = await wait_status(c, video["id"], until=("running",))
    while body["frames_done"] == 0:
        body = await wait_status(c, video["id"], until=("running",))
    assert body["status"] == "running"

    server = await server.restart()  # mid-analysis: the job goes back to the queue, its file kept
    c = server.client
    body = await (await c.get(f"/api/uploads/{video['id']}")).json()
    assert body["status"] in ("queued", "running") and body["frames_done"] < 600  # not finished before
    body = await wait_status(c, video["id"])
    assert body["status"] == "done", body["error"]
    assert body["summary"]["frames_total"] == 600 and body["summary"]["dominant"] == "happy"
    rows = list(csv.DictReader(io.StringIO(await (await c.get(body["links"]["csv"])).text())))
    assert {int(r["frame"]) for r in rows} == set(range(600))  # every frame once (the face from its first sighting)
    assert len(rows) == len({(r["frame"], r["face"]) for r in rows})  # no frame twice
    folder = server.jobs.settings.directory / f"u-{video['id']}"
    assert sorted(p.name for p in folder.iterdir()) == ["annotated.mp4", "expressions.csv", "timeline.png"]

    # the photo analysed before the restart is still there, and its delete token still works
    kept = await wait_status(c, image["id"])
    assert kept["status"] == "done" and (await c.get(kept["links"]["csv"])).status == 200
    resp = await c.delete(f"/api/uploads/{image['id']}", headers={"X-Delete-Token": image["delete_token"]})
    assert resp.status == 200
    assert (await c.get(f"/api/uploads/{image['id']}")).status == 404
    assert not (server.jobs.settings.directory / f"u-{image['id']}").exists()


@pytest.mark.asyncio
async def test_jobs_of_a_dead_server_are_resumed_or_failed_clearly(app_on, astronaut_bgr, tmp_path):
    """Jobs left "running" or "receiving" by a server that died (no heartbeat for the lease): analysed
    again from their file, failed when the file is gone or after too many tries, deleted when incomplete."""
    uploads = tmp_path / "uploads"
    uploads.mkdir(mode=0o700)
    here = store_id(uploads)
    long_ago = time.time() - 60
    rows = {
        "resumed": job_row("resumed", here, status="running", owner="dead", heartbeat=long_ago, attempts=1,
                           frames_done=3),
        "gone": job_row("gone", here, status="running", owner="dead", heartbeat=long_ago, attempts=1),
        "tried": job_row("tried", here, status="running", owner="dead", heartbeat=long_ago, attempts=3),
        "cut": job_row("cut", here, status="receiving", owner="dead", heartbeat=long_ago, filename="", kind="",
                       input=None),
    }
    for name in ("resumed", "tried", "cut"):
        (uploads / f"u-{name}").mkdir(mode=0o700)
        (uploads / f"u-{name}" / "input.png").write_bytes(png_bytes(astronaut_bgr))
    (uploads / "u-resumed" / ".expressions.csv.part-1234.csv").write_text("half-written")
    (uploads / "u-gone").mkdir(mode=0o700)
    db = Database(app_on.url)
    await db.open()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(jobs.insert(), list(rows.values()))
    finally:
        await db.close()

    server = await app_on(lease_s=1.0)
    c = server.client
    body = await wait_status(c, "resumed")
    assert body["status"] == "done" and body["summary"]["dominant"] == "happy", body
    assert sorted(p.name for p in (uploads / "u-resumed").iterdir()) == [
        "annotated.png", "expressions.csv", "timeline.png"]  # the partial file of the first try is gone
    body = await wait_status(c, "gone")
    assert body["status"] == "error"
    assert body["error"] == ("gone.png: the server stopped during the analysis and the uploaded file is no "
                             "longer there; upload it again")
    body = await wait_status(c, "tried")
    assert body["status"] == "error" and "interrupted 3 times" in body["error"]
    assert (await c.get("/api/uploads/cut")).status == 404
    assert not (uploads / "u-cut").exists()
    assert await server.jobs.pending() == 0


@pytest.mark.asyncio
async def test_expiry_removes_rows_and_files(app_on, astronaut_bgr):
    server = await app_on(retention_s=3, cleanup_interval_s=0.1)
    c = server.client
    job = await (await c.post("/api/uploads", data=form(png_bytes(astronaut_bgr), "me.png"))).json()
    assert (await wait_status(c, job["id"]))["status"] == "done"
    folder = server.jobs.settings.directory / f"u-{job['id']}"
    assert folder.exists()
    deadline = time.monotonic() + 15
    while folder.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not folder.exists()
    assert (await c.get(f"/api/uploads/{job['id']}")).status == 404
    assert await queue.get(server.jobs.db, job["id"]) is None  # the row too, not only hidden
    assert [p.name for p in server.jobs.settings.directory.iterdir()] == [STORE_FILE]


# ---------- a study session's recordings ----------


@pytest.mark.asyncio
async def test_a_sessions_recording_is_analysed_into_the_session_and_exported(app_on, face_frame_640,
                                                                              astronaut_bgr, tmp_path):
    server = await app_on(lease_s=1.0)
    c = server.client
    study = await (await c.post("/api/studies", headers=AUTH, json={
        "title": "Kiosk", "consent": "ok", "tasks": ["Read", "Decide"]})).json()
    db = server.app[keys.STUDIES].db
    session = await store.create_session(db, study["id"])
    t0 = 1_790_000_000.0  # the recording's start, and the tasks' markers around it
    await store.add_marker(db, session, 0, "start", 0.0, utc_iso(t0 - 5))
    await store.add_marker(db, session, 0, "end", 5.7, utc_iso(t0 + 0.7))
    await store.add_marker(db, session, 1, "start", 5.8, utc_iso(t0 + 0.8))
    video = face_video(tmp_path / "kiosk.mp4", 15, face_frame_640, fps=10)  # 1.5 s
    url = f"/api/sessions/{session}/recordings"

    assert (await c.post(url, data=form(video, "kiosk.mp4"))).status == 401
    assert (await c.post("/api/sessions/nosuchsession/recordings", data=form(video, "kiosk.mp4"),
                         headers=AUTH)).status == 404
    resp = await c.post(url + "?started=yesterday", data=form(video, "kiosk.mp4"), headers=AUTH)
    assert resp.status == 400 and "ISO 8601" in (await resp.json())["error"]
    resp = await c.post(url + "?started=" + utc_iso(t0), data=form(video, "kiosk.mp4"), headers=AUTH)
    assert resp.status == 202, await resp.text()
    recording = await resp.json()
    assert (await wait_status(c, recording["id"]))["status"] == "done"
    resp = await c.post(url, data=form(png_bytes(astronaut_bgr), "still.png"), headers=AUTH)  # no time: no task
    still = await resp.json()
    assert (await wait_status(c, still["id"]))["status"] == "done"

    listed = await (await c.get(url, headers=AUTH)).json()
    assert [(j["id"], j["filename"], j["status"]) for j in listed] == [
        (recording["id"], "kiosk.mp4", "done"), (still["id"], "still.png", "done")]
    assert (await c.get(url)).status == 401

    for export in (f"/api/sessions/{session}/export.csv", f"/api/studies/{study['id']}/export.csv"):
        rows = list(csv.DictReader(io.StringIO(await (await c.get(export, headers=AUTH)).text())))
        kiosk = [r for r in rows if r["file"] == "kiosk.mp4"]
        assert {r["session"] for r in rows} == {session}
        assert {int(r["frame"]) for r in kiosk} == set(range(15)) and {r["face"] for r in kiosk} == {"1"}
        assert {r["source"] for r in kiosk} <= {"detected", "interpolated"}
        for r in kiosk:
            t = float(r["time_s"])
            assert r["utc"] == utc_iso(t0 + t)
            assert r["task"] == ("1" if t < 0.7 else "" if t < 0.8 else "2"), r  # 1-based, as on the pages
            assert r["participant"] == "1"  # one face: the participant's
        photo = [r for r in rows if r["file"] == "still.png"]
        assert photo and all(r["task"] == "" and r["utc"] == "" for r in photo)
        assert "happy" in {r["label"] for r in photo}

    # deleting the session deletes its recordings' jobs and files too
    folder = server.jobs.settings.directory / f"u-{recording['id']}"
    assert folder.exists()
    assert (await c.delete(f"/api/sessions/{session}", headers=AUTH)).status == 204
    assert (await c.get(f"/api/uploads/{recording['id']}")).status == 404
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not folder.exists()
    assert (await c.post(url, data=form(video, "kiosk.mp4"), headers=AUTH)).status == 404


# ---------- replicas on one PostgreSQL ----------


@pytest.mark.asyncio
async def test_replicas_sharing_an_uploads_folder_take_each_others_jobs(postgres_server, analyzer,  # noqa: F811
                                                                        astronaut_bgr, tmp_path):
    """Replicas A and B on one PostgreSQL and one (shared) uploads folder: while A's analysis thread is busy,
    B analyses the job uploaded to A. Replica C, with a folder of its own, never takes them, and sends
    their result files' requests elsewhere clearly (503)."""
    url = postgres_server.new_database()

    async def replica(folder):
        settings = Settings(database=url, admin_token=TOKEN, uploads=UploadSettings(directory=folder))
        client = TestClient(TestServer(create_app(settings, analyzer=analyzer)))
        await client.start_server()
        return client

    a = await replica(tmp_path / "shared")
    b = await replica(tmp_path / "shared")
    c = await replica(tmp_path / "own")
    blocked = threading.Event()
    a.app[keys.UPLOADS].service.submit_recorded(lambda analyzer: blocked.wait(60))  # A's thread is busy
    try:
        photo = png_bytes(astronaut_bgr)
        first = await (await a.post("/api/uploads", data=form(photo, "first.png"))).json()
        await wait_status(a, first["id"], until=("running",))  # claimed by A's worker, waiting for its thread
        second = await (await a.post("/api/uploads", data=form(photo, "second.png"))).json()
        body = await wait_status(b, second["id"], timeout=60)  # B's worker took it: A's thread is still blocked
        assert body["status"] == "done" and not blocked.is_set()
        assert (await b.get(body["links"]["csv"])).status == 200
        assert (await wait_status(a, second["id"]))["status"] == "done"  # one folder: A serves it too

        b.app[keys.UPLOADS].service.submit_recorded(lambda analyzer: blocked.wait(60))  # B's thread busy too
        third = await (await a.post("/api/uploads", data=form(photo, "third.png"))).json()
        await asyncio.sleep(3)  # C is idle and looks every second: it must not take A's job
        row = await queue.get(c.app[keys.UPLOADS].db, third["id"])
        assert row.status in ("queued", "running") and row.owner != c.app[keys.UPLOADS].owner
        assert (await (await c.get(f"/api/uploads/{third['id']}")).json())["status"] == row.status  # C tells it
        resp = await c.get(body["links"]["csv"])
        assert resp.status == 503 and "on another server replica" in (await resp.json())["error"]
        blocked.set()
        assert (await wait_status(a, first["id"]))["status"] == "done"
        assert (await wait_status(c, third["id"]))["status"] == "done"  # by A or B; C reads its status
    finally:
        blocked.set()
        for client in (a, b, c):
            await client.close()


def test_the_lease_is_a_setting():
    assert UploadSettings.from_env({"FER_UPLOAD_LEASE_S": "2.5"}).lease_s == 2.5
    assert Settings.from_args([], env={}).uploads.lease_s == 15.0
    with pytest.raises(SystemExit):
        Settings.from_args([], env={"FER_UPLOAD_LEASE_S": "0"})


@pytest.mark.asyncio
async def test_deleting_a_session_stops_its_recordings_analysis_and_leaves_nothing(app_on, face_frame_640, tmp_path,
                                                                                    caplog):
    caplog.set_level(logging.INFO, logger="server.uploads")
    server = await app_on(lease_s=1.0)
    c = server.client
    study = await (await c.post("/api/studies", headers=AUTH, json={
        "title": "Lab", "consent": "ok", "tasks": ["One"]})).json()
    db = server.app[keys.STUDIES].db
    session = await store.create_session(db, study["id"])
    video = face_video(tmp_path / "lab.mp4", 600, face_frame_640)
    resp = await c.post(f"/api/sessions/{session}/recordings", data=form(video, "lab.mp4"), headers=AUTH)
    job = await resp.json()
    assert resp.status == 202, job
    body = await wait_status(c, job["id"], until=("running",))
    while body["frames_done"] == 0:
        body = await wait_status(c, job["id"], until=("running",))
    assert (await c.delete(f"/api/sessions/{session}", headers=AUTH)).status == 204
    assert (await c.get(f"/api/uploads/{job['id']}")).status == 404
    folder = server.jobs.settings.directory / f"u-{job['id']}"
    deadline = time.monotonic() + 20
    while (folder.exists() or server.jobs.local) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not folder.exists() and not server.jobs.local  # the analysis stopped, its files are gone
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("upload analysed")]
    assert line.startswith("upload analysed (video, cancelled)"), line  # stopped mid-way, not finished
    assert await store.count_rows(db, session) == 0 and await queue.get(db, job["id"]) is None
