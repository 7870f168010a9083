"""Caps that keep one client from flooding a study or guessing the researcher token (on both databases):
wrong tokens per address, new sessions per participant link a minute, task markers per session, live
views per study. Loopback addresses (127.0.0.2, ...) stand for other clients."""

import asyncio
import json

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server import Settings, create_app, keys
from server.client import ObserverClient
from server.studies import store

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_abuse import from_address, real_offer
from test_server import StubAnalyzer
from test_studies import AUTH, STUDY, TOKEN, participant_token


@pytest_asyncio.fixture
async def limited(database_url):
    """A server whose caps are small: ``await limited(max_markers_per_session=3)``."""
    clients = []

    async def start(**caps):
        app = create_app(Settings(database=database_url, admin_token=TOKEN, **caps), analyzer=StubAnalyzer())
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def new_study(client) -> dict:
    resp = await client.post("/api/studies", json=STUDY, headers=AUTH)
    assert resp.status == 201
    return await resp.json()


async def replies(ws, *types):
    while True:
        msg = json.loads((await ws.receive(timeout=10)).data)
        if msg["type"] in types:
            return msg


@pytest.mark.asyncio
async def test_wrong_researcher_tokens_are_limited_per_address(limited):
    """600-1,000 guesses a second were answered; now 5 a minute from one address, then 429 (a right token too)."""
    client = await limited(max_token_failures=5)
    wrong = {"Authorization": "Bearer " + "x" * 40}
    for _ in range(5):
        assert (await client.get("/api/studies", headers=wrong)).status == 401
    resp = await client.get("/api/studies", headers=wrong)
    assert resp.status == 429 and 0 < int(resp.headers["Retry-After"]) <= 60
    assert "too many wrong researcher tokens from your address" in (await resp.json())["error"]
    assert (await client.get("/api/studies", headers=AUTH)).status == 429  # no answer for this address now
    login = await client.post("/login", data={"token": TOKEN, "next": "/studies"}, allow_redirects=False)
    assert login.status == 429
    assert (await client.get("/")).status == 200  # the rest of the app answers as ever
    async with from_address("127.0.0.2") as other:  # another address: the right token works, a wrong one is a 401
        assert (await other.get(client.make_url("/api/studies"), headers=AUTH)).status == 200
        for _ in range(5):
            form = await other.post(client.make_url("/login"), data={"token": "nope", "next": "/studies"},
                                    allow_redirects=False)
            assert form.status == 401
        assert (await other.post(client.make_url("/login"), data={"token": TOKEN},
                                 allow_redirects=False)).status == 429
    async with from_address("127.0.0.3") as third:
        async with third.get(client.make_url(f"/studies?token={TOKEN}"), allow_redirects=False) as r:
            assert r.status == 303  # the researcher URL printed at start logs in


@pytest.mark.asyncio
async def test_a_participant_link_takes_a_few_new_sessions_a_minute(limited):
    """3,000 sessions without media in 42 s from one link; now at most max_sessions_per_minute a minute."""
    client = await limited(max_sessions_per_minute=4, max_pending_offers_per_client=50, max_streams=50,
                           max_streams_per_client=50)
    study = await new_study(client)
    pc, sdp = await real_offer()
    outcomes = []
    for _ in range(7):
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "offer", "sdp": sdp, "study": participant_token(study), "consent": True})
        outcomes.append(await replies(ws, "session", "error"))
        await ws.close()
    assert [o["type"] for o in outcomes] == ["session"] * 4 + ["error"] * 3
    assert "too many participants started this study in the last minute (at most 4)" in outcomes[-1]["message"]
    db = client.server.app[keys.STUDIES].db
    assert len(await store.study_sessions(db, study["id"])) == 4
    other = await new_study(client)  # the cap is per link
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "offer", "sdp": sdp, "study": participant_token(other), "consent": True})
    assert (await replies(ws, "session", "error"))["type"] == "session"
    await ws.close()
    await pc.close()


@pytest.mark.asyncio
async def test_a_session_takes_a_bounded_number_of_task_markers(limited):
    """100,000 markers were stored from one participant; now max_markers_per_session, then an error (the
    socket and the stream stay up)."""
    client = await limited(max_markers_per_session=6)
    study = await new_study(client)
    pc, sdp = await real_offer()
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "offer", "sdp": sdp, "study": participant_token(study), "consent": True})
    session = (await replies(ws, "session"))["id"]
    answers = []
    for i in range(9):
        await ws.send_json({"type": "marker", "task": 0, "event": "start" if i % 2 == 0 else "end"})
        answers.append(await replies(ws, "marked", "error"))
    assert [a["type"] for a in answers] == ["marked"] * 6 + ["error"] * 3
    assert "this session has 6 task markers, the most one session takes" in answers[-1]["message"]
    await ws.send_json({"type": "ping", "t": 1})
    assert (await replies(ws, "pong"))["t"] == 1
    assert len(await store.session_markers(client.server.app[keys.STUDIES].db, session)) == 6
    await ws.close()
    await pc.close()


@pytest.mark.asyncio
async def test_a_study_takes_a_bounded_number_of_live_views(limited):
    """200 observers slowed a participant from 15 to 9.5 results/s; now max_observers_per_study, then 429."""
    client = await limited(max_observers_per_study=3)
    study, other = await new_study(client), await new_study(client)
    url = f"/api/studies/{study['id']}/live"
    views = [ObserverClient(await client.ws_connect(url, headers=AUTH)) for _ in range(3)]
    for v in views:
        await v.snapshot()
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await client.ws_connect(url, headers=AUTH)
    assert e.value.status == 429
    resp = await client.get(url, headers={**AUTH, "Connection": "Upgrade", "Upgrade": "websocket",
                                          "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZQ=="})
    assert resp.status == 429 and "this study has 3 live views open already" in (await resp.json())["error"]
    another = ObserverClient(await client.ws_connect(f"/api/studies/{other['id']}/live", headers=AUTH))
    await another.snapshot()  # the cap is per study
    await views.pop().close()
    for _ in range(50):  # a closed view frees its place
        try:
            views.append(ObserverClient(await client.ws_connect(url, headers=AUTH)))
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.05)
    await views[-1].snapshot()
    for v in views + [another]:
        await v.close()
