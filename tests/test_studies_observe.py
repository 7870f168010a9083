"""The researcher's live view (``/api/studies/{id}/live``) against the real app on real databases:
a participant streaming over real WebRTC is seen by several observers (snapshot, then events),
notes are stored, broadcast and exported, bad input gets an error, the token is required,
and an observer that does not read slows nobody."""

import asyncio
import csv
import io
import json
import socket
import time

import pytest

from server import keys
from server.client import ObserverClient
from server.studies.hub import LiveEvent
from server.studies.observe import SEND_TIMEOUT_S, Outbox

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_studies import AUTH, TOKEN, create_study, participant, server  # noqa: F401  (fixtures)


async def observer(client, study_id: str) -> ObserverClient:
    return ObserverClient(await client.ws_connect(f"/api/studies/{study_id}/live", headers=AUTH))


async def watching(c):
    """A new study and an observer of it that has its snapshot."""
    study = await create_study(c)
    o = await observer(c, study["id"])
    await o.snapshot()
    return study, o


def session_id(live) -> str:
    return next(m["id"] for m in live.messages if m["type"] == "session")


def kind(k, session=None):
    return lambda e: e["kind"] == k and (session is None or e["session"] == session)


@pytest.mark.asyncio
async def test_observers_see_a_participant_live_and_share_notes(server):
    c = server.client
    study = await create_study(c)
    first = await observer(c, study["id"])
    snap = await first.snapshot()
    assert snap == {"type": "snapshot", "study": study["id"], "tasks": ["Find a lamp", "Pay for it"], "sessions": []}

    live = await participant(c, study)
    sid = session_id(live)
    started = await first.wait_event(kind("started", sid))
    assert started["study"] == study["id"] and started["data"]["started"] <= time.time()
    await live.mark(0, "start")
    marker = await first.wait_event(kind("marker", sid))
    assert (marker["data"]["task"], marker["data"]["event"]) == (0, "start")
    await live.wait_results(10)
    result = await first.wait_event(kind("result", sid))
    message = result["data"]["message"]
    assert message["type"] == "result" and {"timestamp", "utc", "frame", "faces"} <= set(message)
    # results only, never video (and the camera check's outcome: failed here, a task started without it)
    assert {e["kind"] for e in first.events} <= {"started", "marker", "result", "check"}
    # the observer is at most a second behind the participant: the frame it saw was just sent to the participant
    sent = [r["frame"] for r in live.results]
    assert message["frame"] in sent

    second = await observer(c, study["id"])  # joins mid-task: the snapshot has the session, its task and its last result
    snap = await second.snapshot()
    [s] = snap["sessions"]
    assert s["id"] == sid and s["task"] == 0 and abs(s["task_started"] - marker["at"]) < 1.0
    assert s["last"]["type"] == "result" and s["last"]["frame"] in [r["frame"] for r in live.results]
    await second.wait_event(kind("result", sid))  # and the events that follow

    await live.wait_results(len(live.results) + 5)
    before = live.results[-1]["timestamp"]
    await second.note(sid, "  looked away from the screen  ")
    for o in (first, second):  # every observer gets it, the one that wrote it too
        note = await o.wait_event(kind("note", sid))
        assert note["data"]["text"] == "looked away from the screen"
    assert abs(note["data"]["time_s"] - before) < 1.5  # on the stream's clock, now

    await live.close()
    ended = await first.wait_event(kind("ended", sid))
    assert ended["data"]["ended"] >= started["data"]["started"]
    assert (await (await observer(c, study["id"])).snapshot())["sessions"] == []

    # stored, and exported with the session
    exported = await (await c.get(f"/api/sessions/{sid}/export.json", headers=AUTH)).json()
    assert exported["notes"] == [{"time_s": note["data"]["time_s"], "utc": note["data"]["utc"],
                                  "text": "looked away from the screen"}]
    shown = await (await c.get(f"/api/sessions/{sid}", headers=AUTH)).json()
    assert shown["notes"] == exported["notes"]
    for path in (f"/api/sessions/{sid}/notes.csv", f"/api/studies/{study['id']}/notes.csv"):
        resp = await c.get(path, headers=AUTH)
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert rows == [{"session": sid, "time_s": f"{note['data']['time_s']:.3f}", "utc": note["data"]["utc"],
                         "text": "looked away from the screen", "session_label": "S1"}]
    assert (await c.get(f"/api/sessions/{sid}/notes.csv")).status == 401
    await first.close()
    await second.close()

    # deleting the session deletes its notes
    assert (await c.delete(f"/api/sessions/{sid}", headers=AUTH)).status == 204
    rows = list(csv.DictReader(io.StringIO(await (await c.get(f"/api/studies/{study['id']}/notes.csv",
                                                                headers=AUTH)).text())))
    assert rows == []


@pytest.mark.asyncio
async def test_the_live_view_needs_the_researcher_token(server):
    c = server.client
    study = await create_study(c)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
        resp = await c.get(f"/api/studies/{study['id']}/live", headers={
            **headers, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert resp.status == 401, headers
    resp = await c.get("/api/studies/no-such-study/live", headers={**AUTH, "Connection": "Upgrade",
                                                                   "Upgrade": "websocket"})
    assert resp.status == 404
    resp = await c.get(f"/api/studies/{study['id']}/live", headers={**AUTH, "Origin": "https://elsewhere.example",
                                                                    "Connection": "Upgrade", "Upgrade": "websocket"})
    assert resp.status == 403
    # the page's way: the login cookie
    await c.post("/login", data={"token": TOKEN, "next": "/studies"}, allow_redirects=False)
    ws = await c.ws_connect(f"/api/studies/{study['id']}/live")
    assert (await ObserverClient(ws).snapshot())["study"] == study["id"]
    await ws.close()


@pytest.mark.asyncio
async def test_bad_notes_get_an_error_and_the_socket_stays_open(server):
    c = server.client
    study = await create_study(c)
    other = await create_study(c, title="Another")
    live = await participant(c, study)
    sid = session_id(live)
    elsewhere = await participant(c, other)
    other_sid = session_id(elsewhere)
    o = await observer(c, study["id"])
    await o.snapshot()
    bad = [
        ("not json", "not JSON"),
        (json.dumps([1, 2]), "unknown message"),
        (json.dumps({"type": "marker"}), "unknown message"),
        (json.dumps({"type": "note", "session": sid}), '"text"'),
        (json.dumps({"type": "note", "session": sid, "text": "   "}), '"text"'),
        (json.dumps({"type": "note", "session": sid, "text": 5}), '"text"'),
        (json.dumps({"type": "note", "session": sid, "text": "x" * 2001}), "too long (2001 characters"),
        (json.dumps({"type": "note", "session": sid, "text": "a\x00b"}), "NUL"),
        (json.dumps({"type": "note", "session": 7, "text": "hi"}), '"session"'),
        (json.dumps({"type": "note", "session": "nope", "text": "hi"}), "no such session"),
        (json.dumps({"type": "note", "session": other_sid, "text": "hi"}), "no such session"),
    ]
    for i, (text, expected) in enumerate(bad):
        await o.ws.send_str(text)
        assert expected in await o.wait_error(i), text
    await elsewhere.close()
    await live.close()
    await o.wait_event(kind("ended", sid))
    await o.note(sid, "too late")
    assert "has ended" in await o.wait_error(len(bad))
    # nothing of the above was stored; the socket still takes a good note
    live = await participant(c, study)
    sid = session_id(live)
    await o.note(sid, "x" * 2000)
    assert len((await o.wait_event(kind("note", sid)))["data"]["text"]) == 2000
    # 2000 emoji: stored whole; the event (which a relay between replicas carries) has its start
    await o.note(sid, "😀" * 2000)
    event = await o.wait_event(lambda e: kind("note", sid)(e) and e["data"]["text"].startswith("😀"))
    assert event["data"]["truncated"] is True and len(json.dumps(event)) < 8000
    rows = list(csv.DictReader(io.StringIO(await (await c.get(f"/api/studies/{study['id']}/notes.csv",
                                                                headers=AUTH)).text())))
    assert [(r["session"], len(r["text"])) for r in rows] == [(sid, 2000), (sid, 2000)]
    assert rows[1]["text"] == "😀" * 2000
    await live.close()
    await o.close()


async def stalled_observer(port: int, study_id: str):
    """An observer that completes the handshake and then never reads (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write((f"GET /api/studies/{study_id}/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Authorization: Bearer {TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    return reader, writer


@pytest.mark.asyncio
async def test_an_observer_that_does_not_read_slows_nobody(server):
    c = server.client
    study = await create_study(c)
    stalled_reader, stalled = await stalled_observer(c.server.port, study["id"])
    fast = await observer(c, study["id"])
    await fast.snapshot()
    live = await participant(c, study)
    sid = session_id(live)
    await live.wait_results(5)

    # a flood of large results from 3 sessions, far more than the socket buffers hold (100 MB)
    hub = server.app[keys.STUDIES].hub
    payload = {"type": "result", "faces": [], "frame": 0, "timestamp": 0.0, "padding": "x" * 100_000}
    t0 = time.perf_counter()
    flood = 1000
    for i in range(flood):
        hub.emit(LiveEvent(study["id"], f"flood-{i % 3}", "result", {"task": None, "message": {**payload, "frame": i}}))
        if i % 10 == 0:
            await asyncio.sleep(0)  # the streams and the observers' senders run between the events
    emit_s = time.perf_counter() - t0
    assert emit_s < 3.0, f"emitting 1000 events to a stalled observer took {emit_s:.2f} s"
    # the fast observer gets each flood session's newest result (older ones may be coalesced) ...
    for k in range(3):
        last = max(i for i in range(flood) if i % 3 == k)
        await fast.wait_event(lambda e: e["session"] == f"flood-{k}" and e["data"]["message"]["frame"] == last,
                              timeout=20)
    # ... and keeps getting the participant's, at most a second behind
    n = len(fast.events)
    before = len(live.results)
    await live.wait_results(before + 15)
    seen = await fast.wait_event(lambda e: e["kind"] == "result" and e["session"] == sid
                                 and e["data"]["message"]["frame"] >= live.results[before + 10]["frame"], start=n)
    arrived = fast.arrivals[fast.events.index(seen)]
    sent = live.arrivals[[r["frame"] for r in live.results].index(seen["data"]["message"]["frame"])]
    assert arrived - sent < 1.0
    resp = await c.get("/healthz")  # the server answers everyone else
    assert resp.status == 200

    # the stalled observer is cut off once a message waits 10 s for it; the others stay
    observers = server.app[keys.OBSERVERS]
    assert len(observers) == 2
    t0 = time.monotonic()
    while len(observers) > 1 and time.monotonic() - t0 < SEND_TIMEOUT_S + 8:
        await asyncio.sleep(0.2)
    assert len(observers) == 1 and time.monotonic() - t0 < SEND_TIMEOUT_S + 8

    async def drain():
        while await stalled_reader.read(1 << 16):
            pass
    await asyncio.wait_for(drain(), 10)  # what it had, then the end of the connection
    hub.emit(LiveEvent(study["id"], sid, "marker", {"task": 1, "event": "start", "time_s": 1.0, "utc": ""}))
    await fast.wait_event(lambda e: e["kind"] == "marker", start=n)
    stalled.close()
    await live.close()
    await fast.close()


def test_outbox_keeps_order_coalesces_results_and_overflows():
    async def run():
        box = Outbox(limit=3)

        def ev(session, k, n=0):
            return LiveEvent("s", session, k, {"n": n})

        box.put(ev("a", "result", 1))
        box.put(ev("a", "marker"))
        box.put(ev("b", "result", 1))
        box.put(ev("a", "result", 2))  # replaces a's waiting result, now after the marker
        got = await box.take()
        assert [(e.session_id, e.kind, e.data["n"]) for e in got] == [("a", "marker", 0), ("b", "result", 1),
                                                                      ("a", "result", 2)]
        assert box.coalesced == 1 and not box.overflowed
        for _ in range(4):
            box.put(ev("a", "note"))
        assert box.overflowed and len(await box.take()) == 3

    asyncio.run(run())


@pytest.mark.asyncio
async def test_observers_are_told_when_the_server_stops(server):
    c = server.client
    _, o = await watching(c)
    t0 = time.monotonic()
    await c.server.close()  # the app shuts down
    assert await o.wait_closed() == 1001 and time.monotonic() - t0 < 5


@pytest.mark.asyncio
async def test_a_live_session_deleted_ends_for_its_observers(server):
    c = server.client
    study, o = await watching(c)
    live = await participant(c, study)
    sid = session_id(live)
    await o.wait_event(kind("result", sid))
    assert (await c.delete(f"/api/sessions/{sid}", headers=AUTH)).status == 204
    ended = await o.wait_event(kind("ended", sid))
    assert ended["data"]["deleted"] is True
    assert (await (await observer(c, study["id"])).snapshot())["sessions"] == []
    await live.close()
    await o.close()
