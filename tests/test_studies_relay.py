"""Live events between replicas through a real PostgreSQL (LISTEN/NOTIFY): two hubs, each with its
relay on its own connection, as two ``python -m server`` processes have them; the payload limit,
bad payloads from someone else on the channel, and a connection killed by the database."""

import asyncio
import json
import logging
import time

import asyncpg
import pytest
import pytest_asyncio

from server import Settings
from server.studies import Studies, store
from server.studies.hub import LiveEvent, ResultHub, StudyResult
from server.studies.relay import CHANNEL, PAYLOAD_MAX, Pending, PgRelay, listen_dsn

from db_support import postgres_server  # noqa: F401  (fixture)


@pytest.fixture
def pg_url(postgres_server):  # noqa: F811
    return postgres_server.new_database()


class Watcher:
    def __init__(self, hub: ResultHub, study: str):
        self.events: list[LiveEvent] = []
        self._changed = asyncio.Event()
        hub.watch(study, self._on)

    def _on(self, event: LiveEvent):
        self.events.append(event)
        self._changed.set()

    async def wait(self, n: int, timeout: float = 10.0) -> list[LiveEvent]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            self._changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"{len(self.events)} events came, expected {n}: {[e.kind for e in self.events]}"
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self.events


@pytest_asyncio.fixture
async def pair(pg_url):
    """Two replicas' hubs, each with its relay (its own connection) on the database."""
    hubs = [ResultHub(), ResultHub()]
    relays = [PgRelay(h, pg_url, interval=0.02) for h in hubs]
    for r in relays:
        await r.start()
    yield hubs, relays
    for r in relays:
        await r.close()


@pytest_asyncio.fixture
async def admin(pg_url):
    """Someone else on the database: another client, an operator."""
    conn = await asyncpg.connect(listen_dsn(pg_url))
    yield conn
    await conn.close()


def result_message(i: int, faces: int = 1) -> dict:
    probs = {"angry": 0.01, "disgust": 0.0, "fear": 0.02, "happy": 0.9, "sad": 0.03, "surprise": 0.02,
             "neutral": 0.02}
    return {"type": "result", "faces": [{"id": k, "box": [10 * k, 20, 96, 96], "label": "happy", "probs": probs,
                                         "held": False} for k in range(faces)],
            "frame": i, "timestamp": i / 30, "utc": "2026-11-26T14:00:00.000Z", "width": 640, "height": 480}


@pytest.mark.asyncio
async def test_events_made_on_one_replica_reach_the_observers_of_the_other_once(pair):
    (a, b), relays = pair
    on_a, on_b, other_study_on_b = Watcher(a, "s1"), Watcher(b, "s1"), Watcher(b, "s2")
    a.emit(LiveEvent("s1", "p1", "started", {"started": 1.0}))
    for i in range(50):  # 50 sessions' results
        a.publish(StudyResult("s1", f"q{i}", 0, result_message(i)))
    for i in range(50, 60):  # one session's results faster than the relay sends: its newest goes
        a.publish(StudyResult("s1", "p1", 0, result_message(i)))
    a.emit(LiveEvent("s1", "p1", "marker", {"task": 0, "event": "start", "time_s": 1.5, "utc": "x"}))
    b.emit(LiveEvent("s1", "p1", "note", {"text": "frowns at the price", "time_s": 2.0, "utc": "y"}))

    got = await on_b.wait(54)
    from_a = [e for e in got if e.origin == a.replica]
    assert [e.kind for e in from_a] == ["started"] + ["result"] * 51 + ["marker"]
    assert [e.data["message"]["frame"] for e in from_a if e.kind == "result"] == list(range(50)) + [59]
    assert from_a[1].session_id == "q0" and from_a[1].data == {"task": 0, "message": result_message(0)}
    assert [e.kind for e in got if e.origin == b.replica] == ["note"]

    await on_a.wait(63)  # its own 62 (all of them: coalescing is the relay's), and the note from b
    await asyncio.sleep(0.3)  # nothing more: a's events do not come back to a, nor twice to b
    assert len(on_a.events) == 63 and len(on_b.events) == 54
    assert [e.data["text"] for e in on_a.events if e.kind == "note"] == ["frowns at the price"]
    assert other_study_on_b.events == []
    assert relays[0].sent == 53 and relays[1].received == 53 and relays[0].bad == relays[1].bad == 0


@pytest.mark.asyncio
async def test_events_bigger_than_a_notify_payload_arrive_whole(pair):
    (a, b), relays = pair
    on_b = Watcher(b, "s1")
    note = "😟" * 1995 + "顔が曇る。"  # 2000 characters (a note's most), 7995 bytes of UTF-8
    crowd = result_message(7, faces=100)  # 100 faces: about 19 kB of JSON, 3 payloads
    assert len(note.encode()) > PAYLOAD_MAX and len(json.dumps(crowd)) > 2 * PAYLOAD_MAX
    a.emit(LiveEvent("s1", "p1", "note", {"text": note, "time_s": 3.0, "utc": "z"}))
    a.publish(StudyResult("s1", "crowd", 1, crowd))
    for i in range(400):  # 400 sessions' results at once: many payloads in two statements, in order
        a.publish(StudyResult("s1", f"p{i}", 1, result_message(i, faces=3)))
    got = await on_b.wait(402)
    assert got[0].data["text"] == note
    assert got[1].data["message"] == crowd
    assert [e.data["message"]["frame"] for e in got[2:]] == list(range(400))
    assert relays[0].dropped == 0


@pytest.mark.asyncio
async def test_bad_payloads_on_the_channel_are_logged_and_ignored(pair, admin, caplog):
    (a, b), relays = pair
    on_b = Watcher(b, "s1")
    caplog.set_level(logging.WARNING, logger="server.studies.relay")
    for bad in ("not json {", "[1, 2]", '{"r": "x", "e": [{"study": "s1"}]}', '{"r": "x", "e": 5}',
                '{"r": "x", "f": "set", "i": 0, "n": 2, "d": "AAAA"}',  # a piece whose partner never comes
                '{"r": "x", "f": "one", "i": 0, "n": 1, "d": "not base64!"}'):
        await admin.execute("SELECT pg_notify($1, $2)", CHANNEL, bad)
    a.emit(LiveEvent("s1", "p1", "note", {"text": "still here", "time_s": 1.0, "utc": "u"}))
    got = await on_b.wait(1)
    await asyncio.sleep(0.3)
    assert [e.data["text"] for e in got] == ["still here"]
    assert relays[0].bad == relays[1].bad == 5  # the lone piece waits for its partner
    warnings = [r.getMessage() for r in caplog.records if r.name == "server.studies.relay"]
    # one line per replica, not one per payload
    assert len(warnings) == 2 and all("ignored a live relay payload" in w for w in warnings), warnings


@pytest.mark.asyncio
async def test_a_relay_whose_connection_is_killed_reconnects_and_loses_nothing_it_made(pair, admin, caplog):
    (a, b), relays = pair
    caplog.set_level(logging.INFO, logger="server.studies.relay")

    def logged(text):
        return [r for r in caplog.records if text in r.getMessage()]

    on_b = Watcher(b, "s1")
    a.emit(LiveEvent("s1", "p1", "started", {"started": 1.0}))
    await on_b.wait(1)
    # the database ends A's session (a failover, an operator, a restart of PostgreSQL)
    await admin.execute("SELECT pg_terminate_backend($1)", relays[0]._conn.get_server_pid())
    for i in range(20):  # made while A's connection is down or coming back: queued, then sent
        a.publish(StudyResult("s1", f"p{i}", 0, result_message(i)))
        await asyncio.sleep(0.01)
    got = await on_b.wait(21)
    assert [e.data["message"]["frame"] for e in got[1:]] == list(range(20))
    assert relays[0].connected and relays[0].dropped == 0
    assert len(logged("lost its database connection")) == 1 and len(logged("connected again")) == 1

    # B's listening session ends: B reconnects and hears A again (what A sent meanwhile is
    # not stored by PostgreSQL: an observer reconnecting gets a snapshot from the database)
    await admin.execute("SELECT pg_terminate_backend($1)", relays[1]._conn.get_server_pid())
    deadline = time.monotonic() + 10
    while not (len(logged("connected again")) == 2 and relays[1].connected):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        await asyncio.sleep(0.05)
    a.emit(LiveEvent("s1", "p1", "ended", {"ended": 2.0}))
    assert (await on_b.wait(22))[-1].kind == "ended"
    assert len(logged("lost its database connection")) == 2


@pytest.mark.asyncio
async def test_studies_relays_on_postgresql_only(pg_url, tmp_path):
    """``Studies.lifespan`` starts the relay on PostgreSQL: a session started on one replica is
    seen by an observer of the other; SQLite (one process) has none."""
    one = Studies(Settings(database=pg_url, admin_token="t" * 32))
    two = Studies(Settings(database=pg_url, admin_token="t" * 32))
    lives = [one.lifespan(None), two.lifespan(None)]
    for life in lives:
        await life.__anext__()
    try:
        assert one.relay is not None and two.relay is not None
        study = await store.create_study(one.db, "Checkout", "ok", ["Pay"])
        on_two = Watcher(two.hub, study["id"])
        participation = await one.join(study["participant_token"])
        await participation.mark(0, "start")
        await participation.end()
        got = await on_two.wait(4)
        assert [e.kind for e in got] == ["started", "check", "marker", "ended"]  # no camera check: failed
        assert {e.session_id for e in got} == {participation.session_id}
    finally:
        for life in lives:
            with pytest.raises(StopAsyncIteration):
                await life.__anext__()
    lone = Studies(Settings(database=f"sqlite:///{tmp_path / 'one.db'}", admin_token="t" * 32))
    life = lone.lifespan(None)
    await life.__anext__()
    assert lone.relay is None
    with pytest.raises(StopAsyncIteration):
        await life.__anext__()


def test_the_queue_keeps_order_coalesces_results_and_counts_what_it_drops():
    def ev(kind, session, n=0):
        return LiveEvent("s1", session, kind, {"n": n})

    q = Pending(limit=4)
    for e in (ev("started", "a"), ev("result", "a", 1), ev("marker", "a"), ev("result", "a", 2), ev("result", "b", 1)):
        q.put(e)
    taken = q.take(10)  # a's first result was replaced by its newer one, which moved after the marker
    assert [(e.kind, e.session_id, e.data["n"]) for e in taken] == [
        ("started", "a", 0), ("marker", "a", 0), ("result", "a", 2), ("result", "b", 1)]
    q.put(ev("result", "a", 3))  # made while the taken ones were being sent, which failed
    q.put_back(taken)  # they go first again, except a's older result
    assert [(e.kind, e.session_id, e.data["n"]) for e in q.take(10)] == [
        ("started", "a", 0), ("marker", "a", 0), ("result", "b", 1), ("result", "a", 3)]
    for i in range(6):
        q.put(ev("note", "a", i))
    assert [e.data["n"] for e in q.take(10)] == [2, 3, 4, 5] and q.dropped == 2
    q.put(ev("note", "a", 6))
    q.put_back([ev("note", "a", i) for i in range(2, 6)])  # the oldest go here too
    assert [e.data["n"] for e in q.take(10)] == [3, 4, 5, 6] and q.dropped == 3
