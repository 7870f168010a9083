"""A study's lifecycle on SQLite and PostgreSQL: closing it (its link says so, no new sessions), a participant
cap that parallel participants cannot pass together, a retention period after which the server deletes
sessions completely (logged); every bad setting refused with a clear error."""

import asyncio
import logging
import os
import time

import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server import Settings, create_app, keys
from server.client import FrameTrack, LiveClient
from server.storage.models import markers, notes, results, sessions
from server.studies import StudyError, lifecycle, store

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer
from test_studies import AUTH, TOKEN, create_study, participant, participant_token, settled


@pytest_asyncio.fixture
async def client(database_url):
    app = create_app(Settings(database=database_url, admin_token=TOKEN, retention_sweep_s=0.2),
                     analyzer=StubAnalyzer())
    c = TestClient(TestServer(app))
    await c.start_server()
    c.url = database_url
    yield c
    await c.close()


async def patch(c, study_id, body, status=200):
    resp = await c.patch(f"/api/studies/{study_id}", json=body, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


@pytest.mark.asyncio
async def test_bad_settings_get_clear_errors(client):
    c = client
    bad = [
        ({"retention_days": 0}, '"retention_days" must be more than 0'),
        ({"retention_days": -1}, '"retention_days" must be more than 0'),
        ({"retention_days": "7"}, '"retention_days" must be more than 0'),
        ({"retention_days": 10 ** 6}, "at most 36500 days"),
        ({"max_sessions": 0}, '"max_sessions" must be a whole number from 1'),
        ({"max_sessions": 2.5}, '"max_sessions" must be a whole number'),
        ({"max_sessions": True}, '"max_sessions" must be a whole number'),
        ({"check_required": "yes"}, '"check_required" must be true'),
        ({"quality": {"min_face_share": 2}}, 'quality "min_face_share" must be a number from 0 to 1'),
        ({"quality": {"darkness": 1}}, "unknown quality threshold(s): darkness"),
        ({"quality": [1]}, '"quality" must be an object'),
    ]
    for body, message in bad:
        resp = await c.post("/api/studies", json={"title": "T", "consent": "C", "tasks": ["a"], **body}, headers=AUTH)
        assert resp.status == 400 and message in (await resp.json())["error"], (body, await resp.text())
    assert await (await c.get("/api/studies", headers=AUTH)).json() == []  # nothing made

    study = await create_study(c)
    for body, message in [*bad, ({"closed": "yes"}, '"closed" must be true'), ({}, "a change is a JSON object"),
                          ({"title": "new"}, "unknown or unchangeable field(s): title"), ([], "a change is a JSON object")]:
        resp = await c.patch(f"/api/studies/{study['id']}", json=body, headers=AUTH)
        assert resp.status == 400 and message in (await resp.json())["error"], (body, await resp.text())
    # a change's body is strict text too (server/strict_text.py): JSON, not too deep, no NUL or lone surrogate
    for raw, message in [(b"{nope", "invalid change: invalid JSON"), (b"\xff", "the request body must be UTF-8 JSON"),
                         (b'{"quality": ' + b"[" * 50 + b"]" * 50 + b"}", "nests 51 levels deep; at most 32"),
                         (b'{"closed": true, "\\u0000": 1}', "NUL character"),
                         (b'{"quality": {"min_face_px\\ud800": 1}}', "lone surrogate")]:
        resp = await c.patch(f"/api/studies/{study['id']}", data=raw, headers=AUTH)
        assert resp.status == 400 and message in (await resp.json())["error"], (raw, await resp.text())
    assert (await c.patch(f"/api/studies/{study['id']}", json={"closed": True})).status == 401
    assert (await c.patch("/api/studies/nope", json={"closed": True}, headers=AUTH)).status == 404
    shown = await (await c.get(f"/api/studies/{study['id']}", headers=AUTH)).json()
    assert shown["closed"] is None and shown["max_sessions"] is None and shown["retention_days"] is None
    assert shown["quality"] == {"min_face_share": 0.8, "min_face_px": 80, "min_brightness": 60, "max_other_s": 5.0}
    changed = await patch(c, study["id"], {"quality": {"min_face_px": 40, "max_other_s": None}, "check_required": True})
    assert changed["quality"]["min_face_px"] == 40 and changed["quality"]["max_other_s"] is None
    assert changed["quality"]["min_face_share"] == 0.8 and changed["check_required"] is True


@pytest.mark.asyncio
async def test_a_closed_study_takes_no_new_sessions(client):
    c = client
    study = await create_study(c)
    token = participant_token(study)
    running = await participant(c, study)  # a session running when the study closes goes on
    await running.wait_results(3)
    closed = await patch(c, study["id"], {"closed": True})
    assert closed["closed"]
    page = await c.get(f"/p/{token}")
    assert page.status == 410 and "This study is closed" in await page.text() and 'id="agree"' not in await page.text()
    ws = await c.ws_connect("/ws")
    late = LiveClient(ws)
    with pytest.raises(RuntimeError, match="this study is closed"):
        await late.start(FrameTrack([np.full((96, 128, 3), 90, np.uint8)]), study=token, consent=True)
    await late.close()
    n = len(running.results)
    await running.wait_results(n + 5)
    assert (await running.mark(0, "start"))["type"] == "marked"
    await running.close()
    listed = await (await c.get("/api/studies", headers=AUTH)).json()
    assert listed[0]["closed"] and listed[0]["sessions"] == 1

    await patch(c, study["id"], {"closed": False})  # open again
    assert (await c.get(f"/p/{token}")).status == 200
    again = await participant(c, study)
    await again.wait_results(2)
    await again.close()
    await settled(client)


@pytest.mark.asyncio
async def test_the_participant_cap_holds_for_parallel_participants(client):
    c = client
    study = await create_study(c, max_sessions=2)
    studies = c.app[keys.STUDIES]
    token = participant_token(study)
    outcomes = await asyncio.gather(*(studies.join(token) for _ in range(6)), return_exceptions=True)
    joined = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(joined) == 2 and len(refused) == 4
    assert all(isinstance(e, StudyError) and "all the participants it needs" in str(e) for e in refused)
    assert await store.count_sessions(studies.db, study["id"]) == 2
    page = await c.get(f"/p/{token}")
    assert page.status == 410 and "all the participants it needs" in await page.text()

    # a participant who withdraws frees their place
    assert (await c.delete(f"/api/participant/{token}/sessions/{joined[0].session_id}")).status == 204
    third = await studies.join(token)
    with pytest.raises(StudyError, match="all the participants"):
        await studies.join(token)
    for p in (joined[1], third):
        await p.end()
    assert (await patch(c, study["id"], {"max_sessions": None}))["max_sessions"] is None
    assert (await c.get(f"/p/{token}")).status == 200


@pytest.mark.asyncio
async def test_sessions_past_the_retention_period_are_deleted_completely(client, caplog):
    c = client
    note_text = "Retention-Note-7c1e"
    kept_study = await create_study(c, title="kept")
    study = await create_study(c, title="short-lived")
    sids = {}
    for s in (kept_study, study):
        live = await participant(c, s)
        await live.wait_results(5)
        await live.mark(0, "start")
        sids[s["id"]] = next(m["id"] for m in live.messages if m["type"] == "session")
        await live.close()
    await settled(client)
    db = c.app[keys.STUDIES].db
    await store.add_note(db, sids[study["id"]], 0.5, "2026-11-28T10:00:00.000Z", note_text)
    assert await store.count_rows(db, sids[study["id"]]) > 0

    def on_disk() -> bytes:
        path = c.url.split("///", 1)[1]
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))

    if db.is_sqlite:
        assert note_text.encode() in on_disk()
    caplog.set_level(logging.INFO, logger="server.studies.lifecycle")
    told = []  # what other code keeps of a session (e.g. files) is told to go too

    async def hook(ids):
        told.extend(ids)

    c.app[keys.STUDIES].on_deleted.append(hook)
    await patch(c, study["id"], {"retention_days": 2 / 86400})  # two seconds

    def logged() -> bool:
        return any("retention" in r.getMessage() and "deleted" in r.getMessage() for r in caplog.records)

    # the sweep deletes the rows, tells the hooks, reclaims the space and then logs: wait for the log
    # line (the end of the sweep), not just for the session to be gone, or the check races the sweep
    deadline = time.monotonic() + 20
    while not logged() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert logged()
    assert await store.get_session(db, sids[study["id"]]) is None  # the server's sweep deleted it
    assert told == [sids[study["id"]]]
    async with db.engine.connect() as conn:
        for table in (results, markers, notes, sessions):
            left = (await conn.execute(table.select().where(
                (table.c.session_id if table is not sessions else table.c.id) == sids[study["id"]]))).all()
            assert left == [], table.name
    if db.is_sqlite:
        assert note_text.encode() not in on_disk()
    assert await store.get_session(db, sids[kept_study["id"]]) is not None  # no retention: kept
    assert await lifecycle.sweep(c.app[keys.STUDIES]) == 0
    study_json = await (await c.get(f"/api/studies/{study['id']}", headers=AUTH)).json()
    assert study_json["sessions"] == [] and study_json["retention_days"] == pytest.approx(2 / 86400)
