"""A study's comparison of its sessions task by task (``/api/studies/{id}/compare.json|.csv``), on real
databases with participants streaming over real WebRTC: every figure is checked against the same
figures computed here from the sessions' exported rows."""

import csv
import io
import math
from types import SimpleNamespace

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

import ml
from server import Settings, create_app

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer
from test_studies import AUTH, TOKEN, create_study, participant, settled

CLASSES = list(ml.CLASSES)


class VaryingAnalyzer(StubAnalyzer):
    """One face whose expression changes from frame to frame (missed on every fifth frame: held by the
    tracker, a row that no figure counts)."""

    def __init__(self):
        self.n = 0

    def analyze(self, bgr, tracker=None, t=None):
        self.n += 1
        if self.n % 5 == 0:
            return tracker.update([], t) if tracker is not None else []
        weights = [1 + ((self.n * (k + 3)) % 11) for k in range(len(CLASSES))]
        probs = {c: w / sum(weights) for c, w in zip(CLASSES, weights)}
        face = {"box": (10, 20, 30, 30), "label": max(probs, key=probs.get), "probs": probs}
        return tracker.update([face], t) if tracker is not None else [face]


@pytest_asyncio.fixture
async def client(database_url):
    app = create_app(Settings(database=database_url, admin_token=TOKEN), analyzer=VaryingAnalyzer())
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


async def run_session(c, study, plan):
    """A participant: ``plan`` is a list of ("start"|"end", task) markers and result counts to wait for."""
    live = await participant(c, study)
    sid = next(m["id"] for m in live.messages if m["type"] == "session")
    for step in plan:
        if isinstance(step, int):
            await live.wait_results(len(live.results) + step)
        else:
            assert (await live.mark(step[1], step[0]))["type"] == "marked"
    await live.close()
    return sid


def measured(row) -> bool:
    """The participant's face in this row, found (a held row, not found in its frame, does not count)."""
    return row["face"] != "" and row["source"] != "held"


def expected_figures(rows):
    faces = [r for r in rows if measured(r)]
    n = len(faces)
    shares = {c: sum(r["label"] == c for r in faces) / n if n else 0.0 for c in CLASSES}
    probs = {c: sum(float(r[c]) for r in faces) / n if n else 0.0 for c in CLASSES}
    return n, shares, probs


@pytest.mark.asyncio
async def test_comparison_matches_the_sessions_rows(client):
    c = client
    study = await create_study(c, tasks=["Browse", "Buy", "Never run"])
    plans = [
        [("start", 0), 12, ("end", 0), 4, ("start", 1), 10],
        [4, ("start", 0), 8, ("start", 1), 14, ("end", 1)],
        [("start", 1), 9],
    ]
    sids = [await run_session(c, study, plan) for plan in plans]
    await settled(SimpleNamespace(app=c.app))  # every row stored
    rows = {sid: list(csv.DictReader(io.StringIO(await (await c.get(f"/api/sessions/{sid}/export.csv",
                                                                      headers=AUTH)).text()))) for sid in sids}
    markers = {sid: (await (await c.get(f"/api/sessions/{sid}/export.json", headers=AUTH)).json())["markers"]
               for sid in sids}
    assert all({r["source"] for r in rows[sid]} >= {"detected", "held"} for sid in sids)

    # none of them did the last task: by default (completed sessions only) the comparison has none
    default = await (await c.get(f"/api/studies/{study['id']}/compare.json", headers=AUTH)).json()
    assert default["sessions"] == [] and default["left_out"] == {"incomplete": 3, "live": 0, "withdrawn": 0}
    assert all(t["mean"]["sessions"] == 0 and t["sessions"] == [] for t in default["tasks"])

    resp = await c.get(f"/api/studies/{study['id']}/compare.json?bin=0.5&incomplete=1", headers=AUTH)
    assert resp.status == 200
    got = await resp.json()
    assert [s["id"] for s in got["sessions"]] == sids and got["bin_s"] == 0.5
    assert [s["label"] for s in got["sessions"]] == ["S1", "S2", "S3"]
    assert {s["status"] for s in got["sessions"]} == {"incomplete"}
    assert [t["task"] for t in got["tasks"]] == [1, 2, 3, None]  # 1-based, as on the pages
    for t in got["tasks"]:
        assert t["title"] == ["Browse", "Buy", "Never run", "(outside tasks)"][3 if t["task"] is None else t["task"] - 1]
        key = "" if t["task"] is None else str(t["task"])
        per = []
        for sid, row in zip(sids, t["sessions"]):
            n, shares, probs = expected_figures([r for r in rows[sid] if r["task"] == key])
            assert row["session"] == sid and row["frames_with_face"] == n
            assert row["frames"] == sum(1 for r in rows[sid] if r["task"] == key)
            for cls in CLASSES:
                assert row["shares"][cls] == pytest.approx(shares[cls], abs=1e-4)
                assert row["mean_probs"][cls] == pytest.approx(probs[cls], abs=1e-4)
            if n:
                per.append((shares, probs))
        mean = t["mean"]
        assert mean["sessions"] == len(per)
        assert mean["frames_with_face"] == sum(r["frames_with_face"] for r in t["sessions"])
        for cls in CLASSES:  # every session counts once
            assert mean["shares"][cls] == pytest.approx(sum(s[cls] for s, _ in per) / len(per) if per else 0, abs=2e-4)
            assert mean["mean_probs"][cls] == pytest.approx(sum(p[cls] for _, p in per) / len(per) if per else 0,
                                                            abs=2e-4)
    assert got["tasks"][2]["mean"]["sessions"] == 0 and got["tasks"][2]["timeline"] == []
    assert got["tasks"][1]["mean"]["sessions"] == 3 and got["tasks"][0]["mean"]["sessions"] == 2

    # the timelines: each session's rows of the task, in bins since the task's first start
    for t in got["tasks"][:3]:
        expected = []
        for sid in sids:
            starts = [m["time_s"] for m in markers[sid] if m["event"] == "start" and m["task"] == t["task"]]
            if not starts:
                continue
            bins = {}
            for r in rows[sid]:
                if r["task"] == str(t["task"]) and measured(r):
                    bins.setdefault(math.floor((float(r["time_s"]) - min(starts)) / 0.5), []).append(r)
            if bins:
                expected.append({"session": sid, "bins": [
                    [b * 0.5, [sum(float(r[c]) for r in bins[b]) / len(bins[b]) for c in CLASSES]]
                    for b in sorted(bins)]})
        assert [e["session"] for e in t["timeline"]] == [e["session"] for e in expected]
        for line, want in zip(t["timeline"], expected):
            assert [b[0] for b in line["bins"]] == pytest.approx([b[0] for b in want["bins"]])
            for (_, probs), (_, want_probs) in zip(line["bins"], want["bins"]):
                assert probs == pytest.approx(want_probs, abs=1e-4)

    # the CSV: the same table, a mean row then one row per session for each task
    resp = await c.get(f"/api/studies/{study['id']}/compare.csv?incomplete=1", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert len(table) == 4 * (1 + len(sids))
    for t in got["tasks"]:
        key = "" if t["task"] is None else str(t["task"])
        block = [r for r in table if r["task"] == key]
        assert [r["session"] for r in block] == ["mean", *sids]
        assert [r["session_label"] for r in block] == ["", "S1", "S2", "S3"]
        assert block[0]["sessions"] == str(t["mean"]["sessions"])
        for r, want in zip(block, [t["mean"], *t["sessions"]]):
            assert r["title"] == t["title"] and int(r["frames_with_face"]) == want["frames_with_face"]
            assert int(r["frames"]) == want["frames"]
            for cls in CLASSES:
                assert float(r[f"share_{cls}"]) == want["shares"][cls]
                assert float(r[f"prob_{cls}"]) == want["mean_probs"][cls]


@pytest.mark.asyncio
async def test_comparison_of_an_empty_study_and_bad_requests(client):
    c = client
    study = await create_study(c)
    got = await (await c.get(f"/api/studies/{study['id']}/compare.json", headers=AUTH)).json()
    assert got["sessions"] == [] and [t["task"] for t in got["tasks"]] == [1, 2]
    assert all(t["mean"]["sessions"] == 0 and t["sessions"] == [] and t["timeline"] == [] for t in got["tasks"])
    for path in ("compare.json", "compare.csv"):
        assert (await c.get(f"/api/studies/{study['id']}/{path}")).status == 401
        assert (await c.get(f"/api/studies/nope/{path}", headers=AUTH)).status == 404
    for bad in ("0", "-1", "nan", "abc", "601"):
        resp = await c.get(f"/api/studies/{study['id']}/compare.json?bin={bad}", headers=AUTH)
        assert resp.status == 400 and "bin" in (await resp.json())["error"]
    for bad in ("yes", "2", ""):
        resp = await c.get(f"/api/studies/{study['id']}/compare.json?incomplete={bad}", headers=AUTH)
        assert resp.status == 400 and "incomplete must be 0" in (await resp.json())["error"]
