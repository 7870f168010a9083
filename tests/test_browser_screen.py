"""Screen recording in a real headless Chromium: a participant with a fake camera passes the camera check,
shares their tab (a real tab capture, recorded by the browser's MediaRecorder and sent in chunks), does
the tasks and finishes, or stops sharing, or stops and deletes their data (in a task, while recording, or
at the end); the researcher's session page plays the recording beside the timeline, in sync (the
recording's clock and the results' clock within 0.2 s), with the moments measured from the camera
check's baseline."""

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from server import ScreenSettings, Settings, create_app, keys

from axe_support import assert_accessible
from browser_support import (ServerThread, chromium, needs_chromium, past_the_check, set_viewport, share_this_tab,
                             stop_sharing)
from samples import expression_frames
from test_browser_live import write_y4m
from test_server import StubAnalyzer

pytestmark = needs_chromium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-screen-token-0123456789"
SHOTS = os.environ.get("FER_SCREENSHOTS")


@pytest.fixture
def server(analyzer, tmp_path):
    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN,
                        screen=ScreenSettings(directory=tmp_path / "screen", sweep_interval_s=0.2, end_grace_s=2.0))
    srv = ServerThread(create_app(settings, analyzer=analyzer))
    yield srv
    srv.stop()


def api(url: str, path: str, method: str = "GET", body: dict | None = None):
    req = urllib.request.Request(url.rstrip("/") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        data = resp.read()
        return json.loads(data) if resp.headers.get_content_type() == "application/json" else data


def body_attr(driver, name: str) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute(name) or ""


def wait_ready(url: str, sid: str, timeout: float = 60.0) -> dict:
    """The recording once joined and its clock known (from the session's rows, stored every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        info = api(url, f"/api/sessions/{sid}/screen")
        if info["status"] == "failed" or (info["status"] == "ready" and info["offset_s"] is not None) \
                or time.monotonic() > deadline:
            assert info["status"] == "ready" and info["offset_s"] is not None, info
            return info
        time.sleep(0.2)


def test_a_participant_shares_their_tab_records_does_the_tasks_and_the_file_plays(tmp_path, face_frame_640, server):
    camera = write_y4m(tmp_path / "face.y4m", [np.roll(face_frame_640, s, axis=1) for s in (0, 2, 4, 2)])
    url = server.start()
    created = api(url, "/api/studies", "POST", {"title": "Lamp shop", "consent": "We record your expressions.",
                                                "tasks": ["Find a lamp", "Pay for it"], "screen": True})
    driver = chromium(tmp_path, camera, share_tab=True)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        driver.get(created["participant_url"])
        assert "also records your screen" in by_id("screen-consent").text
        by_id("agree").click()
        wait.until(lambda d: by_id("screen-step").is_displayed())  # after the camera check, before the tasks
        assert by_id("check").get_attribute("data-state") == "passed" and not by_id("task-panel").is_displayed()
        assert_accessible(driver, "participant: the screen to share")
        if SHOTS:
            set_viewport(driver, 1280, 720)
            driver.save_screenshot(str(Path(SHOTS) / "study-screen-share.png"))
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        tasks = driver.find_elements(By.CSS_SELECTOR, "#tasks li")
        assert not tasks[0].find_element(By.CSS_SELECTOR, ".start").is_enabled()
        by_id("share-screen").click()
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "recording")
        assert not by_id("screen-step").is_displayed() and by_id("task-panel").is_displayed()
        assert_accessible(driver, "participant: the screen recorded")
        sid = body_attr(driver, "data-session")
        for li in tasks:
            li.find_element(By.CSS_SELECTOR, ".start").click()
            wait.until(lambda d: li.get_attribute("data-state") == "running")
            time.sleep(4)
            li.find_element(By.CSS_SELECTOR, ".done").click()
        wait.until(lambda d: by_id("thanks").is_displayed())
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "saved")
        recorded_s = int(body_attr(driver, "data-screen-recorded-ms")) / 1000  # the recorder's start to its stop
        assert int(body_attr(driver, "data-screen-chunks")) >= 2  # chunks of 4 s
        info = wait_ready(url, sid)
        assert info["stop_reason"] == "finished" and info["missing"] == 0
        assert info["duration_s"] == pytest.approx(recorded_s, abs=1.0)
        video = api(url, f"/api/sessions/{sid}/screen.webm")
        path = tmp_path / "served.webm"
        path.write_bytes(video)
        with av.open(str(path)) as f:
            v = f.streams.video[0]
            assert f.duration / av.time_base == pytest.approx(recorded_s, abs=1.0)
            target = recorded_s / 2
            f.seek(int(target / v.time_base), stream=v)
            frame = next(fr for fr in f.decode(v) if fr.time >= target)
            assert frame.time == pytest.approx(target, abs=0.5) and frame.width >= 320
    finally:
        driver.quit()


def expression_camera(tmp_path: Path) -> Path:
    """A 12-s loop at 10 fps: 6 s neutral (the baseline), 2 s negative, 2 s neutral, 2 s smiling."""
    f = expression_frames()
    plan = [("neutral", 60), ("negative", 20), ("neutral", 20), ("happy", 20)]
    return write_y4m(tmp_path / "expressions.y4m", [f[name] for name, n in plan for _ in range(n)], fps=10)


def participate(driver, participant_url: str, task_s: float, share: bool = True) -> tuple[str, float]:
    """A participant: consent, camera, the screen shared, every task for ``task_s`` seconds, finished.
    Returns the session id and how long the screen was recorded (wall clock)."""
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
    driver.get(participant_url)
    by_id("agree").click()
    past_the_check(driver)
    by_id("share-screen" if share else "skip-screen").click()
    if share:
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "recording")
    began = time.monotonic()  # without a recording: roughly how long the tasks took
    sid = body_attr(driver, "data-session")
    for li in driver.find_elements(By.CSS_SELECTOR, "#tasks li"):
        wait.until(lambda d: li.find_element(By.CSS_SELECTOR, ".start").is_enabled())
        li.find_element(By.CSS_SELECTOR, ".start").click()
        wait.until(lambda d: li.get_attribute("data-state") == "running")
        time.sleep(task_s)
        li.find_element(By.CSS_SELECTOR, ".done").click()
    wait.until(lambda d: by_id("thanks").is_displayed())
    recorded = time.monotonic() - began
    if share:
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "saved")
        recorded = int(body_attr(driver, "data-screen-recorded-ms")) / 1000
    return sid, recorded


def video_state(driver) -> dict:
    return driver.execute_script("""const v = document.getElementById('screen-video');
        const c = document.getElementById('timeline-cursor');
        return {t: v.currentTime, duration: v.duration, ready: v.readyState, paused: v.paused,
                cursor: parseFloat(c.dataset.time), label: document.getElementById('player-expression').dataset.label,
                shown: parseFloat(document.getElementById('player-expression').dataset.time)};""")


def label_at(timeline: list, t: float) -> str:
    """The timeline's label at stream time t, as the page picks it (the last frame at or before t)."""
    import ml

    before = [p for p in timeline if p[0] <= t + 1e-6]
    if not before or t - before[-1][0] > 0.5 or before[-1][1] is None:
        return ""
    probs = before[-1][1]
    return ml.CLASSES[probs.index(max(probs))]


def click_timeline_at(driver, t: float) -> None:
    """A real click on the session's timeline at stream time ``t``."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element(By.ID, "timeline")
    left, width, end = (float(canvas.get_attribute(f"data-{k}")) for k in ("plot-left", "plot-width", "end"))
    size = canvas.size
    x = left + width * t / end - size["width"] / 2  # selenium's offsets are from the element's centre
    ActionChains(driver).move_to_element_with_offset(canvas, round(x), 0).click().perform()


def test_the_session_page_plays_the_recording_in_sync_with_the_timeline_and_lists_the_moments(
        tmp_path, server):
    camera = expression_camera(tmp_path)
    url = server.start()
    created = api(url, "/api/studies", "POST", {"title": "Checkout", "consent": "We record your expressions.",
                                                "tasks": ["Find a lamp", "Pay for it"], "screen": True})
    driver = chromium(tmp_path, camera, share_tab=True, height=900)
    try:
        sid, recorded = participate(driver, created["participant_url"], 13)
        info = wait_ready(url, sid)
        detail = api(url, f"/api/sessions/{sid}")
        # the camera's scenario, seen through the model: negative onsets and smiles, above a neutral baseline
        kinds = [m["kind"] for m in detail["moments"]]
        assert "negative" in kinds and "smile" in kinds, detail["moments"]
        assert detail["baseline"]["probs"]["neutral"] > 0.3
        # the baseline: the camera check's held 2 s (the camera's neutral stretch), before the first task
        assert detail["check"] == "passed" and detail["baseline"]["source"] == "camera check"
        assert detail["baseline"]["to_s"] <= detail["check_s"] + 1e-6
        assert all(f["valence"] is not None for f in detail["tasks"][:2])

        wait = WebDriverWait(driver, 60, poll_frequency=0.1)
        driver.get(url + f"studies?token={TOKEN}")
        driver.get(created["results_url"])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr button.show"))
        driver.find_element(By.CSS_SELECTOR, "#sessions tbody tr button.show").click()
        wait.until(lambda d: d.find_element(By.ID, "player-stage").is_displayed())
        wait.until(lambda d: video_state(d)["ready"] >= 1)
        offset = info["offset_s"]
        assert video_state(driver)["duration"] == pytest.approx(info["duration_s"], abs=0.5)
        assert video_state(driver)["cursor"] == pytest.approx(offset, abs=0.05)  # the recording's start

        # a click on the timeline seeks the video there; the overlay shows the expression of that moment
        for t in (offset + 3.0, offset + recorded - 4.0, offset + 7.5):
            click_timeline_at(driver, t)
            wait.until(lambda d: abs(video_state(d)["t"] - (t - offset)) < 0.3)
            state = video_state(driver)
            assert state["cursor"] == pytest.approx(state["t"] + offset, abs=0.05)
            assert state["label"] == label_at(detail["timeline"], state["cursor"])
        # playing: the cursor follows the video
        driver.execute_script("document.getElementById('screen-video').play()")
        t0 = video_state(driver)["t"]
        wait.until(lambda d: video_state(d)["t"] > t0 + 1.5)
        state = video_state(driver)
        assert state["cursor"] == pytest.approx(state["t"] + offset, abs=0.25)  # a frame or two behind at most
        driver.execute_script("document.getElementById('screen-video').pause()")
        # a task's label above the timeline seeks to its start
        start_2 = next(m["time_s"] for m in detail["markers"] if m["task"] == 2 and m["event"] == "start")
        driver.find_element(By.CSS_SELECTOR, '#timeline-tasks .task-label[data-task="2"]').click()
        wait.until(lambda d: abs(video_state(d)["t"] - (start_2 - offset)) < 0.1)
        assert "Task 2. Pay for it" in driver.find_element(By.ID, "timeline-caption").text
        # the moments, each playing from 3 s before it
        items = driver.find_elements(By.CSS_SELECTOR, "#moments li")
        assert len(items) == len(detail["moments"])
        first = detail["moments"][-1]
        items[-1].find_element(By.TAG_NAME, "button").click()
        wait.until(lambda d: abs(video_state(d)["t"] - (first["play_from_s"] - offset)) < 0.6)
        assert not video_state(driver)["paused"]
        driver.execute_script("document.getElementById('screen-video').pause()")
        # the per-task table: the definitions' figures with valence, expressiveness and moments, one row a task
        rows = driver.find_elements(By.CSS_SELECTOR, "#task-table tbody tr")
        assert len(rows) == len(detail["tasks"])
        for tr, f in zip(rows, detail["tasks"]):
            valence = tr.find_element(By.CSS_SELECTOR, 'td[data-figure="valence"]')
            assert valence.get_attribute("data-value") == str(f["valence"])
            assert valence.text == f"{'+' if f['valence'] > 0 else ''}{f['valence']:.2f}"
            moments = tr.find_element(By.CSS_SELECTOR, 'td[data-figure="moments"]').text
            assert moments == f"{f['moments']['negative']} / {f['moments']['surprise']} / {f['moments']['smile']}"
        assert "camera check" in driver.find_element(By.ID, "baseline-note").text
        assert_accessible(driver, "results page: a session with its screen recording and moments")

        for width, height in ((1280, 720), (1920, 1080), (390, 844)):
            set_viewport(driver, width, height, mobile=width < 500)
            driver.execute_script("window.dispatchEvent(new Event('resize'))")
            time.sleep(0.3)
            geometry = driver.execute_script("""const r = (id) => document.getElementById(id).getBoundingClientRect();
                return {page: document.documentElement.scrollWidth, stage: r('player-stage'), moments: r('moments-box'),
                        timeline: r('timeline'), cursor: r('timeline-cursor')};""")
            wide = driver.execute_script("""return [...document.querySelectorAll('main > *, #session > *, #player *, #hotspots > *')]
                .filter((e) => e.getBoundingClientRect().right > arguments[0] + 1).map((e) => e.id || e.tagName);""", width)
            assert not {"player", "player-stage", "moments-box", "timeline-box", "hotspots", "hotspot-timeline",
                        "hotspot-list"} & set(wide), wide
            assert driver.execute_script("return document.documentElement.scrollWidth") <= width  # the page
            assert geometry["stage"]["width"] > 0.45 * min(width, 1200) and geometry["stage"]["right"] <= width
            assert geometry["moments"]["right"] <= width and geometry["moments"]["width"] >= 200
            if width > 800:  # beside the player; on a phone below it
                assert geometry["moments"]["left"] >= geometry["stage"]["right"]
            else:
                assert geometry["moments"]["top"] >= geometry["stage"]["bottom"]
            # the cursor stays on the timeline's plot at every size
            assert geometry["timeline"]["left"] <= geometry["cursor"]["left"] <= geometry["timeline"]["right"]
            if SHOTS:
                driver.execute_script("document.getElementById('session').scrollIntoView()")
                driver.save_screenshot(str(Path(SHOTS) / f"study-session-screen-{width}x{height}.png"))
    finally:
        driver.quit()


def rising_edges(times, on) -> list[float]:
    """When ``on`` turns true after being false: halfway between the last sample without and the first with
    (the change happened in between; each side samples its own way: the recorder 10 times a second, the
    analysis whichever frame is the newest when it is free)."""
    return [(t0 + t1) / 2 for t0, t1, now, before in zip(times, times[1:], on[1:], on) if now and not before]


class PatchAnalyzer(StubAnalyzer):
    """Reads each frame: the face's box 30 px further right while the camera's lower-left patch is lit.
    (The model would see the same jump, but several times slower on this 2-core machine: analysing
    every frame keeps the results' side of the measurement to the frame.)"""

    def analyze(self, bgr, tracker=None, t=None):
        lit = float(np.asarray(bgr)[400:470, 10:100].mean()) > 170
        faces = [dict(f, box=(294 if lit else 264, 104, 97, 97)) for f in super().analyze(bgr, None, t)]
        return tracker.update(faces, t) if tracker is not None else faces


def test_the_recording_and_the_results_share_one_clock_within_0_2_s(tmp_path, face_frame_640):
    """The participant shares the tab that shows their own camera. Every second a white patch lights up in
    the camera's lower corner (and the face's box moves 30 px), then goes back. In the results the box
    moves in the first analysed frame with the patch; in the recording, the patch lights up in the camera
    preview. On the session's clock (``offset_s`` + the recording's time) both happen within 0.2 s."""
    lit = face_frame_640.copy()
    lit[380:, :120] = 255
    camera = write_y4m(tmp_path / "patch.y4m", [face_frame_640] * 30 + [lit] * 30, fps=30)
    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN,
                        screen=ScreenSettings(directory=tmp_path / "screen", sweep_interval_s=0.2, end_grace_s=2.0))
    server = ServerThread(create_app(settings, analyzer=PatchAnalyzer()))
    url = server.start()
    created = api(url, "/api/studies", "POST", {"title": "Clock", "consent": "We record your expressions.",
                                                "tasks": ["Watch"], "screen": True})
    driver = chromium(tmp_path, camera, share_tab=True, height=900)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        driver.get(created["participant_url"])
        by_id("agree").click()
        past_the_check(driver)
        by_id("share-screen").click()
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "recording")
        sid = body_attr(driver, "data-session")
        driver.find_element(By.CSS_SELECTOR, "#tasks li .start").click()
        preview = driver.execute_script("""const r = document.getElementById('video').getBoundingClientRect();
            return {x: r.x, y: r.y, w: r.width, h: r.height, vw: window.innerWidth, vh: window.innerHeight};""")
        time.sleep(16)
        driver.find_element(By.CSS_SELECTOR, "#tasks li .done").click()
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "saved")
        info = wait_ready(url, sid)
        rows = api(url, f"/api/sessions/{sid}/export.json")["rows"]
        (tmp_path / "clock.webm").write_bytes(api(url, f"/api/sessions/{sid}/screen.webm"))
    finally:
        driver.quit()
        server.stop()
    path = tmp_path / "clock.webm"

    times, levels = [], []  # the recording: the preview's lower corners (the patch, whichever way it is shown)
    with av.open(str(path)) as f:
        for frame in f.decode(video=0):
            gray = frame.to_ndarray(format="gray")
            sx, sy = gray.shape[1] / preview["vw"], gray.shape[0] / preview["vh"]
            y0, y1 = int((preview["y"] + preview["h"] * 0.85) * sy), int((preview["y"] + preview["h"] * 0.97) * sy)
            corners = [(preview["x"] + preview["w"] * a, preview["x"] + preview["w"] * b) for a, b in ((0.03, 0.15),
                                                                                                   (0.85, 0.97))]
            times.append(frame.time)
            levels.append(max(float(gray[y0:y1, int(a * sx):int(b * sx)].mean()) for a, b in corners))
    middle = (min(levels) + max(levels)) / 2
    seen = [info["offset_s"] + t for t in rising_edges(times, [v > middle for v in levels])]
    first = {}
    for r in rows:  # each analysed frame's first face
        if r["face"] is not None:
            first.setdefault((r["frame"], r["time_s"]), r["x"])
    stamps = sorted(first)
    found = rising_edges([t for _, t in stamps], [first[k] > 264 + 15 for k in stamps])
    gaps = []
    for s in seen:
        nearest = min(found, key=lambda t: abs(t - s))
        if abs(nearest - s) < 0.8:  # the same jump (they are 2 s apart)
            gaps.append(s - nearest)
    print("recording - results, per jump of the face (s):", [round(g, 3) for g in gaps])
    assert len(gaps) >= 5, (seen, found)
    gaps.sort()
    assert abs(gaps[len(gaps) // 2]) <= 0.2  # the median: one clock


def test_stopping_the_share_deleting_the_data_closing_the_tab_and_not_sharing(tmp_path, face_frame_640):
    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN,
                        screen=ScreenSettings(directory=tmp_path / "screen", sweep_interval_s=0.2, end_grace_s=2.0))
    server = ServerThread(create_app(settings, analyzer=StubAnalyzer()))
    url = server.start()
    screen_dir = tmp_path / "screen"
    created = api(url, "/api/studies", "POST", {"title": "Shop", "consent": "We record your expressions.",
                                                "tasks": ["Browse", "Pay"], "screen": True,
                                                "quality": {"min_face_px": 20}})  # the stub's face: 30 px
    camera = write_y4m(tmp_path / "face.y4m", [face_frame_640])
    driver = chromium(tmp_path, camera, share_tab=True, height=900)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        state = lambda: by_id("screen-state").get_attribute("data-state")  # noqa: E731

        def begin(share=True):
            driver.get(created["participant_url"])
            by_id("agree").click()
            past_the_check(driver)
            by_id("share-screen" if share else "skip-screen").click()
            if share:
                wait.until(lambda d: state() == "recording")
            return body_attr(driver, "data-session")

        # 1. the participant stops sharing in the middle of a task: the recording ends there, the tasks go on
        sid = begin()
        driver.find_element(By.CSS_SELECTOR, "#tasks li .start").click()
        wait.until(lambda d: int(body_attr(d, "data-screen-chunks") or 0) >= 1)
        stop_sharing(driver)
        wait.until(lambda d: state() == "stopped")
        shared_s = int(body_attr(driver, "data-screen-recorded-ms")) / 1000
        assert "no longer recorded" in by_id("message").text
        n = int(body_attr(driver, "data-results"))
        wait.until(lambda d: int(body_attr(d, "data-results")) > n + 10)  # the camera's analysis goes on
        for li in driver.find_elements(By.CSS_SELECTOR, "#tasks li"):
            if li.get_attribute("data-state") != "running":
                li.find_element(By.CSS_SELECTOR, ".start").click()
                wait.until(lambda d: li.get_attribute("data-state") == "running")
            li.find_element(By.CSS_SELECTOR, ".done").click()
        wait.until(lambda d: by_id("thanks").is_displayed())
        info = wait_ready(url, sid)
        assert info["stop_reason"] == "stopped" and info["duration_s"] == pytest.approx(shared_s, abs=1.0)

        # 2. "Delete my data" on the thank-you page (asked, then confirmed): the recording goes with the
        # session's data, on disk too
        assert (screen_dir / f"r-{sid}" / "screen.webm").exists()
        by_id("delete-data").click()
        by_id("withdraw-yes").click()
        wait.until(lambda d: by_id("withdrawn").is_displayed())
        assert not (screen_dir / f"r-{sid}").exists()
        with pytest.raises(urllib.error.HTTPError) as gone:
            api(url, f"/api/sessions/{sid}/screen.webm")
        assert gone.value.code == 404
        assert api(url, f"/api/sessions/{sid}")["status"] == "withdrawn"

        # 2b. "Stop and delete my data" in the middle of a task while the screen is recorded: the recording
        # stops, nothing more is sent, and nothing of it is left
        sid = begin()
        driver.find_element(By.CSS_SELECTOR, "#tasks li .start").click()
        wait.until(lambda d: int(body_attr(d, "data-screen-chunks") or 0) >= 1)
        assert (screen_dir / f"r-{sid}").exists()
        by_id("withdraw").click()
        by_id("withdraw-yes").click()
        wait.until(lambda d: by_id("withdrawn").is_displayed())
        assert body_attr(driver, "data-withdrawn") == "deleted"
        assert not (screen_dir / f"r-{sid}").exists()
        detail = api(url, f"/api/sessions/{sid}")
        assert detail["status"] == "withdrawn" and detail["screen"] is None and detail["rows"] == 0
        time.sleep(5)  # a chunk's time: none comes, none is written
        assert not (screen_dir / f"r-{sid}").exists()
        assert driver.execute_script("return document.getElementById('video').srcObject") is None

        # 3. the tab is closed while recording: what was sent is kept, finalized (at most the last chunk lost)
        driver.switch_to.new_window("tab")
        keep = driver.current_window_handle
        driver.switch_to.window(driver.window_handles[0])
        sid = begin()
        wait.until(lambda d: int(body_attr(d, "data-screen-chunks") or 0) >= 2)
        sent = int(body_attr(driver, "data-screen-chunks"))
        closed_after = driver.execute_script(
            "return (performance.now() - Number(document.body.dataset.screenStartedAt)) / 1000")
        driver.close()
        driver.switch_to.window(keep)
        share_this_tab(driver)  # the new tab: the test's stand-in for the picker there too
        info = wait_ready(url, sid)
        assert info["stop_reason"] in ("closed", "session ended") and info["chunks"] >= sent
        assert closed_after - 4.5 <= info["duration_s"] <= closed_after + 1.0

        # 4. not sharing: the session goes on as before, without a recording
        sid = begin(share=False)
        assert by_id("screen-state").text == "not shared"
        for li in driver.find_elements(By.CSS_SELECTOR, "#tasks li"):
            li.find_element(By.CSS_SELECTOR, ".start").click()
            wait.until(lambda d: li.get_attribute("data-state") == "running")
            li.find_element(By.CSS_SELECTOR, ".done").click()
        wait.until(lambda d: by_id("thanks").is_displayed())
        detail = api(url, f"/api/sessions/{sid}")
        assert detail["screen"] is None and detail["frames"] > 0 and detail["tasks"]
        assert not (screen_dir / f"r-{sid}").exists()
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, logs
    finally:
        driver.quit()
        server.stop()


def test_hotspots_on_the_results_page_open_each_participant_at_that_moment(tmp_path):
    import asyncio

    import aiohttp

    from test_studies_insights import ScriptedAnalyzer, run_participants

    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN)
    server = ServerThread(create_app(settings, analyzer=ScriptedAnalyzer()))
    url = server.start()
    created = api(url, "/api/studies", "POST", {"title": "Checkout", "consent": "We record your expressions.",
                                                "tasks": ["Find a lamp", "Pay for it"],
                                                "quality": {"min_face_px": 20}})  # its face: 40 px

    async def participants():
        async with aiohttp.ClientSession(base_url=url) as http:
            return await run_participants(http, created, [True, True, True])

    sids = asyncio.run(participants())
    time.sleep(1.0)  # the writer's last flush
    found = api(url, f"/api/studies/{created['id']}/insights.json")
    assert [h["sessions"] for h in found["hotspots"]] == [3, 3]
    driver = chromium(tmp_path, height=900)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(url + f"studies?token={TOKEN}")
        driver.get(created["results_url"])
        canvas = driver.find_element(By.ID, "hotspot-timeline")
        wait.until(lambda d: canvas.get_attribute("data-hotspots") == "1")
        assert canvas.get_attribute("data-rows") == "3"
        items = driver.find_elements(By.CSS_SELECTOR, "#hotspot-list li")
        assert [i.find_element(By.CLASS_NAME, "hotspot-text").text for i in items] == [found["hotspots"][0]["text"]]
        members = items[0].find_elements(By.CSS_SELECTOR, "button.member")
        assert sorted(b.text.split()[0] for b in members) == ["S1", "S2", "S3"]
        member = found["hotspots"][0]["members"][1]
        button = next(b for b in members if b.get_attribute("data-session") == member["session"])
        button.click()  # no recording: the session opens with its cursor at the moment (3 s before it)
        wait.until(lambda d: d.find_element(By.ID, "session").get_attribute("data-session") == member["session"])
        wait.until(lambda d: abs(float(d.find_element(By.ID, "timeline-cursor").get_attribute("data-time") or -9)
                                 - member["play_from_s"]) < 0.01)
        assert "did not share" not in driver.find_element(By.ID, "screen-note").text  # the study records none
        Select = __import__("selenium.webdriver.support.select", fromlist=["Select"]).Select
        Select(driver.find_element(By.ID, "hotspot-task")).select_by_value("2")
        wait.until(lambda d: "into task 2" in d.find_element(By.ID, "hotspot-list").text)
        assert_accessible(driver, "results page: hotspots and a session without a recording")
        for width, height in ((1280, 720), (390, 844)):
            set_viewport(driver, width, height, mobile=width < 500)
            driver.execute_script("window.dispatchEvent(new Event('resize'))")
            time.sleep(0.3)
            box = driver.execute_script("""const r = document.getElementById('hotspot-timeline').getBoundingClientRect();
                const l = document.getElementById('hotspot-list').getBoundingClientRect();
                return {right: Math.max(r.right, l.right), width: r.width};""")
            assert box["right"] <= width and box["width"] > 0.8 * min(width - 40, 1200)
            # the hotspot's "3/3" label (the only near-white on the chart: axis and row labels are #bbb) is
            # drawn whole, above every moment bar (it used to sit in the first row, painted over by its bars)
            ink = driver.execute_script("""const c = document.getElementById('hotspot-timeline');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const bars = new Set(['229,57,53', '251,140,0', '251,192,45']);
                let top = c.height, bottom = -1, bar = c.height;
                for (let i = 0; i < d.length; i += 4) {
                  const y = Math.floor(i / 4 / c.width), rgb = `${d[i]},${d[i + 1]},${d[i + 2]}`;
                  if (Math.min(d[i], d[i + 1], d[i + 2]) >= 215) { top = Math.min(top, y); bottom = Math.max(bottom, y); }
                  else if (bars.has(rgb)) bar = Math.min(bar, y);
                }
                return {top, bottom, bar, height: c.height};""")
            assert ink["bottom"] - ink["top"] >= 8 and ink["bottom"] < ink["bar"] < ink["height"], ink
            if SHOTS:
                driver.execute_script("document.getElementById('hotspots').scrollIntoView()")
                driver.save_screenshot(str(Path(SHOTS) / f"study-hotspots-{width}x{height}.png"))
        assert sids
    finally:
        driver.quit()
        server.stop()


def test_the_studies_list_shows_screen_recorded_beside_a_long_title(tmp_path, server):
    """A study that records the screen says so in the researcher's list of studies, even when its title
    is long enough to be cut with an ellipsis: the tag is never cut with the title."""
    url = server.start()
    title = "Checkout of the lamp shop, second round, with the new payment form and the old basket"
    api(url, "/api/studies", "POST", {"title": title, "consent": "ok", "tasks": ["One"], "screen": True})
    api(url, "/api/studies", "POST", {"title": "Short", "consent": "ok", "tasks": ["One"]})
    driver = chromium(tmp_path)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(url + f"studies?token={TOKEN}")
        for width, height in ((1280, 720), (1920, 1080), (390, 844)):
            set_viewport(driver, width, height, mobile=width < 500)
            driver.get(url + "studies")
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#studies tbody tr")) == 2)
            cells = driver.execute_script("""return [...document.querySelectorAll('#studies tbody td.title')].map((td) => {
                const r = td.getBoundingClientRect(), t = td.querySelector('.title-text'), tag = td.querySelector('.tag');
                const b = tag && tag.getBoundingClientRect(), tr = t.getBoundingClientRect();
                return {text: t.textContent, cut: t.scrollWidth > t.clientWidth, hover: td.title,
                        tag: tag && tag.textContent, inside: !b || (b.left >= tr.right - 1 && b.right <= r.right + 0.5
                        && b.width > 20 && b.top >= r.top && b.bottom <= r.bottom)};
            });""")
            long_, short = sorted(cells, key=lambda c: -len(c["text"]))
            assert long_["text"] == title and long_["hover"] == title and long_["cut"], (width, long_)
            assert long_["tag"] == "screen recorded" and long_["inside"], (width, long_)
            assert short["text"] == "Short" and short["tag"] is None and not short["cut"], (width, short)
            if SHOTS and width == 390:
                driver.execute_script("document.getElementById('studies').scrollIntoView()")
                driver.save_screenshot(str(Path(SHOTS) / "studies-list-390x844.png"))
    finally:
        driver.quit()
