"""Screen recordings of study sessions (server/studies/screen.py) on real databases (SQLite and PostgreSQL),
with a participant streaming over real WebRTC: chunks stored as they come (twice, out of order), joined
into one file that decodes, lasts as long as what was recorded and seeks, served to researchers only with
range requests; bad chunks refused with nothing lost; limits and a full disk stop the recording while the
expression analysis goes on; deleted completely (files and rows) with the session, the study, the
participant's withdrawal and retention, and by the sweep."""

import asyncio
import os
import time
from pathlib import Path

import av
import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import delete, func, select

from server import ScreenSettings, Settings, create_app, keys
from server.storage.models import screen_recordings, sessions as sessions_table
from server.studies import lifecycle, store

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from screen_samples import recorder_chunks, shade
from test_studies import AUTH, STUDY, TOKEN, CountingAnalyzer, create_study, participant, participant_token

SECONDS = 9.0


@pytest_asyncio.fixture
async def make_server(database_url, tmp_path):
    """``await make_server(**screen_settings)``: the app on a real database with its recordings folder."""
    clients = []

    async def make(**screen):
        settings = ScreenSettings(directory=tmp_path / "screen", **{"sweep_interval_s": 0.2, **screen})
        app = create_app(Settings(database=database_url, admin_token=TOKEN, screen=settings),
                         analyzer=CountingAnalyzer())
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


async def recording_participant(c, **study):
    created = await create_study(c, screen=True, **study)
    live = await participant(c, created)
    sid = next(m["id"] for m in live.messages if m["type"] == "session")
    await live.wait_results(5)
    base = f"/api/participant/{participant_token(created)}/sessions/{sid}/screen"
    return created, live, sid, base


async def wait_status(c, sid, *states, timeout=30.0, clock=False) -> dict:
    """The recording once in one of ``states`` (and, with ``clock``, once its clock is known)."""
    deadline = time.monotonic() + timeout
    while True:
        info = await (await c.get(f"/api/sessions/{sid}/screen", headers=AUTH)).json()
        done = info.get("status") in states and (not clock or info.get("offset_s") is not None)
        if done or time.monotonic() > deadline:
            assert done, info
            return info
        await asyncio.sleep(0.1)


def folder(c, sid) -> Path:
    return c.server.app[keys.STUDIES].screen.folder(sid)


@pytest.mark.asyncio
async def test_chunks_twice_and_out_of_order_make_one_file_that_plays_seeks_and_is_served_in_ranges(make_server):
    c = await make_server()
    created, live, sid, base = await recording_participant(c)
    assert (await (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).json())["screen"] is True
    started = await c.post(base, json={"since_ms": 40})
    assert started.status == 201 and (await started.json())["status"] == "recording"
    assert (await c.post(base, json={})).status == 200  # a start sent again: the same recording

    chunks = recorder_chunks(SECONDS)
    order = [1, 0, 3, 2, 4]  # out of order
    for seq in order:
        resp = await c.put(f"{base}/{seq}", data=chunks[seq], headers={"Content-Type": "video/webm"})
        assert resp.status == 201 and await resp.json() == {"seq": seq, "stored": True}
    again = await c.put(f"{base}/2", data=b"other bytes")  # sent twice (a retry): acknowledged, not written
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert (folder(c, sid) / "c-000002.webm").read_bytes() == chunks[2]
    info = await (await c.get(f"/api/sessions/{sid}/screen", headers=AUTH)).json()
    assert info["chunks"] == len(chunks) and info["bytes"] == sum(map(len, chunks)) and info["url"] is None
    assert (await c.get(f"/api/sessions/{sid}/screen.webm", headers=AUTH)).status == 404  # not ready yet

    done = await c.post(f"{base}/end", json={"chunks": len(chunks), "reason": "finished"})
    assert done.status == 200
    info = await wait_status(c, sid, "ready")
    assert info["duration_s"] == pytest.approx(SECONDS, abs=1.0) and info["missing"] == 0
    assert info["stop_reason"] == "finished" and info["url"] == f"/api/sessions/{sid}/screen.webm"
    assert sorted(p.name for p in folder(c, sid).iterdir()) == ["screen.webm"]  # the chunks are gone

    # a chunk after the end: refused, the file unchanged
    file_bytes = (folder(c, sid) / "screen.webm").read_bytes()
    late = await c.put(f"{base}/5", data=chunks[0])
    assert late.status == 409 and "ended" in (await late.json())["error"]
    assert (folder(c, sid) / "screen.webm").read_bytes() == file_bytes

    # served to researchers only, whole and in ranges
    assert (await c.get(f"/api/sessions/{sid}/screen.webm")).status == 401
    whole = await c.get(f"/api/sessions/{sid}/screen.webm", headers=AUTH)
    assert whole.status == 200 and whole.content_type == "video/webm" and await whole.read() == file_bytes
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await c.get(f"/api/sessions/{sid}/screen.webm", headers={**AUTH, "Range": "bytes=100-1099"})
    assert part.status == 206 and await part.read() == file_bytes[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(file_bytes)}"

    # the file decodes, lasts as long, and seeks: each second's frames have that second's grey
    path = folder(c, sid) / "screen.webm"
    with av.open(str(path)) as f:
        v = f.streams.video[0]
        assert f.duration / av.time_base == pytest.approx(SECONDS, abs=1.0)
        for target in (6.5, 2.2, 8.1):
            f.seek(int(target / v.time_base), stream=v)
            frame = next(fr for fr in f.decode(v) if fr.time >= target - 1e-6)
            assert frame.time == pytest.approx(target, abs=0.11)
            assert frame.to_ndarray(format="gray").mean() == pytest.approx(shade(int(target)), abs=4)
    # the session's API shows it with its clock: the stream time when the recorder started (found from the
    # session's rows of that moment: once they are stored, if the recording was joined before)
    for _ in range(100):
        detail = await (await c.get(f"/api/sessions/{sid}", headers=AUTH)).json()
        if detail["screen"]["offset_s"] is not None:
            break
        await asyncio.sleep(0.1)
    assert detail["screen"]["status"] == "ready" and detail["screen"]["offset_s"] is not None
    assert 0 <= detail["screen"]["offset_s"] <= live.results[-1]["timestamp"] + 1.0
    await live.close()


@pytest.mark.asyncio
async def test_the_recordings_clock_is_the_streams_clock_at_its_start(make_server):
    c = await make_server()
    created, live, sid, base = await recording_participant(c)
    await live.wait_results(30)
    last = live.results[-1]
    received = time.time()  # the client got ``last`` just now (wait_results returned on it)
    await asyncio.sleep(0.5)
    since_ms = 200  # the recorder started 200 ms before the request was sent
    sent = time.time()
    assert (await c.post(base, json={"since_ms": since_ms})).status == 201
    expected = last["timestamp"] + (sent - since_ms / 1000 - received)
    assert (await c.put(f"{base}/0", data=recorder_chunks(2.0)[0])).status == 201
    assert (await c.post(f"{base}/end", json={"chunks": 1})).status == 200
    info = await wait_status(c, sid, "ready", clock=True)
    # the frames' capture -> server path and the result's way back to the client: well under 0.2 s here
    assert info["offset_s"] == pytest.approx(expected, abs=0.2)
    await live.close()


@pytest.mark.asyncio
async def test_bad_chunks_are_refused_and_nothing_stored_is_lost(make_server):
    c = await make_server(chunk_max_bytes=4096)
    created, live, sid, base = await recording_participant(c)
    chunks = recorder_chunks(SECONDS)
    assert (await c.put(f"{base}/0", data=chunks[0])).status == 409  # before the recording started
    assert (await c.post(base, json={"since_ms": 0})).status == 201
    assert (await c.put(f"{base}/0", data=chunks[0])).status == 201

    other, other_live, other_sid, other_base = await recording_participant(c, title="Another study")
    assert (await c.post(other_base, json={})).status == 201
    token_b = participant_token(other)
    refused = [
        ("PUT", f"/api/participant/{token_b}/sessions/{sid}/screen/1", chunks[1], 404),  # another study's session
        ("PUT", f"{base}/1", b"x" * 5000, 413),  # too large
        ("PUT", f"{base}/1", b"", 400),  # empty
        ("PUT", f"{base}/1000000", chunks[1], 400),  # out of range
        ("POST", base, b"{not json", 400),
        ("POST", base, b'{"since_ms": "soon"}', 400),
        ("POST", base, b'{"admin": true}', 400),
        ("POST", f"{base}/end", b'{"chunks": -1}', 400),
        ("POST", f"{base}/end", b'{"reason": "<script>"}', 400),
        ("PUT", f"/api/participant/{participant_token(created)}/sessions/{'x' * 43}/screen/1", chunks[1], 404),
    ]
    for method, path, body, status in refused:
        resp = await c.request(method, path, data=body)
        assert resp.status == status, (method, path, await resp.text())
        assert "error" in await resp.json()
    plain = await create_study(c, title="No screen")  # a study that does not record the screen
    plain_live = await participant(c, plain)
    plain_sid = next(m["id"] for m in plain_live.messages if m["type"] == "session")
    resp = await c.post(f"/api/participant/{participant_token(plain)}/sessions/{plain_sid}/screen", json={})
    assert resp.status == 403 and "does not record the screen" in (await resp.json())["error"]
    # nothing stored was touched: session A has its one chunk, B none
    assert sorted(p.name for p in folder(c, sid).iterdir()) == ["c-000000.webm"]
    assert (folder(c, sid) / "c-000000.webm").read_bytes() == chunks[0]
    assert not any(folder(c, other_sid).iterdir())
    for sub in (live, other_live, plain_live):
        await sub.close()
    assert (await c.get("/healthz")).status == 200


@pytest.mark.asyncio
async def test_the_size_limit_and_a_full_disk_stop_the_recording_not_the_analysis(make_server):
    chunks = recorder_chunks(SECONDS)
    c = await make_server(max_bytes=len(chunks[0]) + len(chunks[1]) + 10)
    created, live, sid, base = await recording_participant(c)
    assert (await c.post(base, json={})).status == 201
    for seq in (0, 1):
        assert (await c.put(f"{base}/{seq}", data=chunks[seq])).status == 201
    over = await c.put(f"{base}/2", data=chunks[2])
    assert over.status == 413 and "size limit" in (await over.json())["error"]
    assert "expressions are still recorded" in (await over.json())["error"]
    late = await c.put(f"{base}/3", data=chunks[3][:10])  # small enough, but after the limit was reached
    assert late.status == 409  # ended there: every chunk before the refused one is in, so it is being joined
    n = len(live.results)
    await live.wait_results(n + 10)  # the camera's analysis goes on
    info = await wait_status(c, sid, "ready")  # finalized with what it had: two chunks, four seconds
    assert info["stop_reason"] == "size limit" and info["duration_s"] == pytest.approx(4.0, abs=1.0)
    await live.close()

    full = await make_server(min_free_bytes=10**18)  # more free space than any disk has: "full"
    created, live, sid, base = await recording_participant(full)
    assert (await full.post(base, json={})).status == 201
    resp = await full.put(f"{base}/0", data=chunks[0])
    assert resp.status == 507 and "no room" in (await resp.json())["error"]
    assert not any(folder(full, sid).iterdir())  # nothing half-written
    n = len(live.results)
    await live.wait_results(n + 10)
    info = await (await full.get(f"/api/sessions/{sid}/screen", headers=AUTH)).json()
    assert info["stop_reason"] == "disk full"
    await live.close()


@pytest.mark.asyncio
async def test_a_closed_tab_is_finalized_with_what_came(make_server):
    c = await make_server(end_grace_s=0.5)
    created, live, sid, base = await recording_participant(c)
    chunks = recorder_chunks(SECONDS)
    assert (await c.post(base, json={})).status == 201
    for seq in (0, 1, 3):  # chunk 2 lost on the way: a hole
        assert (await c.put(f"{base}/{seq}", data=chunks[seq])).status == 201
    await live.close()  # the tab closed: no end call
    info = await wait_status(c, sid, "ready")
    assert info["stop_reason"] == "session ended" and info["missing"] == 1
    assert info["duration_s"] == pytest.approx(8.0, abs=1.0)  # up to the end of chunk 3, with the hole


async def recording_rows(c, sid) -> int:
    async with c.server.app[keys.STUDIES].db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(screen_recordings)
                                   .where(screen_recordings.c.session_id == sid))).scalar_one()


async def recorded(c, ready: bool = False, **study):
    """A participant whose screen recording has a chunk on disk (``ready``: joined into its file)."""
    created, live, sid, base = await recording_participant(c, **study)
    chunks = recorder_chunks(4.0)
    assert (await c.post(base, json={})).status == 201
    for seq, chunk in enumerate(chunks if ready else chunks[:1]):
        assert (await c.put(f"{base}/{seq}", data=chunk)).status == 201
    if ready:
        assert (await c.post(f"{base}/end", json={"chunks": len(chunks), "reason": "finished"})).status == 200
        await wait_status(c, sid, "ready")
        assert (folder(c, sid) / "screen.webm").exists()
    assert folder(c, sid).exists() and await recording_rows(c, sid) == 1
    return created, live, sid, base


async def gone(c, sid) -> None:
    """Nothing of the session's recording left: no file, no folder, no row (the sweep is not waited for)."""
    assert not folder(c, sid).exists()
    assert await recording_rows(c, sid) == 0
    assert (await c.get(f"/api/sessions/{sid}/screen.webm", headers=AUTH)).status == 404


@pytest.mark.asyncio
async def test_withdrawal_retention_and_every_delete_leave_nothing_of_the_recording(make_server):
    c = await make_server(sweep_interval_s=3600.0)  # no sweep: each deletion must do it itself
    studies = c.server.app[keys.STUDIES]

    # the researcher deletes a session whose recording is ready
    created, live, sid, base = await recorded(c, ready=True)
    await live.close()
    assert (await c.delete(f"/api/sessions/{sid}", headers=AUTH)).status == 204
    await gone(c, sid)

    # the participant withdraws while recording ("Stop and delete my data"): the session stays listed as
    # withdrawn, its recording is gone, and nothing more is taken
    created, live, sid, base = await recorded(c)
    resp = await c.delete(f"/api/participant/{participant_token(created)}/sessions/{sid}")
    assert resp.status == 204
    await gone(c, sid)
    assert (await store.get_session(studies.db, sid))["status"] == "withdrawn"
    chunks = recorder_chunks(4.0)
    late = await c.put(f"{base}/1", data=chunks[1])  # a chunk still on its way: refused, nothing written
    assert late.status == 410 and "deleted" in (await late.json())["error"]
    assert (await c.post(base, json={})).status == 410  # nor a new start
    assert (await c.post(f"{base}/end", json={"chunks": 2})).status == 410
    await gone(c, sid)
    await live.close()

    # the study's delete
    created, live, sid, base = await recorded(c, ready=True)
    await live.close()
    assert (await c.delete(f"/api/studies/{created['id']}", headers=AUTH)).status == 204
    await gone(c, sid)

    # retention: the study's sessions older than its period, deleted by the server's sweep
    created, live, sid, base = await recorded(c, ready=True, retention_days=1)
    await live.close()
    for _ in range(100):  # the session ends once its /ws closes
        if sid not in studies.live:
            break
        await asyncio.sleep(0.1)
    assert await lifecycle.sweep(studies, now=time.time() + 2 * 86400) == 1
    await gone(c, sid)
    assert await store.get_session(studies.db, sid) is None
    screen_dir = studies.screen.dir
    assert [p.name for p in screen_dir.iterdir()] == [".store"]


@pytest.mark.asyncio
async def test_a_session_deleted_by_hand_loses_its_recording_at_the_sweep(make_server):
    c = await make_server()
    chunks = recorder_chunks(SECONDS)
    # a session deleted some other way (by hand in SQL): the sweep removes its folder
    created, live, sid, base = await recording_participant(c)
    assert (await c.post(base, json={})).status == 201
    assert (await c.put(f"{base}/0", data=chunks[0])).status == 201
    await live.close()
    db = c.server.app[keys.STUDIES].db
    async with db.engine.begin() as conn:
        await conn.execute(delete(sessions_table).where(sessions_table.c.id == sid))
    for _ in range(100):
        if not folder(c, sid).exists():
            break
        await asyncio.sleep(0.1)
    assert not folder(c, sid).exists()
    screen_dir = c.server.app[keys.STUDIES].screen.dir
    assert [p.name for p in screen_dir.iterdir()] == [".store"]
    assert oct(os.stat(screen_dir).st_mode & 0o777) == "0o700"


@pytest.mark.asyncio
async def test_a_restart_finalizes_a_recording_left_open(make_server, database_url):
    c = await make_server(idle_s=0.5)
    created, live, sid, base = await recording_participant(c)
    chunks = recorder_chunks(4.0)
    assert (await c.post(base, json={})).status == 201
    for seq, chunk in enumerate(chunks):
        assert (await c.put(f"{base}/{seq}", data=chunk)).status == 201
    # the server stops while the participant still streams (their /ws closes with it), then comes back
    await c.close()
    await live.close()
    info = await (await (await make_server()).get(f"/api/sessions/{sid}/screen", headers=AUTH)).json()
    assert info["status"] in ("recording", "ending")  # nobody finalized it on the way down
    c2 = await make_server(idle_s=0.5, end_grace_s=0.5)
    info = await wait_status(c2, sid, "ready")
    assert info["duration_s"] == pytest.approx(4.0, abs=1.0) and info["chunks"] == len(chunks)


@pytest.mark.asyncio
async def test_a_recordings_folder_serves_one_database_only(database_url, tmp_path):
    """Two databases on one folder: the second server would sweep the first one's recordings away, so it
    refuses to start, saying why; the first one's recording is untouched."""
    from server.studies.screen import FolderError

    folder = tmp_path / "screen"
    first = create_app(Settings(database=database_url, admin_token=TOKEN,
                                screen=ScreenSettings(directory=folder, sweep_interval_s=0.1)),
                       analyzer=CountingAnalyzer())
    client = TestClient(TestServer(first))
    await client.start_server()
    try:
        created, live, sid, base = await recording_participant(client)
        assert (await client.post(base, json={})).status == 201
        assert (await client.put(f"{base}/0", data=recorder_chunks(2.0)[0])).status == 201
        other = create_app(Settings(database=f"sqlite:///{tmp_path / 'other.db'}", admin_token=TOKEN,
                                    screen=ScreenSettings(directory=folder, sweep_interval_s=0.1)),
                           analyzer=CountingAnalyzer())
        with pytest.raises(FolderError, match="another database's recordings"):
            await TestClient(TestServer(other)).start_server()
        await asyncio.sleep(0.5)
        assert (folder / f"r-{sid}" / "c-000000.webm").exists()
        await live.close()
    finally:
        await client.close()
    # the same database again (a restart, a replica): the same folder is its own
    again = TestClient(TestServer(create_app(Settings(database=database_url, admin_token=TOKEN,
                                                      screen=ScreenSettings(directory=folder)),
                                             analyzer=CountingAnalyzer())))
    await again.start_server()
    await again.close()


@pytest.mark.asyncio
async def test_replicas_sharing_the_folder_take_each_others_chunks(database_url, tmp_path):
    """Two replicas on one database and one recordings folder (a shared volume), no sticky sessions: a
    participant's chunks land on either, the start on one and the end on the other; one file. A replica
    with a folder of its own refuses the chunks it cannot store (503: the browser tries again)."""
    def replica(folder):
        app = create_app(Settings(database=database_url, admin_token=TOKEN,
                                  screen=ScreenSettings(directory=folder, sweep_interval_s=0.2)),
                         analyzer=CountingAnalyzer())
        return TestClient(TestServer(app))

    a, b, alone = replica(tmp_path / "shared"), replica(tmp_path / "shared"), replica(tmp_path / "own")
    for c in (a, b, alone):
        await c.start_server()
    try:
        created, live, sid, base = await recording_participant(a)
        chunks = recorder_chunks(SECONDS)
        assert (await b.post(base, json={})).status == 201
        for seq, chunk in enumerate(chunks):
            target = (a, b)[seq % 2]
            assert (await target.put(f"{base}/{seq}", data=chunk)).status == 201
        assert (await a.put(f"{base}/1", data=chunks[1])).status == 200  # B stored it: A knows
        refused = await alone.put(f"{base}/{len(chunks)}", data=chunks[0])
        assert refused.status == 503 and "try again" in (await refused.json())["error"]
        assert (await b.post(f"{base}/end", json={"chunks": len(chunks)})).status == 200
        info = await wait_status(a, sid, "ready")
        assert info["chunks"] == len(chunks) and info["duration_s"] == pytest.approx(SECONDS, abs=1.0)
        for c in (a, b):  # either serves it
            resp = await c.get(f"/api/sessions/{sid}/screen.webm", headers={**AUTH, "Range": "bytes=0-9"})
            assert resp.status == 206 and len(await resp.read()) == 10
        await live.close()
    finally:
        for c in (a, b, alone):
            await c.close()


def test_each_database_has_its_own_recordings_folder_by_default():
    from pathlib import Path as P

    def folder(*argv, env=None):
        return Settings.from_args(list(argv), env=env or {}).screen.directory

    assert folder() == P("data/fer-screen")  # beside the default data/fer.db
    assert folder("--database", "sqlite:////srv/studies/lab.db") == P("/srv/studies/lab-screen")
    assert folder("--database", "postgresql://fer:pw@db.example.org:5432/fer") == P("data/screen-fer")
    assert folder("--database", "postgresql://u@h/lab", env={"FER_SCREEN_DIR": "/mnt/shared/screen"}) == \
        P("/mnt/shared/screen")
    assert Settings.from_args([], env={"FER_SCREEN_MAX_MB": "20"}).screen.max_bytes == 20 * 2**20


@pytest.mark.asyncio
async def test_a_participant_cannot_hold_connections_with_slow_chunks(make_server):
    """The page sends one chunk at a time: a third at once is refused (429), and a body that does not come
    in time is dropped (408); the recording takes the next chunk as before."""
    c = await make_server(chunk_read_s=1.0)
    created, live, sid, base = await recording_participant(c)
    assert (await c.post(base, json={})).status == 201
    chunks = recorder_chunks(SECONDS)

    async def trickle():
        yield chunks[0][:10]
        await asyncio.sleep(3)
        yield chunks[0][10:]

    slow = [asyncio.ensure_future(c.put(f"{base}/{seq}", data=trickle())) for seq in (0, 1)]
    await asyncio.sleep(0.3)
    third = await c.put(f"{base}/2", data=chunks[2])
    assert third.status == 429 and "one after the other" in (await third.json())["error"]
    for resp in await asyncio.gather(*slow):
        assert resp.status == 408 and "did not come within 1 s" in (await resp.json())["error"]
    assert not any(folder(c, sid).iterdir())  # nothing half-written
    for seq in (0, 1, 2):
        assert (await c.put(f"{base}/{seq}", data=chunks[seq])).status == 201
    await live.close()
