"""Studies against real databases (a SQLite file and a PostgreSQL server started for the tests):
the JSON API and its token, a participant's stream over real WebRTC stored row by row with
its task markers, exports, deletion, restarts and bad input."""

import asyncio
import csv
import io
import os

import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from ml.schema import COLUMNS
from server import Settings, create_app, keys
from server.client import FrameTrack, LiveClient
from server.studies import store
from server.studies.rows import EXPORT_COLUMNS
from server.storage.db import Database
from server.storage.models import metadata

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer

TOKEN = "researcher-token-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STUDY = {"title": "Checkout flow", "consent": "We record your expressions (not your video).",
         "tasks": ["Find a lamp", "Pay for it"]}


class CountingAnalyzer(StubAnalyzer):
    """One fixed face, but none on every third frame, and not found on every fifth (the tracker holds
    it): rows with and without a face, detected and held."""

    def __init__(self):
        self.n = 0

    def analyze(self, bgr, tracker=None, t=None):
        self.n += 1
        if self.n % 3 == 0:  # a result with no face (bypassing the tracker, which would hold the face)
            return []
        if self.n % 5 == 0 and tracker is not None:
            return tracker.update([], t)  # missed in this frame: held at its last box
        return super().analyze(bgr, tracker, t)


@pytest_asyncio.fixture
async def server(database_url):
    """The app on a real database; ``server.restart()`` stops it and starts a new one on the same database."""

    class Running:
        async def start(self):
            # (wrong tokens on purpose, many: the limit of guesses has its own test, test_study_limits.py)
            self.app = create_app(Settings(database=database_url, admin_token=TOKEN, max_token_failures=1000),
                                  analyzer=CountingAnalyzer())
            self.client = TestClient(TestServer(self.app))
            await self.client.start_server()
            return self

        async def restart(self):
            await self.client.close()
            return await self.start()

    running = await Running().start()
    running.url = database_url
    yield running
    await running.client.close()


async def create_study(client, **overrides) -> dict:
    resp = await client.post("/api/studies", json={**STUDY, **overrides}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def participant_token(study: dict) -> str:
    return study["participant_url"].rsplit("/", 1)[1]


async def participant(client, study, frames=None, **offer):
    ws = await client.ws_connect("/ws")
    live = LiveClient(ws)
    track = FrameTrack(frames or [np.full((96, 128, 3), 90, np.uint8)], fps=30)
    await live.start(track, **({"study": participant_token(study), "consent": True} | offer))
    return live


async def settled(server) -> None:
    """Wait until every participant's WebSocket close reached the server and the writer stored everything."""
    studies = server.app[keys.STUDIES]
    for _ in range(150):
        await asyncio.sleep(0.1)
        if not studies.live and not studies.writer.pending:
            break
    assert not studies.live and studies.writer.pending == 0


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_rows(results: list[dict]) -> int:
    return sum(max(1, len(r["faces"])) for r in results)


# ---------- the database ----------


@pytest.mark.asyncio
async def test_migrations_create_exactly_the_tables_of_the_models(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from server.storage.db import alembic_config

    first = Database(database_url)
    await first.open()
    await first.close()
    db = Database(database_url)
    await db.open()  # a second start on a migrated database changes nothing
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
            version = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        assert diff == [] and version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        await db.close()


@pytest.mark.asyncio
async def test_a_study_deleted_while_its_session_ends_waits_instead_of_deadlocking(database_url):
    """A session's row changed twice in one transaction (the second change checks the session's study, on
    PostgreSQL) while its study is deleted: the delete waits for that transaction and then deletes
    everything; neither is refused as a deadlock (which the server would take for an outage)."""
    import time

    from sqlalchemy import update

    from server.storage.models import sessions

    db = Database(database_url)
    await db.open()
    try:
        study = await store.create_study(db, "Shop", "ok", ["Browse"])
        sid = await store.create_session(db, study["id"])
        async with db.engine.connect() as conn:
            tx = await conn.begin()
            await conn.execute(update(sessions).where(sessions.c.id == sid).values(ended=time.time()))
            deleting = asyncio.ensure_future(store.delete_study(db, study["id"]))
            await asyncio.sleep(0.5)
            assert not deleting.done()  # it waits for the session's row
            await conn.execute(update(sessions).where(sessions.c.id == sid).values(status="completed"))
            await tx.commit()
        assert await asyncio.wait_for(deleting, 20) == [sid]
        assert await store.get_session(db, sid) is None and await store.get_study(db, study["id"]) is None
        # a session's end is one statement: ended kept once set, a withdrawn session stays withdrawn
        study = await store.create_study(db, "Shop", "ok", ["Browse"])
        sid = await store.create_session(db, study["id"])
        await store.end_session(db, sid, "incomplete", ended=100.0)
        await store.end_session(db, sid, "completed", ended=200.0)
        assert {k: (await store.get_session(db, sid))[k] for k in ("ended", "status")} == {
            "ended": 100.0, "status": "completed"}
        assert await store.withdraw_session(db, sid)
        await store.end_session(db, sid, "completed")
        assert (await store.get_session(db, sid))["status"] == "withdrawn"
    finally:
        await db.close()


# ---------- the researcher's API ----------


@pytest.mark.asyncio
async def test_api_contract_and_researcher_token(server):
    c = server.client
    created = await create_study(c)
    assert set(created) == {"id", "participant_url", "results_url"}
    assert created["results_url"].endswith(f"/studies/{created['id']}")
    assert len(participant_token(created)) >= 22 and participant_token(created) != created["id"]  # >= 128 bits

    listed = await (await c.get("/api/studies", headers=AUTH)).json()
    assert [s["id"] for s in listed] == [created["id"]] and listed[0]["sessions"] == 0
    study = await (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).json()
    assert study["title"] == STUDY["title"] and study["tasks"] == STUDY["tasks"] and study["sessions"] == []
    export = await c.get(f"/api/studies/{created['id']}/export.csv", headers=AUTH)
    assert export.status == 200 and "text/csv" in export.content_type
    assert (await export.text()).strip().split(",") == list(EXPORT_COLUMNS)  # no sessions: the header
    assert EXPORT_COLUMNS[:len(COLUMNS) + 2] == (*COLUMNS, "session", "task")  # the columns before issue 21 first

    # without the token, or with a wrong one: 401 and nothing about the study
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": TOKEN}, {"Cookie": "fer_researcher=" + TOKEN}):
        for method, path in (("GET", "/api/studies"), ("GET", f"/api/studies/{created['id']}"),
                             ("GET", f"/api/studies/{created['id']}/export.csv"),
                             ("DELETE", f"/api/studies/{created['id']}"), ("POST", "/api/studies")):
            resp = await c.request(method, path, headers=headers, json=STUDY)
            assert resp.status == 401, (method, path, headers)
            assert STUDY["title"] not in await resp.text()
    assert len(await (await c.get("/api/studies", headers=AUTH)).json()) == 1  # nothing created or deleted

    # unknown ids: 404
    for path in ("/api/studies/nope", "/api/sessions/nope", "/api/sessions/nope/export.csv",
                 "/api/sessions/nope/export.json"):
        assert (await c.get(path, headers=AUTH)).status == 404, path
    assert (await c.delete("/api/studies/nope", headers=AUTH)).status == 404

    assert (await c.delete(f"/api/studies/{created['id']}", headers=AUTH)).status == 204
    assert (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).status == 404
    assert await (await c.get("/api/studies", headers=AUTH)).json() == []


@pytest.mark.asyncio
async def test_bad_studies_are_refused_clearly_and_sql_looking_text_is_kept_as_text(server):
    c = server.client
    bad = [
        ({"consent": "c", "tasks": ["a"]}, '"title" must be a non-empty string'),
        ({**STUDY, "title": ""}, '"title" must be a non-empty string'),
        ({**STUDY, "title": "x" * 201}, '"title" is too long'),
        ({**STUDY, "consent": "x" * 20001}, '"consent" is too long'),
        ({**STUDY, "tasks": []}, '"tasks" must be a non-empty list'),
        ({**STUDY, "tasks": "a,b"}, '"tasks" must be a non-empty list'),
        ({**STUDY, "tasks": ["a", 3]}, "task 2 must be a non-empty string"),
        ({**STUDY, "tasks": ["t"] * 51}, "too many tasks"),
        ({**STUDY, "tasks": ["x" * 501]}, "task 1 is too long"),
        ({**STUDY, "feedback": "yes"}, '"feedback" must be true or false'),
        ({**STUDY, "admin": True}, "unknown field(s): admin"),
        ([1, 2], "a study is a JSON object"),
    ]
    for body, message in bad:
        resp = await c.post("/api/studies", json=body, headers=AUTH)
        assert resp.status == 400, body
        assert message in (await resp.json())["error"], (body, await resp.text())
    resp = await c.post("/api/studies", data=b"{not json", headers=AUTH)
    assert resp.status == 400 and "invalid study" in (await resp.json())["error"]
    resp = await c.post("/api/studies", data=b"x" * (300 * 1024), headers=AUTH)
    assert resp.status == 413
    assert await (await c.get("/api/studies", headers=AUTH)).json() == []  # nothing stored

    sql = "Robert'); DROP TABLE studies; --"
    created = await create_study(c, title=sql, consent="1' OR '1'='1", tasks=["\" OR 1=1 --", "; DELETE FROM results"])
    study = await (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).json()
    assert study["title"] == sql and study["consent"] == "1' OR '1'='1"
    assert study["tasks"] == ["\" OR 1=1 --", "; DELETE FROM results"]
    assert len(await (await c.get("/api/studies", headers=AUTH)).json()) == 1
    assert (await c.get("/healthz")).status == 200


# ---------- a participant's stream ----------


@pytest.mark.asyncio
async def test_participant_stream_is_stored_row_by_row_with_its_tasks(server):
    c = server.client
    created = await create_study(c)
    live = await participant(c, created)
    session_msg = next(m for m in live.messages if m["type"] == "session")
    assert session_msg["tasks"] == STUDY["tasks"] and session_msg["title"] == STUDY["title"]

    await live.wait_results(6)
    assert (await live.mark(0, "start"))["type"] == "marked"
    n0 = len(live.results)
    await live.wait_results(n0 + 12)
    assert (await live.mark(0, "end"))["type"] == "marked"
    assert (await live.mark(1, "start"))["type"] == "marked"
    n1 = len(live.results)
    await live.wait_results(n1 + 12)
    assert (await live.mark(1, "end"))["type"] == "marked"
    await live.close()

    await settled(server)
    study = await (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).json()
    [session] = study["sessions"]
    assert session["id"] == session_msg["id"] and session["ended"] and not session["live"]
    # every result the participant got is stored, in the app's one row schema (at most the one in flight more)
    assert len(live.results) <= session["frames"] <= len(live.results) + 1
    exported = csv_rows(await (await c.get(f"/api/sessions/{session['id']}/export.csv", headers=AUTH)).text())
    assert expected_rows(live.results) <= len(exported) <= expected_rows(live.results) + 1
    by_frame = {int(r["frame"]): r for r in exported}
    for result in live.results:
        row = by_frame[result["frame"]]
        assert row["utc"] == result["utc"] and row["session"] == session["id"]
        if result["faces"]:
            face = result["faces"][0]
            assert row["label"] == face["label"] == "happy" and float(row["happy"]) == face["probs"]["happy"]
            assert [int(row[k]) for k in "xywh"] == face["box"]
            assert row["source"] == face["source"] == ("held" if face["held"] else "detected")
        else:
            assert row["label"] == row["face"] == row["source"] == ""
    assert {r["source"] for r in exported} == {"detected", "held", ""}
    assert set(exported[0]) == set(EXPORT_COLUMNS) and {r["participant"] for r in exported} == {"1"}
    tasks = [r["task"] for r in exported]  # 1-based, as on the pages, with the task's title
    assert tasks.count("1") >= 12 and tasks.count("2") >= 12 and tasks[0] == ""  # before the first task
    assert {r["task_title"] for r in exported if r["task"]} == set(STUDY["tasks"])
    first_2 = tasks.index("2")
    assert "1" not in tasks[first_2:]  # task 1 ended before task 2 started
    assert {r["session_label"] for r in exported} == {"S1"}

    detail = await (await c.get(f"/api/sessions/{session['id']}", headers=AUTH)).json()
    assert [(m["task"], m["title"], m["event"]) for m in detail["markers"]] == [
        (1, "Find a lamp", "start"), (1, "Find a lamp", "end"), (2, "Pay for it", "start"), (2, "Pay for it", "end")]
    times = [m["time_s"] for m in detail["markers"]]
    assert times == sorted(times) and times[-1] > 0
    table = {t["task"]: t for t in detail["tasks"]}
    for i in (1, 2):
        assert table[i]["title"] == STUDY["tasks"][i - 1]
        assert table[i]["frames"] == tasks.count(str(i))
        assert 0 < table[i]["frames_with_face"] < table[i]["frames"]  # every third frame has no face
        assert table[i]["shares"]["happy"] == 1.0 and table[i]["mean_probs"]["happy"] == pytest.approx(0.94)
    assert len(detail["timeline"]) == session["frames"] == detail["frames"]
    # a held face (not found in its frame) is not a measurement: frames with the participant's face
    # count the detected ones only (docs/studies.md, "Definitions")
    detected = sum(1 for r in exported if r["source"] == "detected")
    assert session["shares"]["happy"] == 1.0 and session["frames_with_face"] == detected
    assert detected < sum(1 for r in exported if r["face"])
    assert session["status"] == "completed" and session["label"] == "S1"

    js = await (await c.get(f"/api/sessions/{session['id']}/export.json", headers=AUTH)).json()
    assert js["columns"] == list(EXPORT_COLUMNS) and len(js["rows"]) == len(exported)
    assert [r["source"] or "" for r in js["rows"]] == [r["source"] for r in exported]
    assert js["study"]["tasks"] == STUDY["tasks"] and len(js["markers"]) == 4
    whole = csv_rows(await (await c.get(f"/api/studies/{created['id']}/export.csv", headers=AUTH)).text())
    assert whole == exported


@pytest.mark.asyncio
async def test_refused_offers_and_bad_markers_store_nothing(server):
    c = server.client
    created = await create_study(c)
    token = participant_token(created)
    ws = await c.ws_connect("/ws")
    live = LiveClient(ws)
    track = FrameTrack([np.full((96, 128, 3), 90, np.uint8)])

    refusals = [
        ({"study": "x" * 43, "consent": True}, "unknown study"),
        ({"study": token}, '"consent": true'),
        ({"study": token, "consent": False}, '"consent": true'),
        ({"study": token, "consent": "yes"}, '"consent": true'),
        ({"study": 42, "consent": True}, '"study" must be the token'),
        ({"study": "x" * 500, "consent": True}, '"study" must be the token'),
        ({"study": "' OR 1=1 --", "consent": True}, "unknown study"),
    ]
    for fields, message in refusals:
        with pytest.raises(RuntimeError, match=message if message[0] != '"' else None) as e:
            await live.start(track, **fields)
        assert message in str(e.value)
        await live.pc.close()
    assert not any(m["type"] in ("answer", "session", "result") for m in live.messages)
    assert not server.app[keys.LIVE_SESSIONS]

    # markers: not in a study, malformed, out of range
    bad_markers = [
        ({"task": 0, "event": "start"}, "markers belong to a study session"),
    ]
    for fields, message in bad_markers:
        reply = await live.mark(fields["task"], fields["event"])
        assert reply["type"] == "error" and message in reply["message"]
    await live.start(track, study=token, consent=True)
    await live.wait_results(3)
    for task, event, message in [("0", "start", 'as an integer in "task"'), (True, "start", "as an integer"),
                                 (None, "start", "as an integer"), (0, "middle", '"start" or "end"'),
                                 (0, None, '"start" or "end"'), (2, "start", "task 2 is out of range"),
                                 (-1, "start", "task -1 is out of range"), (10**30, "start", "out of range"),
                                 (1, "end", "task 1 is not running")]:
        reply = await live.mark(task, event)
        assert reply["type"] == "error" and message in reply["message"], (task, event, reply)
    assert (await live.mark(0, "start"))["type"] == "marked"  # still usable after the errors
    await live.close()
    await settled(server)

    study = await (await c.get(f"/api/studies/{created['id']}", headers=AUTH)).json()
    assert len(study["sessions"]) == 1  # only the accepted offer made a session
    detail = await (await c.get(f"/api/sessions/{study['sessions'][0]['id']}", headers=AUTH)).json()
    assert [(m["task"], m["event"]) for m in detail["markers"]] == [(1, "start")]  # 1-based in the API
    assert (await c.get("/healthz")).status == 200


# ---------- deletion ----------


@pytest.mark.asyncio
async def test_deleting_a_session_or_study_leaves_nothing(server):
    c = server.client
    marker = "Zebra-Study-9f3b1c"
    created = await create_study(c, title=marker, consent=marker, tasks=[marker])
    sessions = []
    for _ in range(2):
        live = await participant(c, created)
        await live.wait_results(5)
        await live.mark(0, "start")
        sessions.append(next(m for m in live.messages if m["type"] == "session")["id"])
        await live.close()
    await settled(server)
    db = server.app[keys.STUDIES].db
    assert [await store.count_rows(db, s) > 0 for s in sessions] == [True, True]

    def on_disk() -> bytes:
        path = server.url.split("///", 1)[1]
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))

    if db.is_sqlite:
        assert marker.encode() in on_disk() and sessions[1].encode() in on_disk()  # what must go

    # the participant deletes their own session (withdraws): the study's token and the session id
    token = participant_token(created)
    assert (await c.delete(f"/api/participant/wrong-token/sessions/{sessions[0]}")).status == 404
    assert (await c.delete(f"/api/participant/{token}/sessions/{sessions[0]}")).status == 204
    assert (await c.delete(f"/api/participant/{token}/sessions/{sessions[0]}")).status == 404
    assert await store.count_rows(db, sessions[0]) == 0 and await store.session_markers(db, sessions[0]) == []
    gone = await (await c.get(f"/api/sessions/{sessions[0]}", headers=AUTH)).json()
    assert gone["status"] == "withdrawn" and gone["frames"] == 0 and gone["markers"] == [] and gone["timeline"] == []
    assert await store.count_rows(db, sessions[1]) > 0
    assert (await c.delete(f"/api/sessions/{sessions[0]}", headers=AUTH)).status == 204  # the researcher: all of it
    assert (await c.get(f"/api/sessions/{sessions[0]}", headers=AUTH)).status == 404

    assert (await c.delete(f"/api/studies/{created['id']}", headers=AUTH)).status == 204
    assert await store.count_rows(db, sessions[1]) == 0 and await store.get_session(db, sessions[1]) is None
    async with db.engine.connect() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name == "meta":  # the database's own id (screen recordings' folder), nothing of a study
                assert [r.name for r in await conn.execute(table.select())] == ["database_id"]
                continue
            assert (await conn.execute(table.select())).all() == [], table.name
    if db.is_sqlite:  # nothing left on disk either: secure_delete zeroed the pages, the WAL is emptied
        assert marker.encode() not in on_disk() and sessions[1].encode() not in on_disk()


# ---------- restarts ----------


@pytest.mark.asyncio
async def test_a_restart_keeps_every_stored_row(server):
    created = await create_study(server.client)
    live = await participant(server.client, created)
    await live.wait_results(10)
    await live.mark(0, "start")
    await live.close()
    await settled(server)
    before = await (await server.client.get(f"/api/studies/{created['id']}/export.csv", headers=AUTH)).text()
    assert len(csv_rows(before)) >= expected_rows(live.results)

    await server.restart()
    after = await (await server.client.get(f"/api/studies/{created['id']}/export.csv", headers=AUTH)).text()
    assert after == before
    study = await (await server.client.get(f"/api/studies/{created['id']}", headers=AUTH)).json()
    assert len(study["sessions"]) == 1 and study["sessions"][0]["frames"] >= len(live.results)


def test_settings_take_the_database_and_token_from_flags_or_environment():
    s = Settings.from_args([], env={})
    assert s.database == "sqlite:///data/fer.db" and s.admin_token is None
    s = Settings.from_args([], env={"FER_DATABASE": "postgresql://u@h/db", "FER_ADMIN_TOKEN": "t" * 20})
    assert s.database == "postgresql://u@h/db" and s.admin_token == "t" * 20
    s = Settings.from_args(["--database", "sqlite:///x.db", "--admin-token", "f" * 16], env={"FER_DATABASE": "y"})
    assert s.database == "sqlite:///x.db" and s.admin_token == "f" * 16
    with pytest.raises(SystemExit):
        Settings.from_args(["--admin-token", "short"], env={})


def test_unusable_database_urls_are_clear_errors(tmp_path):
    from server.storage.db import DatabaseError, async_url

    assert async_url(f"sqlite:///{tmp_path}/a/b.db") == f"sqlite+aiosqlite:///{tmp_path}/a/b.db"
    assert (tmp_path / "a").is_dir()  # the folder is made
    assert async_url("postgresql://u:p@h:5/db") == "postgresql+asyncpg://u:p@h:5/db"
    for url, message in (("mysql://u@h/db", "unsupported database 'mysql'"), ("not a url", "not a database URL"),
                         ("sqlite://", "in-memory"), ("sqlite:///:memory:", "in-memory")):
        with pytest.raises(DatabaseError, match=message):
            async_url(url)
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "server", "--database", "mysql://u@h/db"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "error: --database: unsupported database 'mysql'" in proc.stderr


@pytest.mark.asyncio
async def test_migration_0004_marks_earlier_rows_and_sessions(database_url):
    """Rows stored before revision 0004_i21: in a frame with several faces the first (largest) becomes
    the participant's, the others someone else's; ended sessions get completed or incomplete."""
    import sqlalchemy as sa
    from alembic import command

    from server.storage.db import alembic_config, async_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(async_url(database_url))

    def upgrade(connection, revision):
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0003")
        await conn.execute(sa.text("INSERT INTO studies (id, participant_token, title, consent, tasks, feedback, created) "
                                   "VALUES ('st', 'tok', 'T', 'C', :tasks, true, 1.0)"), {"tasks": '["a", "b"]'})
        for sid, ended in (("done", 5.0), ("left", 5.0), ("running", None)):
            await conn.execute(sa.text("INSERT INTO sessions (id, study_id, started, ended, frames) "
                                       "VALUES (:id, 'st', 1.0, :ended, 2)"), {"id": sid, "ended": ended})
        await conn.execute(sa.text("INSERT INTO markers (session_id, task, event, time_s, utc) VALUES "
                                   "('done', 1, 'end', 1.0, ''), ('left', 0, 'end', 1.0, '')"))
        rows = [("done", 1, 0.0, 1), ("done", 1, 0.0, 2), ("done", 2, 0.1, 2), ("done", 3, 0.2, None)]
        for sid, frame, t, face in rows:
            await conn.execute(sa.text("INSERT INTO results (session_id, frame, time_s, face) VALUES (:s, :f, :t, :face)"),
                               {"s": sid, "f": frame, "t": t, "face": face})
        await conn.run_sync(upgrade, "head")
        got = [tuple(r) for r in await conn.execute(sa.text("SELECT frame, face, participant FROM results ORDER BY id"))]
        statuses = dict(tuple(r) for r in await conn.execute(sa.text("SELECT id, status FROM sessions")))
    await engine.dispose()
    assert [(f, face, bool(p)) for f, face, p in got] == [(1, 1, True), (1, 2, False), (2, 2, True), (3, None, True)]
    assert statuses == {"done": "completed", "left": "incomplete", "running": None}
