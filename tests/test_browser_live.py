"""End to end in a real browser: headless Chromium films a y4m of the astronaut as its camera,
streams it over real WebRTC to the server on loopback, and the page shows what the model sees."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.schema import COLUMNS
from ml.tracking import iou
from server import create_app, keys

from browser_support import ServerThread, chromium, needs_chromium

pytestmark = needs_chromium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def write_y4m(path: Path, frames, fps: int = 30) -> Path:
    """A YUV4MPEG2 file (4:2:0, what Chromium's fake camera plays) of BGR frames."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())  # Y plane, then U, then V
    return path


@pytest.fixture
def camera_y4m(tmp_path, face_frame_640):
    # a few frames with a little movement, as a real camera would give
    frames = [np.roll(face_frame_640, shift, axis=1) for shift in (0, 2, 4, 6, 4, 2)]
    return write_y4m(tmp_path / "astronaut.y4m", frames)


@pytest.fixture
def server(analyzer):
    srv = ServerThread(create_app(analyzer=analyzer))
    yield srv
    srv.stop()


def test_camera_face_is_labelled_happy_in_the_page_and_chart_moves(tmp_path, camera_y4m, server):
    url = server.start()
    driver = chromium(tmp_path, camera_y4m)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(url)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        wait.until(lambda d: by_id("conn-state").get_attribute("data-state") == "connected")
        assert by_id("message").get_attribute("hidden") is not None  # no error shown
        chart_before = driver.execute_script("return document.getElementById('chart').toDataURL()")

        by_id("start").click()
        # what the user sees: the label of the main face, in the readout and on the overlay
        wait.until(lambda d: by_id("current-label").get_attribute("data-label") == "happy")
        readout = driver.execute_script(
            "const t = id => document.getElementById(id).textContent;"
            "return [t('current-label'), t('current-confidence'), t('current-emoji'),"
            "        document.getElementById('overlay').dataset.faces]"
        )
        label, confidence, emoji, overlay_faces = readout
        assert label == "happy" and emoji == "\U0001F604", readout
        assert confidence.endswith("%") and 0 < int(confidence[:-1]) <= 100, readout
        assert int(overlay_faces) >= 1
        faces = driver.execute_script("return [...document.querySelectorAll('#faces li')].map(li => li.textContent)")
        assert faces and "happy" in faces[0], faces
        overlay_drawn = driver.execute_script(
            "const c = document.getElementById('overlay');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;"
        )
        assert overlay_drawn > 500, "no box or label drawn on the overlay"
        assert by_id("stream-state").get_attribute("data-state") == "connected"

        # the rolling chart moves: more samples, other pixels
        samples = int(by_id("chart").get_attribute("data-samples"))
        chart_mid = driver.execute_script("return document.getElementById('chart').toDataURL()")
        wait.until(lambda d: int(by_id("chart").get_attribute("data-samples")) >= samples + 5)
        time.sleep(0.3)
        chart_after = driver.execute_script("return document.getElementById('chart').toDataURL()")
        assert chart_before != chart_mid != chart_after

        # the chart's main face stays on the face: one id the whole time, every reported box on it
        main_ids = set()
        for _ in range(15):
            main_ids.add(by_id("chart").get_attribute("data-main-face"))
            time.sleep(0.1)
        timeline = driver.execute_script("return window.liveApp.timeline")
        reported = [f for r in timeline for f in r["faces"]]
        assert main_ids == {"1"} and {f["id"] for f in reported} == {1}, (main_ids, {f["id"] for f in reported})
        on_face = [iou(f["box"], (264 + shift, 104, 97, 97)) >= 0.4 for f in reported for shift in (0, 6)]
        assert all(a or b for a, b in zip(on_face[::2], on_face[1::2])), [f["box"] for f in reported]
        assert all(isinstance(f["held"], bool) and f["source"] == ("held" if f["held"] else "detected") for f in reported)

        # frames per second and latency are shown
        wait.until(lambda d: by_id("fps").text.isdigit() and int(by_id("fps").text) >= 2)
        assert by_id("latency").text.endswith(" ms")
        assert by_id("download-csv").is_enabled() and by_id("download-json").is_enabled()
        csv = driver.execute_script("return window.liveApp.timelineCsv()")
        header, *rows = csv.strip().split("\n")
        assert header.split(",") == list(COLUMNS)  # the app's one schema, the same as ml.analyze's CSV
        happy = [dict(zip(COLUMNS, r.split(","))) for r in rows if ",happy," in r]
        assert len(happy) >= 3
        assert all(r["utc"].endswith("Z") and r["utc"][:2] == "20" and r["face"] == "1" for r in happy)
        assert all(float(r["confidence"]) == float(r["happy"]) > 0.5 for r in happy)
        assert {r["source"] for r in happy} <= {"detected", "held"} and "detected" in {r["source"] for r in happy}

        assert server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 1
        by_id("stop").click()
        wait.until(lambda d: by_id("stream-state").get_attribute("data-state") == "idle")
        assert by_id("start").is_enabled()
        deadline = time.time() + 10
        while server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) and time.time() < deadline:
            time.sleep(0.1)
        assert server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 0

        # the server goes away: the page says so
        server.stop()
        wait.until(lambda d: by_id("message").is_displayed())
        assert "server is gone" in by_id("message").text
        assert by_id("conn-state").get_attribute("data-state") in ("disconnected", "connecting")
    finally:
        driver.quit()


def test_refused_camera_and_missing_webrtc_get_clear_messages(tmp_path, server):
    url = server.start()
    driver = chromium(tmp_path, None, allow_camera=False)
    try:
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        driver.get(url)
        wait.until(lambda d: d.find_element(By.ID, "conn-state").get_attribute("data-state") == "connected")
        driver.find_element(By.ID, "start").click()
        message = driver.find_element(By.ID, "message")
        wait.until(lambda d: message.is_displayed())
        assert "Camera access was refused" in message.text
        assert driver.find_element(By.ID, "start").is_enabled()
        assert server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 0

        # a browser without WebRTC
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;"})
        driver.get(url)
        message = driver.find_element(By.ID, "message")
        wait.until(lambda d: message.is_displayed())
        assert "no WebRTC" in message.text
    finally:
        driver.quit()


def test_busy_server_refusal_is_shown_and_the_page_can_start_again(tmp_path, server):
    url = server.start()
    server.call(lambda: setattr(server.app[keys.SETTINGS], "max_streams", 0))  # every slot taken
    driver = chromium(tmp_path, None)  # Chromium's own fake camera pattern
    try:
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        driver.get(url)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        wait.until(lambda d: by_id("conn-state").get_attribute("data-state") == "connected")
        by_id("start").click()
        wait.until(lambda d: by_id("message").is_displayed())
        assert "Server: the server is busy" in by_id("message").text
        wait.until(lambda d: by_id("stream-state").get_attribute("data-state") == "idle")
        assert by_id("start").is_enabled() and not by_id("stop").is_enabled()
        assert driver.execute_script("return document.getElementById('video').srcObject") is None  # camera off
    finally:
        driver.quit()


def test_a_cut_to_an_empty_room_clears_the_face_at_once_everywhere_on_the_page(tmp_path, server):
    """The camera's picture cuts between a person and an empty room (the fake camera loops 1.5 s of
    each): the face ends at the cut, with no held box left on the room, and the overlay, the readout
    and the class view always show the same faces."""
    from test_browser_page import open_class_view
    from test_shot_cuts import ROOM, A

    frames = [np.roll(A[0], k % 3, axis=1) for k in range(45)] + [ROOM[0]] * 45
    url = server.start()
    driver = chromium(tmp_path, write_y4m(tmp_path / "cuts.y4m", frames))
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(url)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        wait.until(lambda d: by_id("conn-state").get_attribute("data-state") == "connected")
        open_class_view(driver, wait)  # it asks first whether everyone in view agreed
        by_id("start").click()
        wait.until(lambda d: d.execute_script("return window.liveApp.timeline.length") > 0)
        agree = []
        deadline = time.time() + 12
        while time.time() < deadline:  # page state between two results: all three agree
            agree.append(driver.execute_script(
                "return [document.querySelectorAll('#faces li').length,"
                "        +document.getElementById('classview-count').dataset.faces,"
                "        document.getElementById('current-label').textContent]"))
            time.sleep(0.05)
        timeline = driver.execute_script("return window.liveApp.timeline")
        by_id("stop").click()
    finally:
        driver.quit()
    assert all(n == classview and (label == "no face") == (n == 0) for n, classview, label in agree), agree
    assert {n for n, _, _ in agree} == {0, 1}, "both the person and the empty room were shown"
    faces = [r["faces"] for r in timeline]
    ends = [k for k in range(1, len(faces)) if faces[k - 1] and not faces[k]]  # the face gone: the cut
    assert len(ends) >= 2, "the loop cuts to the room several times"
    # what was shown just before each cut: found in its frame, not held (a held tail would be the face's
    # box left on the empty room, for up to 0.5 s: several results)
    tails = []
    for k in ends:
        j = k - 1
        while j >= 0 and faces[j] and all(f["source"] == "held" for f in faces[j]):
            j -= 1
        tails.append(k - 1 - j)
    assert max(tails) <= 1 and sum(tails) <= len(tails) // 2, tails
    assert all(f["source"] in ("detected", "held") for r in faces for f in r)
