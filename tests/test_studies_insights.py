"""Moments, per-task figures and hotspots through the API, on real databases (SQLite and PostgreSQL), from
participants streaming over real WebRTC without any screen recording: from the participant's face only
(a second, larger, angry face walks in during task 2 and changes nothing), measured from the camera
check's baseline; the same figures in the session's API, its JSON export, the study's insights.json, every
CSV, export.zip and (for the figures they share) the comparison; hotspots over completed sessions by
default, also the incomplete ones with ?incomplete=1."""

import asyncio
import csv
import io
import json
import zipfile

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

import ml
from server import Settings, create_app

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer
from test_studies import AUTH, TOKEN, create_study, participant

CLASSES = list(ml.CLASSES)


def probs(**given) -> dict:
    p = {c: 0.02 for c in CLASSES} | given
    p["neutral"] = 0.0
    p["neutral"] = round(1 - sum(p.values()), 4)
    return p


PARTICIPANT_BOX, OTHER_BOX = (6, 30, 40, 40), (64, 8, 54, 54)  # the other face is the larger one
OTHER_FROM_S, OTHER_TO_S = 15.6, 17.0  # someone else in view, angry, during task 2


class ScriptedAnalyzer(StubAnalyzer):
    """The participant's face, whose expression follows the stream's clock, the same in every session:
    neutral (sad 0.02), sad from 10 to 12 s, happy from 14 to 15.5 s; from 15.6 to 17 s a second person,
    larger, angry at 0.9, beside them."""

    def analyze(self, bgr, tracker=None, t=None):
        t = t or 0.0
        p = probs(sad=0.6) if 10 <= t < 12 else probs(happy=0.8) if 14 <= t < 15.5 else probs()
        faces = [{"box": PARTICIPANT_BOX, "label": max(p, key=p.get), "probs": p, "brightness": 120.0}]
        if OTHER_FROM_S <= t < OTHER_TO_S:
            faces.insert(0, {"box": OTHER_BOX, "label": "angry", "probs": probs(angry=0.9), "brightness": 110.0})
        return tracker.update(faces, t) if tracker is not None else faces


@pytest_asyncio.fixture
async def client(database_url):
    app = create_app(Settings(database=database_url, admin_token=TOKEN), analyzer=ScriptedAnalyzer())
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


async def until(live, t: float) -> None:
    """Wait for the participant's results to reach stream time ``t``."""
    while not live.results or (live.results[-1]["timestamp"] or 0) < t:
        await live.wait_results(len(live.results) + 1)


async def session(live, complete: bool = True) -> str:
    """Task 1 from 7 s to 13 s, task 2 from 13 s to 17 s (stream time); without ``complete`` task 2 never ends."""
    sid = next(m["id"] for m in live.messages if m["type"] == "session")
    for at, task, event in ((7, 0, "start"), (13, 0, "end"), (13, 1, "start"), (17, 1, "end")):
        if not complete and (task, event) == (1, "end"):
            break
        await until(live, at)
        assert (await live.mark(task, event))["type"] == "marked"
    await until(live, 17.5)
    await live.close()
    return sid


async def run_participants(c, study, complete: list[bool]) -> list[str]:
    """Participants connected one after the other (two may be connecting at once from one address), then
    all doing the tasks at once; their session ids."""
    lives = []
    for _ in complete:
        lives.append(await participant(c, study))
        await lives[-1].wait_results(1)
    return list(await asyncio.gather(*(session(live, done) for live, done in zip(lives, complete))))


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.asyncio
async def test_moments_figures_and_hotspots_agree_everywhere_without_recordings(client):
    c = client
    # no screen recording; a face 40 px wide passes the camera check
    study = await create_study(c, tasks=["Find a lamp", "Pay for it"], quality={"min_face_px": 20})
    sids = await run_participants(c, study, complete=[True, True, True, False])
    await asyncio.sleep(1.0)  # the writer's last flush
    base = f"/api/studies/{study['id']}"
    found = await (await c.get(f"{base}/insights.json", headers=AUTH)).json()
    assert found["definitions"]["negative"]["hold_s"] == 1.0 and found["tasks"] == ["Find a lamp", "Pay for it"]
    by_id = {s["id"]: s for s in found["sessions"]}
    assert set(by_id) == set(sids)
    assert [by_id[s]["status"] for s in sids] == ["completed", "completed", "completed", "incomplete"]
    assert [by_id[s]["included"] for s in sids] == [True, True, True, False]
    assert found["incomplete"] is False and found["left_out"] == {"incomplete": 1, "live": 0, "withdrawn": 0}
    listed = {s["id"]: s for s in (await (await c.get(base, headers=AUTH)).json())["sessions"]}

    for sid in sids:
        s = by_id[sid]
        assert not s["recording"]
        # the scenario: a negative onset (sad) 3 s into task 1, a smile 1 s into task 2 (the 4th: the same);
        # the other person's anger in task 2 is no moment: the participant's face only
        assert listed[sid]["other_s"] > 1.0 and listed[sid]["other_faces"] == 1
        assert [(m["kind"], m["expression"], m["task"], m["title"]) for m in s["moments"]] == [
            ("negative", "sad", 1, "Find a lamp"), ("smile", "happy", 2, "Pay for it")]
        neg, smile = s["moments"]
        assert neg["start_s"] == pytest.approx(10.0, abs=0.1) and neg["length_s"] == pytest.approx(2.0, abs=0.15)
        assert neg["strength"] == pytest.approx(0.58, abs=0.05)  # sad 0.6 over its 0.02 baseline
        assert smile["start_s"] == pytest.approx(14.0, abs=0.1) and smile["play_from_s"] == pytest.approx(11.0, abs=0.1)
        t1, t2 = s["tasks"][:2]
        assert (t1["task"], t1["title"], t2["task"], t2["title"]) == (1, "Find a lamp", 2, "Pay for it")
        assert t1["valence"] < 0 < t2["valence"] and t1["moments"]["negative"] == 1 and t2["moments"]["smile"] == 1
        assert t2["mean_probs"]["angry"] < 0.05  # the other person's 0.9 never mixed in
        assert t1["expressiveness"] == round(1 - t1["mean_probs"]["neutral"], 4)
        # the baseline: the camera check's held 2 s, ending at its passed moment
        check_s = listed[sid]["check_s"]
        assert listed[sid]["check"] == "passed" and check_s < 7
        assert s["baseline"]["source"] == "camera check" and s["baseline"]["to_s"] <= check_s + 1e-6
        assert s["baseline"]["from_s"] >= check_s - 2.0 - 1e-6 and s["baseline"]["frames"] >= 3
        assert s["baseline"]["probs"]["neutral"] > 0.8
        # one definition: the session's API and its JSON export give the same figures as insights.json
        detail = await (await c.get(f"/api/sessions/{sid}", headers=AUTH)).json()
        export = await (await c.get(f"/api/sessions/{sid}/export.json", headers=AUTH)).json()
        for other in (detail, export):
            assert other["moments"] == s["moments"] and other["tasks"] == s["tasks"]
            assert other["baseline"] == s["baseline"] and other["screen"] is None
        session_csv = rows(await (await c.get(f"/api/sessions/{sid}/moments.csv", headers=AUTH)).text())
        assert [(r["kind"], float(r["start_s"]), float(r["strength"])) for r in session_csv] == [
            (m["kind"], m["start_s"], m["strength"]) for m in s["moments"]]

    # hotspots: the three completed sessions only, aligned on each one's start of the task
    spots = found["hotspots"]
    assert [(h["task"], h["kind"], h["sessions"], h["of"]) for h in spots] == [(1, "negative", 3, 3),
                                                                               (2, "smile", 3, 3)]
    assert spots[0]["from_s"] == pytest.approx(3.0, abs=0.3) and spots[0]["text"].startswith(
        "3 of 3 participants: negative onset 3")
    assert spots[0]["text"].endswith("s into task 1") and spots[1]["text"].endswith("s into task 2")
    assert {m["session"] for m in spots[0]["members"]} == set(sids[:3])
    labels = {s["id"]: s["label"] for s in found["sessions"]}
    assert sorted(labels.values()) == ["S1", "S2", "S3", "S4"]
    for m in spots[0]["members"]:
        assert m["label"] == labels[m["session"]] and m["recording"] is False
        assert m["at_s"] == by_id[m["session"]]["moments"][0]["start_s"]

    # the CSVs: the same numbers
    moments_csv = rows(await (await c.get(f"{base}/moments.csv", headers=AUTH)).text())
    assert len(moments_csv) == 8 and {r["session_label"] for r in moments_csv} == {"S1", "S2", "S3", "S4"}
    for r in moments_csv:
        m = next(x for x in by_id[r["session"]]["moments"] if x["kind"] == r["kind"])
        assert float(r["start_s"]) == m["start_s"] and r["task"] == str(m["task"])
        assert r["task_title"] == ["Find a lamp", "Pay for it"][m["task"] - 1]
    figures_csv = rows(await (await c.get(f"{base}/figures.csv", headers=AUTH)).text())
    assert len(figures_csv) == sum(len(s["tasks"]) for s in found["sessions"])
    for r in figures_csv:
        f = next(x for x in by_id[r["session"]]["tasks"] if str(x["task"]) == r["task"] or
                 (x["task"] is None and r["task"] == ""))
        assert float(r["valence"]) == f["valence"] and float(r["expressiveness"]) == f["expressiveness"]
        assert int(r["frames_with_face"]) == f["frames_with_face"] and float(r["face_s"]) == f["face_s"]
        assert r["status"] == by_id[r["session"]]["status"] and r["session_label"] == by_id[r["session"]]["label"]
    hot_csv = rows(await (await c.get(f"{base}/hotspots.csv", headers=AUTH)).text())
    assert len(hot_csv) == 6 and {r["text"] for r in hot_csv} == {h["text"] for h in spots}

    # the figures the comparison shows too are the same numbers (one function: definitions.summarize)
    compared = await (await c.get(f"{base}/compare.json", headers=AUTH)).json()
    for task in compared["tasks"]:
        for row in task["sessions"]:
            mine = next(x for x in by_id[row["session"]]["tasks"] if x["task"] == task["task"])
            assert (row["frames_with_face"], row["face_s"], row["mean_probs"]) == (
                mine["frames_with_face"], mine["face_s"], mine["mean_probs"])

    # the study's export: the same three tables, and each session's JSON with its moments
    archive = zipfile.ZipFile(io.BytesIO(await (await c.get(f"{base}/export.zip", headers=AUTH)).read()))
    root = f"study-{study['id'][:8]}/"
    assert rows(archive.read(root + "moments.csv").decode()) == moments_csv
    assert rows(archive.read(root + "figures.csv").decode()) == figures_csv
    assert rows(archive.read(root + "hotspots.csv").decode()) == hot_csv
    readme = archive.read(root + "README.txt").decode()
    for column in ("valence", "expressiveness", "play_from_s", "onset_s", "hotspots.csv"):
        assert column in readme
    for sid in sids:
        doc = json.loads(archive.read(f"{root}{by_id[sid]['label']}/session.json"))
        assert doc["moments"] == by_id[sid]["moments"] and doc["tasks"] == by_id[sid]["tasks"]

    # with the incomplete sessions: the 4th joins the hotspots (the comparison's switch)
    everyone = await (await c.get(f"{base}/insights.json?incomplete=1", headers=AUTH)).json()
    assert everyone["incomplete"] is True and all(s["included"] for s in everyone["sessions"])
    assert [(h["task"], h["sessions"], h["of"]) for h in everyone["hotspots"]] == [(1, 4, 4), (2, 4, 4)]
    assert len(rows(await (await c.get(f"{base}/hotspots.csv?incomplete=1", headers=AUTH)).text())) == 8
    assert (await c.get(f"{base}/insights.json?incomplete=yes", headers=AUTH)).status == 400

    # researcher only
    for path in (f"{base}/insights.json", f"{base}/hotspots.csv", f"/api/sessions/{sids[0]}/moments.csv"):
        assert (await c.get(path)).status == 401
        assert (await c.get(path.replace(study["id"], "nope").replace(sids[0], "nope"), headers=AUTH)).status == 404


def test_held_faces_count_in_no_moment_and_no_figure_as_in_the_definitions():
    """A held face (issue 24: not found in its frame, shown at its last place for a moment) is no
    measurement: the moments and valence leave it out exactly as definitions.summarize does."""
    from server.studies.definitions import has_face, summarize
    from server.studies.insights import participant_line, session_baseline
    from server.studies.moments import moments, task_figures

    def frame(i: int) -> dict:
        t = round(i / 10, 3)
        held = 60 <= i < 75  # 6.0 to 7.4 s: the participant's face held, with an angry reading
        p = probs(angry=0.9) if held else probs()
        return {"time_s": t, "task": None if t < 5 else 0, "file": "", "face": 1, "source": "held" if held else "detected",
                "label": max(p, key=p.get), "w": 120, "brightness": 100.0, "others": [], **p}

    frames = [frame(i) for i in range(100)]
    line = participant_line(frames)
    assert [p.probs is None for p in line] == [not has_face(f) for f in frames]
    base = session_baseline(line, "passed", 2.0)
    assert base.source == "camera check"
    assert moments(line, base) == []  # 1.5 s of held anger: no negative onset (a found one would be)
    periods = summarize(frames, ["Find a lamp"])["tasks"]
    t1 = task_figures(line, base, [], periods)[0]
    assert t1["frames_with_face"] == 50 - 15 == sum(1 for p in line if p.task == 1 and p.probs is not None)
    assert t1["valence"] == pytest.approx(0.0) and t1["mean_probs"]["angry"] == pytest.approx(0.02)
    found = [dict(f, source="detected") for f in frames]  # the same readings, found: a moment, and valence falls
    line = participant_line(found)
    assert [m.kind for m in moments(line, session_baseline(line, "passed", 2.0))] == ["negative"]
