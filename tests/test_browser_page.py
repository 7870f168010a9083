"""The live page as a teacher projects it and a phone shows it, in headless Chromium with a fake
camera filming the smiling astronaut: presentation mode at three screen sizes (checked by element
geometry, with screenshots) before the camera starts and while it runs, with its "inferring"
indicator; two faces' labels that never overlap or leave the picture; chart time axes whose
labels never collide; the last session's summary in view after Stop; the class view, the camera
choice, the mirror, the idle state after Stop, and the class emoji in colour.

FER_SCREENSHOTS=docs/screenshots python3 -m pytest -q tests/test_browser_page.py   also saves the
screenshots there (the README shows them); otherwise they go to pytest's tmp_path.
"""

import json
import os
import time

import numpy as np
import pytest

from server import create_app

import samples
from browser_support import ServerThread, chromium, needs_chromium, screenshot, set_viewport
from test_browser_live import write_y4m

pytestmark = needs_chromium
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SCREENS = [("projector", 1280, 720, 1.0, False), ("full-hd", 1920, 1080, 1.0, False), ("phone", 390, 844, 2.0, True)]


@pytest.fixture
def camera_y4m(tmp_path, face_frame_640):
    frames = [np.roll(face_frame_640, shift, axis=1) for shift in (0, 2, 4, 6, 4, 2)]
    return write_y4m(tmp_path / "astronaut.y4m", frames)


@pytest.fixture
def page(tmp_path, camera_y4m, analyzer):
    server = ServerThread(create_app(analyzer=analyzer))
    url = server.start()
    driver = chromium(tmp_path, camera_y4m)
    yield driver, url
    driver.quit()
    server.stop()


def rect(driver, selector: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height};",
        selector,
    )


def assert_inside(driver, selector: str, width: int, height: int, what: str):
    r = rect(driver, selector)
    assert r["width"] > 0 and r["height"] > 0, f"{what} ({selector}) is not shown: {r}"
    slack = 0.5
    assert r["left"] >= -slack and r["top"] >= -slack, f"{what} starts off screen at {width}x{height}: {r}"
    assert r["right"] <= width + slack and r["bottom"] <= height + slack, f"{what} runs off screen at {width}x{height}: {r}"
    return r


def overlap(a, b) -> bool:
    """Two rectangles (x, y, w, h) share some area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def box(r: dict) -> tuple:
    return (r["left"], r["top"], r["width"], r["height"])


def check_overlay_labels(driver, wait, name: str, min_height: float = 20, faces: int = 1):
    """Every label drawn on the video (overlay's data-labels, CSS pixels) lies inside the picture, none
    over another or over the "inferring" indicator; one per face."""
    wait.until(lambda d: d.find_element(By.ID, "overlay").get_attribute("width")
               == str(round(d.execute_script("const o = document.getElementById('overlay');"
                                             "return o.clientWidth * devicePixelRatio"))))
    wait.until(lambda d: json.loads(d.find_element(By.ID, "overlay").get_attribute("data-labels") or "[]"))
    time.sleep(0.2)
    ow, oh = driver.execute_script("const o = document.getElementById('overlay'); return [o.clientWidth, o.clientHeight]")
    wait.until(lambda d: len(json.loads(d.find_element(By.ID, "overlay").get_attribute("data-labels"))) == faces)
    labels, picture, indicator, overlay = driver.execute_script(
        "const o = document.getElementById('overlay'), i = document.getElementById('inferring').getBoundingClientRect();"
        "const r = o.getBoundingClientRect();"
        "return [JSON.parse(o.dataset.labels), JSON.parse(o.dataset.picture), [i.left - r.left, i.top - r.top, i.width, i.height],"
        "        [r.width, r.height]]")
    assert labels, f"no label on the video at {name}"
    px, py, pw, ph = picture
    assert pw <= ow + 0.5 and ph <= oh + 0.5, (name, picture, (ow, oh))
    for i, (x, y, w, h) in enumerate(labels):
        assert x >= px - 0.5 and y >= py - 0.5 and x + w <= px + pw + 0.5 and y + h <= py + ph + 0.5, \
            f"a label leaves the picture at {name}: {(x, y, w, h)} outside {picture}"
        assert h >= min_height, f"overlay label too small at {name}: {h}px"
        assert not overlap((x, y, w, h), indicator), f"a label covers the indicator at {name}: {(x, y, w, h)}, {indicator}"
        for other in labels[i + 1:]:
            assert not overlap((x, y, w, h), other), f"two labels overlap at {name}: {(x, y, w, h)} and {other}"
    return labels


def open_and_start(driver, url: str) -> WebDriverWait:
    """Open the page, wait for the server connection, press Start."""
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    driver.get(url)
    wait.until(lambda d: d.find_element(By.ID, "conn-state").get_attribute("data-state") == "connected")
    driver.find_element(By.ID, "start").click()
    return wait


def open_class_view(driver, wait) -> None:
    """The Class view button; its first use in this browser asks whether everyone in view agreed: yes."""
    driver.find_element(By.ID, "classview-toggle").click()
    if driver.execute_script("return localStorage.getItem('fer.classview-agreed')") != "yes":
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "dialog#classview-consent[open] .ask-ok")).click()
    wait.until(lambda d: d.find_element(By.ID, "classview").is_displayed())


def start_and_wait_for_happy(driver, url: str) -> WebDriverWait:
    wait = open_and_start(driver, url)
    wait.until(lambda d: d.find_element(By.ID, "current-label").get_attribute("data-label") == "happy")
    return wait


def test_presentation_mode_fits_projector_full_hd_and_phone(page, tmp_path):
    driver, url = page
    set_viewport(driver, 1280, 720)
    wait = start_and_wait_for_happy(driver, url)

    # the ordinary page at 1280x720 already shows the video, the label and the chart together
    for selector, what in (("#stage", "video"), ("#current-label", "main label"), ("#chart", "chart")):
        assert_inside(driver, selector, 1280, 720, what)
    need = 150 if os.environ.get("FER_SCREENSHOTS") else 30  # the README's screenshot: a few seconds of chart
    wait.until(lambda d: int(d.find_element(By.ID, "chart").get_attribute("data-samples")) >= need)
    screenshot(driver, tmp_path, "live")

    # the ordinary page on a phone: the label on the video stays whole, the chart is readable
    set_viewport(driver, 390, 844, 2.0, True)
    wait.until(lambda d: d.execute_script("return innerWidth") == 390)
    check_overlay_labels(driver, wait, "phone page")
    chart = rect(driver, "#chart")
    assert chart["height"] >= 150 and chart["width"] <= 390, chart
    assert float(driver.execute_script("return parseFloat(getComputedStyle(document.getElementById('chart')).fontSize)")) >= 14
    assert driver.execute_script("return document.scrollingElement.scrollWidth") <= 390  # no sideways scrolling
    screenshot(driver, tmp_path, "live-phone")
    set_viewport(driver, 1280, 720)
    wait.until(lambda d: d.execute_script("return innerWidth") == 1280)

    # the Present button: fullscreen layout, controls hidden once the mouse rests
    driver.find_element(By.ID, "present").click()
    wait.until(lambda d: "present" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
    assert "present" in driver.current_url
    assert driver.find_element(By.ID, "present").get_attribute("aria-pressed") == "true"
    wait.until(lambda d: "controls-hidden" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
    wait.until(lambda d: not d.find_element(By.ID, "stop").is_displayed())
    ActionChains(driver).move_by_offset(50, 50).perform()
    wait.until(lambda d: d.find_element(By.ID, "stop").is_displayed())
    driver.find_element(By.ID, "present").click()  # leave it again
    wait.until(lambda d: "present" not in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
    assert driver.execute_script("return document.fullscreenElement") is None

    # ?present in the address opens it directly; before the camera starts, the controls cover nothing
    driver.get(url + "?present")
    wait.until(lambda d: d.find_element(By.ID, "conn-state").get_attribute("data-state") == "connected")
    assert "present" in driver.find_element(By.TAG_NAME, "body").get_attribute("class")
    for name, width, height, scale, mobile in SCREENS:
        set_viewport(driver, width, height, scale, mobile)
        wait.until(lambda d: d.execute_script("return [innerWidth, innerHeight]") == [width, height])
        controls = assert_inside(driver, "#controls", width, height, "controls")
        label = assert_inside(driver, "#current-label", width, height, "'camera off' label")
        hint = assert_inside(driver, "#stage-hint", width, height, "'Press Start camera' hint")
        assert driver.find_element(By.ID, "current-label").text == "camera off"
        for what, r in (("the 'camera off' label", label), ("the hint", hint)):
            assert not overlap(box(controls), box(r)), f"the controls cover {what} at {name}: {controls}, {r}"
        assert label["height"] >= 28, (name, label)
        assert driver.execute_script("return document.scrollingElement.scrollHeight") <= height + 1, name
        screenshot(driver, tmp_path, f"present-{name}-idle")
    set_viewport(driver, 1280, 720)
    driver.find_element(By.ID, "start").click()
    wait.until(lambda d: d.find_element(By.ID, "current-label").get_attribute("data-label") == "happy")

    for name, width, height, scale, mobile in SCREENS:
        set_viewport(driver, width, height, scale, mobile)
        wait.until(lambda d: d.execute_script("return [innerWidth, innerHeight]") == [width, height])
        time.sleep(0.3)  # the chart redraws every 100 ms
        stage = assert_inside(driver, "#stage", width, height, "video")
        assert stage["height"] >= 0.3 * height, (name, stage)
        label = assert_inside(driver, "#current-label", width, height, "main label")
        assert label["height"] >= 28, f"main label too small to read from the back at {name}: {label}"
        assert_inside(driver, "#current-confidence", width, height, "confidence")
        chart = assert_inside(driver, "#chart", width, height, "chart")
        assert chart["height"] >= 150, (name, chart)
        chart_font = float(driver.execute_script("return parseFloat(getComputedStyle(document.getElementById('chart')).fontSize)"))
        assert chart_font >= 14, (name, chart_font)
        assert_inside(driver, "#legend", width, height, "legend")
        # people in view are told, in letters for the back of the room
        indicator = assert_inside(driver, "#inferring", width, height, "'inferring' indicator")
        font = float(driver.execute_script("return parseFloat(getComputedStyle(document.getElementById('inferring')).fontSize)"))
        assert font >= max(18, 0.034 * min(width, height)), (name, font)
        assert indicator["right"] <= stage["right"] + 0.5 and indicator["top"] >= stage["top"] - 0.5, (name, indicator, stage)
        check_overlay_labels(driver, wait, name, min_height=30)
        # the page does not scroll: everything is on this one screen
        assert driver.execute_script("return document.scrollingElement.scrollHeight") <= height + 1, name
        wait.until(lambda d: not d.find_element(By.ID, "stop").is_displayed())
        screenshot(driver, tmp_path, f"present-{name}")

    # the class view in presentation mode: below the video, everything still on the screen
    set_viewport(driver, 1280, 720)
    ActionChains(driver).move_by_offset(5, 5).perform()
    wait.until(lambda d: d.find_element(By.ID, "classview-toggle").is_displayed())
    open_class_view(driver, wait)
    wait.until(lambda d: d.find_element(By.ID, "classview-count").get_attribute("data-faces") == "1")
    wait.until(lambda d: int(d.find_element(By.ID, "classview-chart").get_attribute("data-buckets")) >= 1)
    for selector, what in (("#stage", "video"), ("#current-label", "main label"), ("#classview-count", "face count"),
                           ("#classview-chart", "class chart")):
        assert_inside(driver, selector, 1280, 720, what)
    assert rect(driver, "#classview-chart")["height"] >= 100
    assert driver.execute_script("return document.scrollingElement.scrollHeight") <= 721
    wait.until(lambda d: not d.find_element(By.ID, "stop").is_displayed())
    screenshot(driver, tmp_path, "present-classview")


def test_camera_choice_mirror_idle_state_and_class_view(page, tmp_path):
    driver, url = page
    set_viewport(driver, 1280, 900)
    wait = start_and_wait_for_happy(driver, url)
    by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731

    # the camera picker lists the cameras by name once allowed, and remembers the one in use
    options = driver.execute_script("return [...document.querySelectorAll('#camera option')].map(o => [o.value, o.text])")
    used = driver.execute_script("return document.getElementById('video').srcObject.getVideoTracks()[0].getSettings().deviceId")
    assert used and [used, options[[v for v, _ in options].index(used)][1]] in options, options
    wait.until(lambda d: by_id("camera").get_attribute("value") == used)
    assert driver.execute_script("return localStorage.getItem('fer.camera')") == used

    # class view: the count of faces, the share now, a chip per face, the chart over the last minutes
    open_class_view(driver, wait)
    wait.until(lambda d: by_id("classview-count").get_attribute("data-faces") == "1")
    assert by_id("classview-count").text == "1 face"
    # (re-drawn with every result: read in one go)
    chips, happy_now, zero, zero_classes = driver.execute_script(
        "const q = (s) => document.querySelector(s);"
        "return [[...document.querySelectorAll('#classview-strip li')].map(li => [li.dataset.label, li.textContent]),"
        "        q('#classview-now li[data-class=happy]').dataset.share,"
        "        q('#classview-now li.share-zero').textContent, q('#classview-now li.share-zero').dataset.classes]")
    assert [c[0] for c in chips] == ["happy"] and "happy" in chips[0][1], chips
    assert float(happy_now) == 1.0
    assert zero.startswith("0%:") and len(zero_classes.split()) == 6, zero
    wait.until(lambda d: int(by_id("classview-chart").get_attribute("data-buckets")) >= 2)
    driver.execute_script("document.getElementById('classview').scrollIntoView()")
    screenshot(driver, tmp_path, "classview")
    assert by_id("classview").get_attribute("hidden") is None

    # mirror: display only, remembered
    assert "scaleX(-1)" in driver.execute_script("return getComputedStyle(document.getElementById('video')).transform") \
        or "matrix(-1" in driver.execute_script("return getComputedStyle(document.getElementById('video')).transform")
    by_id("mirror").click()
    assert driver.execute_script("return getComputedStyle(document.getElementById('video')).transform") == "none"
    assert driver.execute_script("return localStorage.getItem('fer.mirror')") == "off"

    # Stop: the camera is off, nothing is claimed about anyone; the session's shares stay
    time.sleep(1.0)
    by_id("stop").click()
    wait.until(lambda d: by_id("stream-state").get_attribute("data-state") == "idle")
    assert by_id("current-label").text == "camera off" and by_id("current-label").get_attribute("data-label") == ""
    assert by_id("current-confidence").text == "" and by_id("current-emoji").text == ""
    assert driver.find_elements(By.CSS_SELECTOR, "#faces li") == []
    wait.until(lambda d: by_id("overlay").get_attribute("data-faces") == "0")
    assert by_id("session-summary").is_displayed()
    assert "Share of face time" in by_id("session-text").text
    happy = driver.find_element(By.CSS_SELECTOR, '#session-shares li[data-class="happy"]')
    assert float(happy.get_attribute("data-share")) > 0.8 and "happy" in happy.text
    assert by_id("classview-count").text == "no faces"
    screenshot(driver, tmp_path, "idle")

    # the choices survive a reload
    driver.refresh()
    wait.until(lambda d: by_id("camera").get_attribute("value") == used)
    assert not by_id("mirror").is_selected()
    assert driver.execute_script("return getComputedStyle(document.getElementById('video')).transform") == "none"


def test_switching_camera_while_streaming_keeps_the_session(tmp_path, analyzer):
    """Another camera (Chromium's fake ones, its test pattern: no face): the other one is chosen while
    streaming; a new session starts with it (one on the server), and results keep coming."""
    from server import keys

    server = ServerThread(create_app(analyzer=analyzer))
    url = server.start()
    driver = chromium(tmp_path, None, cameras=3)  # Chromium's second fake camera is a depth camera (Y16)
    try:
        wait = open_and_start(driver, url)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        wait.until(lambda d: int(by_id("chart").get_attribute("data-samples")) >= 5)
        wait.until(lambda d: by_id("camera").get_attribute("data-cameras") == "3")
        track_id = ("const s = document.getElementById('video').srcObject;"
                    "return s && s.getVideoTracks()[0].getSettings().deviceId")
        used = driver.execute_script(track_id)
        options = driver.execute_script("return [...document.querySelectorAll('#camera option')].map(o => o.value)")
        other = options[-1]  # the third: an ordinary colour camera (MJPEG)
        assert other and other != used
        samples = int(by_id("chart").get_attribute("data-samples"))
        driver.execute_script("const s = document.getElementById('camera'); s.value = arguments[0];"
                              "s.dispatchEvent(new Event('change'))", other)
        wait.until(lambda d: d.execute_script(track_id) == other)
        assert samples >= 5
        wait.until(lambda d: int(by_id("chart").get_attribute("data-samples")) >= 10)  # the new session's
        assert by_id("stream-state").get_attribute("data-state") == "connected"
        assert by_id("message").get_attribute("hidden") is not None  # no error
        assert driver.execute_script("return localStorage.getItem('fer.camera')") == other
        deadline = time.time() + 10
        while server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) != 1 and time.time() < deadline:
            time.sleep(0.1)
        assert server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 1  # the first one is closed
        # the old camera is off: only one live track
        assert driver.execute_script("return document.getElementById('video').srcObject.getTracks()"
                                     ".filter(t => t.readyState === 'live').length") == 1
    finally:
        driver.quit()
        server.stop()


def two_faces_frame(face_frame_640, gap: int = 0) -> np.ndarray:
    """Two people side by side, shoulder to shoulder: the astronaut's head and shoulders twice
    (faces found near x = 166 and 374, 99 px wide, in 640x480)."""
    person = samples.astronaut_bgr()[20:300, 120:330]
    frame = np.full((480, 640, 3), 90, np.uint8)
    h, w = person.shape[:2]
    for x in (320 - gap // 2 - w, 320 + gap // 2):
        frame[100:100 + h, x:x + w] = person
    return frame


def chart_ticks(driver, wait, canvas_id: str) -> list:
    """The time axis labels drawn under a chart, once it is drawn at its present size."""
    wait.until(lambda d: d.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "return c.width === Math.round(c.clientWidth * devicePixelRatio) && !!c.dataset.ticks", canvas_id))
    time.sleep(0.6)  # the class view redraws at most every 500 ms
    ticks, width = driver.execute_script(
        "const c = document.getElementById(arguments[0]); return [JSON.parse(c.dataset.ticks), c.clientWidth]", canvas_id)
    return ticks, width


def check_time_axis(ticks, width, what):
    assert len(ticks) >= 2 and ticks[-1][2] == "now", (what, ticks)
    for left, right, text in ticks:
        assert left >= -0.5 and right <= width + 0.5, f"{what}: {text!r} leaves the chart ({left}, {right}) of {width}"
    for (_, right, a), (left, _, b) in zip(ticks, ticks[1:]):
        assert left >= right + 4, f"{what}: {a!r} and {b!r} collide ({right} > {left})"


def test_two_faces_labels_time_axes_and_the_summary_after_stop(tmp_path, analyzer, face_frame_640):
    """Two people side by side, at 1280x720, 1920x1080 and on a 390x844 phone: both faces labelled,
    the labels never over each other, the indicator or off the picture (the page and presentation
    mode); the charts' time axis labels never collide; after Stop, the last session's summary is
    on the screen (not below the fold)."""
    frames = [np.roll(two_faces_frame(face_frame_640), s, axis=1) for s in (0, 2, 4, 2)]
    camera = write_y4m(tmp_path / "two.y4m", frames)
    server = ServerThread(create_app(analyzer=analyzer))
    url = server.start()
    driver = chromium(tmp_path, camera)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(url)
        driver.execute_script("localStorage.setItem('fer.classview-agreed', 'yes')")  # the question: test_accessibility
        for name, width, height, scale, mobile in SCREENS:
            set_viewport(driver, width, height, scale, mobile)
            open_and_start(driver, url)
            wait.until(lambda d: d.execute_script("return innerWidth") == width)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#faces li[data-label="happy"]')) == 2)
            check_overlay_labels(driver, wait, f"page at {name}", faces=2)
            if name == "phone":
                screenshot(driver, tmp_path, "two-faces-phone")
            check_time_axis(*chart_ticks(driver, wait, "chart"), f"live chart at {name}")
            driver.find_element(By.ID, "classview-toggle").click()
            wait.until(lambda d: int(d.find_element(By.ID, "classview-chart").get_attribute("data-buckets")) >= 1)
            check_time_axis(*chart_ticks(driver, wait, "classview-chart"), f"class view chart at {name}")
            driver.find_element(By.ID, "classview-toggle").click()
            driver.execute_script("window.scrollTo(0, 0)")
            wait.until(lambda d: d.execute_script("return scrollY") == 0)
            driver.find_element(By.ID, "stop").click()
            wait.until(lambda d: d.find_element(By.ID, "session-summary").is_displayed())
            summary = assert_inside(driver, "#session-summary h2", width, height, "the last session's heading")
            assert_inside(driver, "#session-shares li", width, height, "the last session's first share")
            assert summary["top"] >= 0, name
            if name == "phone":
                screenshot(driver, tmp_path, "stopped-phone")
        # presentation mode
        driver.get(url + "?present")
        for name, width, height, scale, mobile in SCREENS:
            set_viewport(driver, width, height, scale, mobile)
            if name == "projector":
                wait.until(lambda d: d.find_element(By.ID, "conn-state").get_attribute("data-state") == "connected")
                driver.find_element(By.ID, "start").click()
            wait.until(lambda d: d.execute_script("return [innerWidth, innerHeight]") == [width, height])
            check_overlay_labels(driver, wait, f"presentation at {name}", min_height=30, faces=2)
            if name == "phone":
                screenshot(driver, tmp_path, "two-faces-present-phone")
    finally:
        driver.quit()
        server.stop()


def test_every_class_emoji_renders_in_colour(page):
    """On a machine without a colour emoji font (this Debian has only DejaVu and Liberation), the
    page's own font (static/fonts) draws every class's emoji: a glyph of its own width, in colour,
    not the missing-glyph box."""
    driver, url = page
    driver.get(url)
    config = json.loads(driver.find_element(By.ID, "config").get_attribute("textContent"))
    result = driver.execute_async_script(
        """
        const [emoji, done] = arguments;
        const font = '48px "FER Emoji", system-ui, sans-serif';
        document.fonts.load(font, Object.values(emoji).join('')).then(() => {
          const c = document.createElement('canvas');
          c.width = c.height = 80;
          const ctx = c.getContext('2d', { willReadFrequently: true });
          ctx.font = font;
          const missing = ctx.measureText('\\u{10FFFD}').width;   // a code point no font has
          const out = {};
          for (const [cls, e] of Object.entries(emoji)) {
            ctx.clearRect(0, 0, 80, 80);
            ctx.fillStyle = '#000';
            ctx.textBaseline = 'top';
            ctx.fillText(e, 8, 8);
            const d = ctx.getImageData(0, 0, 80, 80).data;
            let colour = 0;
            for (let i = 0; i < d.length; i += 4) {
              if (d[i + 3] > 128 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) colour++;
            }
            // the legend, in the page's own text
            const li = document.querySelector(`#legend li[data-class="${cls}"]`);
            const r = document.createRange();
            const node = [...li.childNodes].find((n) => n.nodeType === 3);
            r.setStart(node, node.textContent.indexOf(e));
            r.setEnd(node, node.textContent.indexOf(e) + e.length);
            out[cls] = { width: ctx.measureText(e).width, missing, colour, legend: r.getBoundingClientRect().width };
          }
          done(out);
        });
        """,
        config["emoji"],
    )
    assert set(result) == set(config["classes"])
    for cls, m in result.items():
        assert m["width"] > 0 and abs(m["width"] - m["missing"]) > 2, (cls, m)
        assert m["colour"] > 200, f"{cls}'s emoji is not drawn in colour: {m}"
        assert m["legend"] > 10, (cls, m)
