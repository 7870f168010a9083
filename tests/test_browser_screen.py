"""Screen recording in a real headless Chromium: a participant with a fake camera shares their tab (a real tab
capture, recorded by the browser's MediaRecorder and sent in chunks), does the tasks and finishes, or
stops sharing, or deletes their data; the researcher's session page plays the recording beside the
timeline, in sync (the recording's clock and the results' clock within 0.2 s)."""

import json
import os
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from server import ScreenSettings, Settings, create_app, keys

from browser_support import ServerThread, chromium, needs_chromium, set_viewport
from test_browser_live import write_y4m

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
    deadline = time.monotonic() + timeout
    while True:
        info = api(url, f"/api/sessions/{sid}/screen")
        if info["status"] in ("ready", "failed") or time.monotonic() > deadline:
            assert info["status"] == "ready", info
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
        wait.until(lambda d: by_id("screen-step").is_displayed())  # after the camera works, before the tasks
        tasks = driver.find_elements(By.CSS_SELECTOR, "#tasks li")
        assert not tasks[0].find_element(By.CSS_SELECTOR, ".start").is_enabled()
        by_id("share-screen").click()
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "recording")
        recording_from = time.monotonic()
        assert not by_id("screen-step").is_displayed()
        sid = body_attr(driver, "data-session")
        for li in tasks:
            li.find_element(By.CSS_SELECTOR, ".start").click()
            wait.until(lambda d: li.get_attribute("data-state") == "running")
            time.sleep(4)
            li.find_element(By.CSS_SELECTOR, ".done").click()
        wait.until(lambda d: by_id("thanks").is_displayed())
        recorded_s = time.monotonic() - recording_from
        wait.until(lambda d: by_id("screen-state").get_attribute("data-state") == "saved")
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
