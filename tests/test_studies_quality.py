"""Study data a researcher can publish, on SQLite and PostgreSQL, with participants streaming over real
WebRTC: the participant's face only (a second, larger person entering the picture during a task is
"someone else in view", never in the participant's figures); one set of figures on every page and in
every export (the consistency test); session status (completed, incomplete, withdrawn), data-quality
flags, and the comparison of completed sessions by default."""

import asyncio
import csv
import io
import json
import zipfile
from types import SimpleNamespace

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

import ml
from server import Settings, create_app, keys
from server.studies import definitions, store

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer
from test_studies import AUTH, TOKEN, create_study, participant, settled

CLASSES = list(ml.CLASSES)
OTHER_FROM_S = 3.2  # stream time when the second person walks in
PARTICIPANT_BOX, OTHER_BOX = (6, 30, 40, 40), (64, 8, 54, 54)  # the other face is the larger one


class TwoPeopleAnalyzer(StubAnalyzer):
    """The participant alone (never angry; expression changing every frame; after the first 2.6 s, no
    face on every seventh frame, and missed on every fifth: the tracker holds it), then from
    ``OTHER_FROM_S`` another, larger face beside them, angry at 0.9 (missed on every fourth frame: held)."""

    def __init__(self):
        self.n = 0

    def analyze(self, bgr, tracker=None, t=None):
        self.n += 1
        if self.n % 7 == 0 and (t or 0) > 2.6:  # the participant not found (bypassing the tracker's hold)
            return []
        weights = [0] + [1 + ((self.n * (k + 3)) % 11) for k in range(len(CLASSES) - 1)]
        probs = {c: w / sum(weights) for c, w in zip(CLASSES, weights)}
        faces = [{"box": PARTICIPANT_BOX, "label": max(probs, key=probs.get), "probs": probs, "brightness": 120.0}]
        if self.n % 5 == 0 and (t or 0) > 2.6:  # the participant missed: held by the tracker, not measured
            faces = []
        if t is not None and t >= OTHER_FROM_S and self.n % 4:
            other = {c: 0.1 / 6 for c in CLASSES}
            other["angry"] = 0.9
            faces.append({"box": OTHER_BOX, "label": "angry", "probs": other, "brightness": 95.0})
        return tracker.update(faces, t) if tracker is not None else faces


@pytest_asyncio.fixture
async def client(database_url):
    app = create_app(Settings(database=database_url, admin_token=TOKEN), analyzer=TwoPeopleAnalyzer())
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


async def until(live, predicate, timeout=30.0):
    """Wait for results until ``predicate(results)``; TimeoutError after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate(live.results):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"not there after {timeout} s: {live.results[-1:]}")
        await live.wait_results(len(live.results) + 1, timeout=left)


async def get_json(c, path):
    resp = await c.get(path, headers=AUTH)
    assert resp.status == 200, (path, await resp.text())
    return await resp.json()


async def get_text(c, path):
    resp = await c.get(path, headers=AUTH)
    assert resp.status == 200, (path, await resp.text())
    return await resp.text()


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def figures_from_rows(rows, task=None):
    """The glossary's definitions, computed here again from an export's rows (participant-only CSV): of
    the whole session, or of the rows of one ``task`` (a frame lasts until the session's next frame).
    A held row (the face not found in its frame) is a frame without the face."""
    duration = []
    for a, b in zip(rows, rows[1:] + [None]):
        gap = 0.0 if b is None else float(b["time_s"]) - float(a["time_s"])
        duration.append(min(1.0, gap) if gap > 0 else 0.0)
    if task is not None:
        duration = [d for r, d in zip(rows, duration) if r["task"] == task]
        rows = [r for r in rows if r["task"] == task]
    n = len(rows)
    faces = [r for r in rows if r["face"] and r["source"] != "held"]
    face_s = sum(d for r, d in zip(rows, duration) if r["face"] and r["source"] != "held")
    return {"frames": n, "frames_with_face": len(faces), "face_s": face_s, "seconds": sum(duration),
            "shares": {c: sum(r["label"] == c for r in faces) / len(faces) if faces else 0.0 for c in CLASSES},
            "mean_probs": {c: sum(float(r[c]) for r in faces) / len(faces) if faces else 0.0 for c in CLASSES}}


def same_figures(a, b, keys=("frames", "frames_with_face", "face_share", "seconds", "face_s", "median_face_px",
                               "brightness", "other_s", "other_faces")):
    for k in keys:
        if k in a and k in b:
            assert float(a[k] or 0) == pytest.approx(float(b[k] or 0), abs=2e-3), k
    for k in ("shares", "mean_probs"):
        for c in CLASSES:
            assert float(a[k][c]) == pytest.approx(float(b[k][c]), abs=2e-4), (k, c)


def csv_figures(row: dict) -> dict:
    """A sessions.csv or compare.csv row as figures."""
    out = {k: row[k] for k in ("frames", "frames_with_face", "face_share", "seconds", "face_s", "median_face_px",
                               "brightness", "other_s", "other_faces") if k in row}
    out["shares"] = {c: row[f"share_{c}"] for c in CLASSES}
    out["mean_probs"] = {c: row[f"prob_{c}"] for c in CLASSES}
    return out


@pytest.mark.asyncio
async def test_participant_only_and_the_same_figures_everywhere(client):
    c = client
    study = await create_study(c, tasks=["Browse", "Buy"], quality={"min_face_px": 20, "max_other_s": 1.0})
    live = await participant(c, study)
    sid = next(m["id"] for m in live.messages if m["type"] == "session")

    # the camera check: the participant alone, held 2 s -> passed (the check's status rides on each result)
    await until(live, lambda rs: any((r.get("check") or {}).get("state") == "passed" for r in rs))
    checks = [r["check"] for r in live.results if "check" in r]
    assert checks[0]["state"] in ("checking", "holding") and checks[-1]["state"] == "passed"
    assert all(r["faces"][0]["participant"] for r in live.results if r["faces"])
    assert (await live.mark(0, "start"))["type"] == "marked"
    await until(live, lambda rs: rs[-1]["timestamp"] >= OTHER_FROM_S + 1.5)  # the other person walked in
    assert (await live.mark(0, "end"))["type"] == "marked"
    assert (await live.mark(1, "start"))["type"] == "marked"
    await live.wait_results(len(live.results) + 20)
    assert (await live.mark(1, "end"))["type"] == "marked"
    await live.close()
    await settled(SimpleNamespace(app=c.app))

    # what the participant's page got: both faces, the other one marked as someone else
    both = [r for r in live.results if len(r["faces"]) == 2]
    assert both and all([f["participant"] for f in r["faces"]].count(True) == 1 for r in both)
    assert all(next(f for f in r["faces"] if f["participant"])["box"] == list(PARTICIPANT_BOX) for r in both)

    # the participant-only export: one row per analysed frame, the participant's face only
    rows = rows_of(await get_text(c, f"/api/sessions/{sid}/export.csv"))
    assert {r["participant"] for r in rows} == {"1"} and all(r["label"] != "angry" for r in rows)
    assert {r["face"] for r in rows if r["face"]} == {rows[next(i for i, r in enumerate(rows) if r["face"])]["face"]}
    frames = [int(r["frame"]) for r in rows]
    assert len(frames) == len(set(frames))  # one row per frame: no zigzag between two faces
    everyone = rows_of(await get_text(c, f"/api/sessions/{sid}/export.csv?faces=all"))
    others = [r for r in everyone if r["participant"] == "0"]
    assert others and {r["label"] for r in others} == {"angry"} and len(everyone) == len(rows) + len(others)
    assert (await c.get(f"/api/sessions/{sid}/export.csv?faces=some", headers=AUTH)).status == 400

    # the rows say which faces were found and which only held (the participant's and the other's)
    assert {r["source"] for r in rows} == {"detected", "held", ""}
    assert {r["source"] for r in others} == {"detected", "held"}
    assert all(r["brightness"] == "" for r in everyone if r["source"] == "held")  # not measured
    # the figures, from the glossary's definitions applied to the exported rows
    expected = figures_from_rows(rows)
    assert expected["frames_with_face"] < sum(1 for r in rows if r["face"])  # held rows are not counted
    detail = await get_json(c, f"/api/sessions/{sid}")
    same_figures(detail, expected)
    assert detail["status"] == "completed" and detail["check"] == "passed" and 2.0 <= detail["check_s"] < OTHER_FROM_S
    assert detail["frames"] == len(live.results) or detail["frames"] == len(live.results) + 1
    assert detail["other_faces"] == 1 and detail["other_s"] > 1.0 and detail["other_s"] < detail["seconds"]
    # someone else in view: the frames in which the other face was found (not those where it was only held)
    durations = [min(1.0, max(0.0, float(b["time_s"]) - float(a["time_s"]))) for a, b in zip(rows, rows[1:])] + [0.0]
    found_other = {r["frame"] for r in others if r["source"] != "held"}
    held_other = {r["frame"] for r in others if r["source"] == "held"}
    assert detail["other_s"] == pytest.approx(sum(d for r, d in zip(rows, durations) if r["frame"] in found_other),
                                              abs=2e-3)
    assert held_other and not held_other & found_other
    assert detail["median_face_px"] == PARTICIPANT_BOX[2] and detail["brightness"] == 120.0
    assert [f["figure"] for f in detail["flags"]] == ["other_s"]  # someone else in view longer than 1 s
    length = float(rows[-1]["time_s"]) - float(rows[0]["time_s"])
    assert detail["face_s"] < detail["seconds"] <= length + 1e-6  # never longer than the session
    tasks = {t["task"]: t for t in detail["tasks"]}
    for number in (1, 2):
        same_figures(tasks[number], figures_from_rows(rows, str(number)))
    assert tasks[1]["other_s"] > 0 and tasks[2]["other_s"] > 0  # the other person came during task 1 and stayed
    assert sum(t["other_s"] for t in detail["tasks"]) == pytest.approx(detail["other_s"], abs=2e-3)
    assert sum(t["frames"] for t in detail["tasks"]) == detail["frames"]

    # the sessions table, the sessions CSV, the session's JSON export
    study_json = await get_json(c, f"/api/studies/{study['id']}")
    [entry] = study_json["sessions"]
    assert entry["label"] == "S1" and entry["status"] == "completed"
    same_figures(entry, detail)
    [line] = rows_of(await get_text(c, f"/api/studies/{study['id']}/sessions.csv"))
    assert (line["session_label"], line["session"], line["status"], line["check"]) == ("S1", sid, "completed", "passed")
    same_figures(csv_figures(line), detail)
    assert "someone else in view" in line["flags"]
    exported = await get_json(c, f"/api/sessions/{sid}/export.json")
    same_figures(exported["session"], detail)
    assert exported["tasks"] == detail["tasks"] and len(exported["rows"]) == len(rows)

    # the comparison's timelines: binned from the same frames with the participant's face (not the held ones)
    bins = await store.task_bins(c.app[keys.STUDIES].db, study["id"], 1.0)
    for number in (1, 2):
        assert sum(b["n"] for b in bins if b["task"] == number - 1) == tasks[number]["frames_with_face"]

    # the comparison (JSON and CSV): per task, the same figures as the per-task table
    compared = await get_json(c, f"/api/studies/{study['id']}/compare.json")
    assert [s["id"] for s in compared["sessions"]] == [sid]
    table = rows_of(await get_text(c, f"/api/studies/{study['id']}/compare.csv"))
    for t in compared["tasks"]:
        [row] = t["sessions"]
        same_figures(row, tasks[t["task"]])
        same_figures(t["mean"], tasks[t["task"]], keys=("frames", "frames_with_face", "face_s"))
        [csv_row] = [r for r in table if r["session"] == sid and r["task"] == ("" if t["task"] is None else str(t["task"]))]
        same_figures(csv_figures(csv_row), tasks[t["task"]], keys=("frames", "frames_with_face", "face_s"))

    # export.zip: the same again, read as a researcher would
    resp = await c.get(f"/api/studies/{study['id']}/export.zip", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    root = f"study-{study['id'][:8]}/"
    names = set(archive.namelist())
    assert {root + n for n in ("README.txt", "sessions.csv", "study.csv", "compare.csv", "moments.csv", "figures.csv",
                               "hotspots.csv", "S1/rows.csv", "S1/markers.csv", "S1/notes.csv",
                               "S1/session.json")} == names
    read = lambda name: archive.read(root + name).decode()  # noqa: E731
    assert rows_of(read("S1/rows.csv")) == rows == rows_of(read("study.csv"))
    [zipped] = rows_of(read("sessions.csv"))
    assert zipped == line
    assert json.loads(read("S1/session.json"))["tasks"] == detail["tasks"]
    assert [(m["task"], m["task_title"], m["event"]) for m in rows_of(read("S1/markers.csv"))] == [
        ("1", "Browse", "start"), ("1", "Browse", "end"), ("2", "Buy", "start"), ("2", "Buy", "end")]
    readme = read("README.txt")
    for column in [*rows[0], *line, "task_title", "event"]:  # every column is explained, with its unit
        assert f"\n{column} " in readme or f"\n{column}," in readme, column
    assert "face_s          s:" in readme and "brightness      mean luma 0-255" in readme


@pytest.mark.asyncio
async def test_status_withdrawal_and_the_comparison_of_completed_sessions(client):
    c = client
    study = await create_study(c, tasks=["Browse", "Buy"])
    # S1 completed, S2 closes the page during task 2 (incomplete), S3 withdraws during task 1
    plans = [[0, 1], [0, "start 1"], ["start 0"]]
    sids = []
    for plan in plans:
        live = await participant(c, study)
        sids.append(next(m["id"] for m in live.messages if m["type"] == "session"))
        await live.wait_results(8)
        for step in plan:
            if isinstance(step, int):
                for event in ("start", "end"):
                    assert (await live.mark(step, event))["type"] == "marked"
                    await live.wait_results(len(live.results) + 8)
            else:
                assert (await live.mark(int(step.split()[1]), "start"))["type"] == "marked"
                await live.wait_results(len(live.results) + 8)
        if len(sids) == 3:  # "stop and delete my data" in the middle of task 1
            token = study["participant_url"].rsplit("/", 1)[1]
            assert (await c.delete(f"/api/participant/{token}/sessions/{sids[2]}")).status == 204
            for _ in range(100):  # the server stops the stream itself
                if any(m["type"] == "stopped" for m in live.messages):
                    break
                await asyncio.sleep(0.1)
            assert any(m["type"] == "stopped" for m in live.messages)
            reply = await live.mark(0, "end")  # the session is over: its data is gone, nothing more is taken
            assert reply["type"] == "error" and "ended" in reply["message"]
        await live.close()
    await settled(SimpleNamespace(app=c.app))

    db = c.app[keys.STUDIES].db
    assert await store.count_rows(db, sids[2]) == 0 and await store.session_markers(db, sids[2]) == []
    overview = (await get_json(c, f"/api/studies/{study['id']}"))["sessions"]
    assert [(s["label"], s["status"]) for s in overview] == [("S1", "completed"), ("S2", "incomplete"),
                                                             ("S3", "withdrawn")]
    assert overview[2]["frames"] == 0 and overview[2]["ended"]
    # no camera check was done before the tasks (the stub's face is small): failed, so flagged
    assert overview[0]["check"] == "failed" and overview[0]["flags"][0]["figure"] == "check"

    compared = await get_json(c, f"/api/studies/{study['id']}/compare.json")
    assert [s["label"] for s in compared["sessions"]] == ["S1"]
    assert compared["left_out"] == {"incomplete": 1, "live": 0, "withdrawn": 1}
    with_incomplete = await get_json(c, f"/api/studies/{study['id']}/compare.json?incomplete=1")
    assert [s["label"] for s in with_incomplete["sessions"]] == ["S1", "S2"]
    task2 = next(t for t in with_incomplete["tasks"] if t["task"] == 2)
    assert task2["mean"]["sessions"] == 2  # S2 started task 2 before it closed the page

    # kept figures: an ended session's summary is kept in its row and gives the same figures
    await store.set_figures(db, sids[0], None)
    session = await store.get_session(db, sids[0])
    from server.studies.figures import session_summary

    fresh = await session_summary(db, {**session, "ended": session["ended"] - 60}, ["Browse", "Buy"])
    kept = (await store.get_session(db, sids[0]))["figures"]
    assert kept["session"] == fresh["session"] and kept["tasks"] == fresh["tasks"]
    frames = [f async for f in store.participant_frames(db, sids[0])]
    assert definitions.summarize(frames, ["Browse", "Buy"])["session"] == kept["session"]


def test_a_summary_fed_in_pieces_equals_the_whole():
    """A running session's figures are made from its new frames only (definitions.Summary): the same
    figures as summarize over all its frames, whatever the pieces."""
    frames = []
    for i in range(300):
        face = None if i % 9 == 4 else 1
        probs = {c: ((i * (k + 2)) % 13 + 1) / 100 for k, c in enumerate(CLASSES)}
        frames.append({"id": i, "frame": i, "time_s": i / 15 + (2.0 if i > 150 else 0.0), "file": None,
                       "task": None if i < 40 else (0 if i < 200 else 1), "face": face,
                       "label": max(probs, key=probs.get) if face else None, "w": 90 + i % 7 if face else None,
                       "brightness": 100.0 + i % 5 if face else None, "others": [7] if 100 < i < 130 else [],
                       **{c: (probs[c] if face else None) for c in CLASSES}})
    whole = definitions.summarize(frames, ["A", "B"])
    for cuts in ([1], [150, 151], [17, 99, 250, 299]):
        piecewise = definitions.Summary(["A", "B"])
        start = 0
        for cut in [*cuts, len(frames)]:
            piecewise.add(frames[start:cut])
            start = cut
            piecewise.result()  # asked between the pieces, as a page does
        assert piecewise.result() == whole
    assert whole["session"]["seconds"] < 300 / 15 + 1.0  # the 2 s pause counts 1 s at most
    assert whole["session"]["other_faces"] == 1 and whole["session"]["other_s"] == pytest.approx(29 / 15, abs=1e-3)
