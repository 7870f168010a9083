"""Moments, per-task figures and hotspots through the API, on real databases (SQLite and PostgreSQL), from
participants streaming over real WebRTC without any screen recording: the same figures in the session's
API, its JSON export, the study's insights.json and every CSV; hotspots over completed sessions only."""

import asyncio
import csv
import io

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


class ScriptedAnalyzer(StubAnalyzer):
    """One face whose expression follows the stream's clock, the same in every session: neutral, sad from
    10 to 12 s, happy from 14 to 15.5 s."""

    def analyze(self, bgr, tracker=None, t=None):
        t = t or 0.0
        p = probs(sad=0.6) if 10 <= t < 12 else probs(happy=0.8) if 14 <= t < 15.5 else probs()
        faces = [{"box": (10, 20, 30, 30), "label": max(p, key=p.get), "probs": p}]
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
    study = await create_study(c, tasks=["Find a lamp", "Pay for it"])  # no screen recording
    sids = await run_participants(c, study, complete=[True, True, True, False])
    await asyncio.sleep(1.0)  # the writer's last flush
    base = f"/api/studies/{study['id']}"
    found = await (await c.get(f"{base}/insights.json", headers=AUTH)).json()
    assert found["definitions"]["negative"]["hold_s"] == 1.0 and found["tasks"] == ["Find a lamp", "Pay for it"]
    by_id = {s["id"]: s for s in found["sessions"]}
    assert set(by_id) == set(sids)
    assert [by_id[s]["completed"] for s in sids] == [True, True, True, False]

    for sid in sids:
        s = by_id[sid]
        assert not s["recording"]
        # the scenario: a negative onset (sad) 3 s into task 1, a smile 1 s into task 2 (the 4th: the same)
        assert [(m["kind"], m["expression"], m["task"]) for m in s["moments"]] == [
            ("negative", "sad", 0), ("smile", "happy", 1)]
        neg, smile = s["moments"]
        assert neg["start_s"] == pytest.approx(10.0, abs=0.1) and neg["length_s"] == pytest.approx(2.0, abs=0.15)
        assert neg["strength"] == pytest.approx(0.58, abs=0.05)  # sad 0.6 over its 0.02 baseline
        assert smile["start_s"] == pytest.approx(14.0, abs=0.1) and smile["play_from_s"] == pytest.approx(11.0, abs=0.1)
        t1, t2 = s["task_figures"][:2]
        assert t1["valence"] < 0 < t2["valence"] and t1["moments"]["negative"] == 1 and t2["moments"]["smile"] == 1
        assert s["baseline"]["source"] == "first seconds" and s["baseline"]["probs"]["neutral"] > 0.8
        # one definition: the session's API and its JSON export give the same figures as insights.json
        detail = await (await c.get(f"/api/sessions/{sid}", headers=AUTH)).json()
        export = await (await c.get(f"/api/sessions/{sid}/export.json", headers=AUTH)).json()
        for other in (detail, export):
            assert other["moments"] == s["moments"] and other["task_figures"] == s["task_figures"]
            assert other["baseline"] == s["baseline"] and other["screen"] is None
        session_csv = rows(await (await c.get(f"/api/sessions/{sid}/moments.csv", headers=AUTH)).text())
        assert [(r["kind"], float(r["start_s"]), float(r["strength"])) for r in session_csv] == [
            (m["kind"], m["start_s"], m["strength"]) for m in s["moments"]]

    # hotspots: the three completed sessions only, aligned on each one's start of the task
    spots = found["hotspots"]
    assert [(h["task"], h["kind"], h["sessions"], h["of"]) for h in spots] == [(0, "negative", 3, 3),
                                                                               (1, "smile", 3, 3)]
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
    assert len(moments_csv) == 8 and {r["label"] for r in moments_csv} == {"S1", "S2", "S3", "S4"}
    for r in moments_csv:
        m = next(x for x in by_id[r["session"]]["moments"] if x["kind"] == r["kind"])
        assert float(r["start_s"]) == m["start_s"] and r["title"] == ["Find a lamp", "Pay for it"][m["task"]]
    figures_csv = rows(await (await c.get(f"{base}/figures.csv", headers=AUTH)).text())
    for r in figures_csv:
        f = next(x for x in by_id[r["session"]]["task_figures"] if str(x["task"]) == r["task"] or
                 (x["task"] is None and r["task"] == ""))
        assert float(r["valence"]) == f["valence"] and float(r["expressiveness"]) == f["expressiveness"]
        assert r["completed"] == str(by_id[r["session"]]["completed"])
    hot_csv = rows(await (await c.get(f"{base}/hotspots.csv", headers=AUTH)).text())
    assert len(hot_csv) == 6 and {r["text"] for r in hot_csv} == {h["text"] for h in spots}

    # researcher only
    for path in (f"{base}/insights.json", f"{base}/hotspots.csv", f"/api/sessions/{sids[0]}/moments.csv"):
        assert (await c.get(path)).status == 401
        assert (await c.get(path.replace(study["id"], "nope").replace(sids[0], "nope"), headers=AUTH)).status == 404
