"""Accessibility (WCAG 2.2 AA) in headless Chromium: axe-core finds no serious or critical violation on
any page in any state (the live page idle, streaming, with its chart's table, the class view and its
question, presentation mode, after Stop, on a phone; an upload's result and its "Delete now" question;
the responsible-use page; the researcher's login, studies list and results with a live participant;
every step a participant sees: the camera check failing and passed, the screen to share and the screen
recorded, "Stop and delete my data" and its result; the results page with its glossary, sessions table
and a session, with its screen recording playing beside its moments, and the hotspots, on a phone too;
the charts' tables on the participant's page and the live cards); every control is reached and worked with the keyboard alone, with a
visible focus; the main face's expression is announced politely, only on a change, at most every few
seconds; prefers-reduced-motion is respected; and people in view are told while their expressions are
inferred."""

import json
import time
import urllib.request

import cv2
import numpy as np
import pytest

from server import ScreenSettings, Settings, UploadSettings, create_app

from axe_support import assert_accessible
from browser_support import ServerThread, chromium, needs_chromium, screenshot, set_viewport
from test_browser_live import write_y4m
from test_server import StubAnalyzer

pytestmark = needs_chromium
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "accessibility-token-0123456789"
SCREENS = [(1280, 720, 1.0, False), (1920, 1080, 1.0, False), (390, 844, 2.0, True)]


@pytest.fixture
def camera(tmp_path, face_frame_640):
    return write_y4m(tmp_path / "astronaut.y4m", [np.roll(face_frame_640, s, axis=1) for s in (0, 2, 4, 6, 4, 2)])


def by_id(driver, name):
    return driver.find_element(By.ID, name)


def connected(driver, url: str) -> WebDriverWait:
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    driver.get(url)
    wait.until(lambda d: by_id(d, "conn-state").get_attribute("data-state") == "connected")
    return wait


def test_live_page_and_upload_in_every_state(tmp_path, analyzer, camera, astronaut_bgr):
    image = tmp_path / "class photo.png"
    cv2.imwrite(str(image), astronaut_bgr)
    app = create_app(Settings(uploads=UploadSettings(directory=tmp_path / "uploads")), analyzer=analyzer)
    with ServerThread(app) as url:
        driver = chromium(tmp_path, camera)
        try:
            set_viewport(driver, 1280, 720)
            wait = connected(driver, url)
            assert not by_id(driver, "inferring").is_displayed()  # nothing is inferred before the camera starts
            assert_accessible(driver, "live page, idle")

            by_id(driver, "start").click()
            wait.until(lambda d: by_id(d, "current-label").get_attribute("data-label") == "happy")
            indicator = by_id(driver, "inferring")
            assert indicator.is_displayed() and indicator.text == "Inferring facial expressions"
            assert indicator.get_attribute("role") == "status"
            assert_accessible(driver, "live page, streaming")

            # the chart's text alternative: the shares as a table, under the chart
            driver.find_element(By.CSS_SELECTOR, "#chart-box details.chart-table summary").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-table tbody tr")) == 7)
            # read in one script: the table is rebuilt at each result (an element found before may be gone)
            happy_js = ("const td = document.querySelector('#chart-table tr[data-class=\"happy\"] td');"
                        "return td ? td.textContent.trim() : null;")
            wait.until(lambda d: d.execute_script(happy_js) not in (None, "–"))
            happy_now = driver.execute_script(happy_js)
            assert float(happy_now.rstrip("%")) > 50, happy_now
            assert by_id(driver, "chart").get_attribute("aria-describedby") == "chart-table-caption"
            assert_accessible(driver, "live page, the chart as a table")

            # the class view: its first use asks, in a dialog, whether everyone in view agreed
            by_id(driver, "classview-toggle").click()
            dialog = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "dialog#classview-consent[open]"))
            assert "agreed" in dialog.text and "Article 5(1)(f)" in dialog.text
            assert_accessible(driver, "class view's question")
            dialog.find_element(By.CSS_SELECTOR, ".ask-ok").click()
            wait.until(lambda d: by_id(d, "classview-count").get_attribute("data-faces") == "1")
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#classview-table tbody tr")) == 7)
            assert_accessible(driver, "class view")

            by_id(driver, "present").click()
            wait.until(lambda d: "present" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
            assert by_id(driver, "inferring").is_displayed()
            assert_accessible(driver, "presentation mode with the class view, streaming")
            ActionChains(driver).move_by_offset(10, 10).perform()
            wait.until(lambda d: by_id(d, "present").is_displayed())
            by_id(driver, "present").click()
            wait.until(lambda d: "present" not in d.find_element(By.TAG_NAME, "body").get_attribute("class"))

            by_id(driver, "stop").click()
            wait.until(lambda d: by_id(d, "session-summary").is_displayed())
            assert not by_id(driver, "inferring").is_displayed()  # the camera is off: the light is too
            assert_accessible(driver, "live page after Stop, last session's summary")

            # an upload's result, and its "Delete now" question
            by_id(driver, "upload-file").send_keys(str(image))
            wait.until(lambda d: by_id(d, "upload-start").is_enabled())
            by_id(driver, "upload-start").click()
            wait.until(lambda d: by_id(d, "upload-section").get_attribute("data-status") == "done")
            assert len(driver.find_elements(By.CSS_SELECTOR, "#upload-table tbody tr")) == 7
            assert_accessible(driver, "upload result")
            by_id(driver, "upload-delete").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "dialog#upload-delete-confirm[open]"))
            assert_accessible(driver, "upload's Delete now question")
            driver.find_element(By.CSS_SELECTOR, "#upload-delete-confirm .ask-cancel").click()

            for width, height, scale, mobile in SCREENS[1:]:
                set_viewport(driver, width, height, scale, mobile)
                wait.until(lambda d: d.execute_script("return innerWidth") == width)
                assert_accessible(driver, f"live page and upload result at {width}x{height}")
        finally:
            driver.quit()


def api(url: str, path: str, body: dict | None = None):
    request = urllib.request.Request(url + path.lstrip("/"), data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read().decode())


def text_fits(driver, element) -> tuple[float, float]:
    """(width of the input's placeholder in its own font, the room for it inside the input)."""
    return driver.execute_script(
        "const e = arguments[0], s = getComputedStyle(e);"
        "const c = document.createElement('canvas').getContext('2d');"
        "c.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;"
        "return [c.measureText(e.placeholder).width,"
        "        e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)];", element)


WIDER = """return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > arguments[0] + 2
             && (!e.closest('.table-scroll') || getComputedStyle(e).position !== 'static'))
             .slice(0, 10).map((e) => `${e.tagName}#${e.id}.${e.className}`);"""


def withdraw_and_check(driver, wait, when: str) -> None:
    """ "Stop and delete my data" from the participant's page: its confirmation, then its result."""
    button = by_id(driver, "delete-data") if by_id(driver, "thanks").is_displayed() else by_id(driver, "withdraw")
    button.click()
    wait.until(lambda d: by_id(d, "confirm-withdraw").is_displayed())
    assert driver.switch_to.active_element.get_attribute("id") == "withdraw-yes"  # the focus is on the question
    assert_accessible(driver, f"participant: stop and delete, confirmation ({when})")
    by_id(driver, "withdraw-yes").click()
    wait.until(lambda d: by_id(d, "withdrawn").is_displayed())
    assert_accessible(driver, f"participant: stopped and deleted ({when})")


def chart_table(driver, wait, root, what: str) -> float:
    """Open a chart's text alternative (its "The chart as a table") in ``root``: the happy row's first
    number (per cent), once the table has its seven rows filled."""
    root.find_element(By.CSS_SELECTOR, "details.chart-table summary").click()
    table = root.find_element(By.CSS_SELECTOR, "details.chart-table table")
    wait.until(lambda d: len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 7)
    happy = 'const c = arguments[0].querySelector(\'tr[data-class="happy"] td\'); return c && c.textContent'
    wait.until(lambda d: d.execute_script(happy, table) not in (None, "–"))  # (its rows are remade every second)
    caption = driver.execute_script("const t = arguments[0]; return t.caption && t.caption.id", table)
    assert caption and driver.find_elements(By.CSS_SELECTOR, f'canvas[aria-describedby="{caption}"]'), what
    return float(driver.execute_script(happy, table).rstrip("%"))


def test_studies_pages_and_every_participant_step(tmp_path, camera):
    """The researcher's pages and the participant's steps: consent, the camera check (failing with its
    guidance, and passed), tasks, the feedback chart as a table, "Stop and delete my data" (its
    confirmation and its result, during the camera check and after the tasks); the results page with a
    participant live (the live card's chart as a table; the observer's note box shows its whole
    placeholder at every screen size), with the glossary, the sessions table and a session shown, at
    1280x720 and on a 390x844 phone."""
    app = create_app(Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN, check_help_s=2.0),
                     analyzer=StubAnalyzer())
    with ServerThread(app) as url:
        driver = chromium(tmp_path, camera)
        try:
            wait = WebDriverWait(driver, 60, poll_frequency=0.2)
            set_viewport(driver, 1280, 720)
            driver.get(url + "studies")
            wait.until(lambda d: d.find_elements(By.ID, "token"))
            assert_accessible(driver, "researcher login")
            by_id(driver, "token").send_keys(TOKEN)
            driver.find_element(By.CSS_SELECTOR, "#login button").click()
            wait.until(lambda d: d.find_elements(By.ID, "new-study"))
            # the stub's face is 30 px wide: it passes a check for 20 px faces, and fails the default 80 px
            study = api(url, "/api/studies", {"title": "Lamp shop", "consent": "We store your expressions, never video.",
                                              "tasks": ["Find a lamp", "Pay for it"], "feedback": True,
                                              "quality": {"min_face_px": 20}})
            far = api(url, "/api/studies", {"title": "Far away", "consent": "ok", "tasks": ["One"]})
            driver.refresh()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#studies tbody tr")) == 2)
            assert_accessible(driver, "studies list")

            # the camera check failing: its guidance, then the help and "Continue without the check"
            driver.get(far["participant_url"])
            by_id(driver, "agree").click()
            wait.until(lambda d: by_id(d, "check").get_attribute("data-problem") == "too_small")
            assert "Move closer" in by_id(driver, "check-guidance").text
            wait.until(lambda d: by_id(d, "check-skip").is_displayed())
            assert by_id(driver, "check-help").is_displayed() and by_id(driver, "inferring").is_displayed()
            assert_accessible(driver, "participant: camera check failing, with guidance")
            withdraw_and_check(driver, wait, "during the camera check")

            driver.get(study["participant_url"])
            assert_accessible(driver, "participant: consent")
            by_id(driver, "decline").click()
            wait.until(lambda d: by_id(d, "declined").is_displayed())
            assert_accessible(driver, "participant: declined")
            driver.get(study["participant_url"])
            assert not by_id(driver, "inferring").is_displayed()
            by_id(driver, "agree").click()
            wait.until(lambda d: by_id(d, "check").get_attribute("data-state") == "passed")
            wait.until(lambda d: by_id(d, "task-panel").is_displayed())
            assert by_id(driver, "inferring").is_displayed()  # the participant is told, as by a recording light
            assert "passed" in by_id(driver, "check-guidance").text
            assert_accessible(driver, "participant: camera check passed, tasks")
            assert chart_table(driver, wait, by_id(driver, "feedback"), "participant's feedback") > 50  # the stub: 94 %
            assert_accessible(driver, "participant: the feedback chart as a table")
            first = driver.find_element(By.CSS_SELECTOR, "#tasks li .start")
            first.click()
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#tasks li").get_attribute("data-state") == "running")
            assert_accessible(driver, "participant: a task running")

            # the researcher, in another tab, watches the participant live
            participant_tab = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(study["results_url"])
            card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".live-card[data-state='live']"))[0]
            wait.until(lambda d: int(card.get_attribute("data-results")) >= 3)
            assert chart_table(driver, wait, card, "a live card") > 50
            note = card.find_element(By.CSS_SELECTOR, ".live-note input")
            for width, height, scale, mobile in SCREENS:
                set_viewport(driver, width, height, scale, mobile)
                wait.until(lambda d: d.execute_script("return matchMedia('(max-width: 800px)').matches") == (width < 800))
                needed, room = text_fits(driver, note)
                assert needed <= room, f"the note box's placeholder is cut off at {width}x{height}: {needed} > {room}"
            set_viewport(driver, 1280, 720)
            assert_accessible(driver, "results page with a live participant, its chart as a table")

            driver.switch_to.window(participant_tab)
            driver.find_element(By.CSS_SELECTOR, "#tasks li .done").click()
            second = driver.find_elements(By.CSS_SELECTOR, "#tasks li")[1]
            wait.until(lambda d: second.find_element(By.CSS_SELECTOR, ".start").is_enabled())
            second.find_element(By.CSS_SELECTOR, ".start").click()
            wait.until(lambda d: second.get_attribute("data-state") == "running")
            second.find_element(By.CSS_SELECTOR, ".done").click()
            wait.until(lambda d: by_id(d, "thanks").is_displayed())
            assert not by_id(driver, "inferring").is_displayed()
            assert_accessible(driver, "participant: thanks")

            # the results page: the glossary, the sessions table, a session shown; then on a phone
            driver.switch_to.new_window("tab")
            driver.get(study["results_url"])
            wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, '#sessions tbody tr[data-status="completed"] button.show'))
            driver.find_element(By.CSS_SELECTOR, "#glossary summary").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#glossary-list dt")) >= 5)
            assert_accessible(driver, "results page, the glossary and the sessions table")
            driver.find_element(By.CSS_SELECTOR, "#sessions tbody tr button.show").click()
            wait.until(lambda d: by_id(d, "timeline").get_attribute("data-markers") == "4")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#task-table tbody tr"))
            assert_accessible(driver, "results page, a session shown")
            width, height, scale, mobile = SCREENS[2]
            set_viewport(driver, width, height, scale, mobile)
            # a phone widens its layout to the page's content: innerWidth stays 390 only if nothing is wider
            try:
                wait.until(lambda d: d.execute_script("return innerWidth") == width)
            except TimeoutException:
                raise AssertionError(f"the results page is wider than {width} px: "
                                     f"{driver.execute_script(WIDER, width)}") from None
            assert driver.execute_script("return document.scrollingElement.scrollWidth") <= width
            assert_accessible(driver, f"results page at {width}x{height}, the glossary open and a session shown")
            driver.execute_script("document.getElementById('sessions').scrollIntoView()")
            screenshot(driver, tmp_path, "a11y-results-phone")
            set_viewport(driver, 1280, 720)

            driver.switch_to.window(participant_tab)
            withdraw_and_check(driver, wait, "after the tasks")
            driver.get(url + "p/no-such-study")
            assert_accessible(driver, "participant: unknown link")
        finally:
            driver.quit()


def fits(driver, width: int, what: str) -> None:
    """The page no wider than the screen (a phone widens its layout to the page's content)."""
    try:
        WebDriverWait(driver, 10, poll_frequency=0.2).until(lambda d: d.execute_script("return innerWidth") == width)
    except TimeoutException:
        raise AssertionError(f"{what} is wider than {width} px: {driver.execute_script(WIDER, width)}") from None
    assert driver.execute_script("return document.scrollingElement.scrollWidth") <= width, what


def test_the_screen_to_share_and_a_session_played_with_its_recording(tmp_path, camera):
    """A study that records the screen: the participant's screen step (after the camera check) and the
    recording under way; the results page with the session's recording playing beside its moments, the
    cursor on the timeline, and the hotspots; each at 1280x720 and on a 390x844 phone."""
    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN,
                        screen=ScreenSettings(directory=tmp_path / "screen", end_grace_s=1.0, sweep_interval_s=0.2))
    with ServerThread(create_app(settings, analyzer=StubAnalyzer())) as url:
        study = api(url, "/api/studies", {"title": "Lamp shop", "consent": "We store your expressions, never video.",
                                          "tasks": ["Find a lamp", "Pay for it"], "screen": True,
                                          "quality": {"min_face_px": 20}})  # the stub's face: 30 px
        driver = chromium(tmp_path, camera, share_tab=True)
        try:
            wait = WebDriverWait(driver, 60, poll_frequency=0.2)
            driver.get(study["participant_url"])
            assert "also records your screen" in by_id(driver, "screen-consent").text
            by_id(driver, "agree").click()
            wait.until(lambda d: by_id(d, "screen-step").is_displayed())
            assert by_id(driver, "check").get_attribute("data-state") == "passed"
            for width, height, scale, mobile in (SCREENS[0], SCREENS[2]):
                set_viewport(driver, width, height, scale, mobile)
                fits(driver, width, f"the screen step at {width}x{height}")
                assert_accessible(driver, f"participant: the screen to share at {width}x{height}")
                screenshot(driver, tmp_path, f"a11y-screen-share-{width}x{height}")
            by_id(driver, "share-screen").click()
            wait.until(lambda d: by_id(d, "screen-state").get_attribute("data-state") == "recording")
            assert_accessible(driver, "participant: the screen recorded, a phone")
            set_viewport(driver, 1280, 720)
            assert_accessible(driver, "participant: the screen recorded")
            for li in driver.find_elements(By.CSS_SELECTOR, "#tasks li"):
                wait.until(lambda d: li.find_element(By.CSS_SELECTOR, ".start").is_enabled())
                li.find_element(By.CSS_SELECTOR, ".start").click()
                wait.until(lambda d: li.get_attribute("data-state") == "running")
                time.sleep(3)
                li.find_element(By.CSS_SELECTOR, ".done").click()
            wait.until(lambda d: by_id(d, "screen-state").get_attribute("data-state") == "saved")
            assert_accessible(driver, "participant: thanks, the recording saved")

            driver.get(url + f"studies?token={TOKEN}")
            driver.get(study["results_url"])
            show = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr button.show"))[0]
            deadline = time.monotonic() + 60  # the recording is joined a moment after the session ended
            while True:
                show.click()
                try:
                    WebDriverWait(driver, 3, poll_frequency=0.2).until(
                        lambda d: by_id(d, "player").get_attribute("data-recording") == "ready")
                    break
                except TimeoutException:
                    assert time.monotonic() < deadline, by_id(driver, "screen-note").text
            wait.until(lambda d: d.execute_script("return document.getElementById('screen-video').readyState") >= 1)
            driver.execute_script("document.getElementById('screen-video').play()")
            wait.until(lambda d: d.execute_script("return document.getElementById('screen-video').currentTime") > 0.5)
            driver.execute_script("document.getElementById('screen-video').pause()")
            for width, height, scale, mobile in (SCREENS[0], SCREENS[2]):
                set_viewport(driver, width, height, scale, mobile)
                fits(driver, width, f"the results page with a recording at {width}x{height}")
                assert by_id(driver, "timeline-cursor").is_displayed()
                assert_accessible(driver, f"results page: a session's recording, moments, hotspots at {width}x{height}")
                driver.execute_script("document.getElementById('session').scrollIntoView()")
                screenshot(driver, tmp_path, f"a11y-results-player-{width}x{height}")
            set_viewport(driver, 1280, 720)
        finally:
            driver.quit()


def test_documents_and_switched_off_pages(tmp_path):
    app = create_app(Settings(features=frozenset({"studies"}), database=f"sqlite:///{tmp_path / 'fer.db'}",
                              admin_token=TOKEN), analyzer=StubAnalyzer())
    with ServerThread(app) as url:
        driver = chromium(tmp_path)
        try:
            for width, height, scale, mobile in SCREENS:
                set_viewport(driver, width, height, scale, mobile)
                driver.get(url + "responsible-use")
                assert driver.find_element(By.TAG_NAME, "h1").text == "Responsible use"
                assert driver.execute_script("return document.scrollingElement.scrollWidth") <= width
                assert_accessible(driver, f"responsible use at {width}x{height}")
            driver.get(url)
            assert by_id(driver, "not-here").is_displayed()
            assert_accessible(driver, "a switched-off home page")
            driver.find_element(By.CSS_SELECTOR, "footer a[href='/responsible-use']").click()
            WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/responsible-use"))
        finally:
            driver.quit()


def focus_info(driver) -> dict:
    return driver.execute_script(
        "const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();"
        "return {id: e.id || e.tagName.toLowerCase(), text: (e.textContent || '').trim().slice(0, 40),"
        "  visible: e.matches(':focus-visible'), outline: s.outlineStyle, width: parseFloat(s.outlineWidth),"
        "  colour: s.outlineColor, shown: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight};")


def tab(driver, backwards: bool = False) -> dict:
    keys = ActionChains(driver)
    if backwards:
        keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
    else:
        keys.send_keys(Keys.TAB)
    keys.perform()
    return focus_info(driver)


def tab_to(driver, element_id: str, limit: int = 30) -> dict:
    for _ in range(limit):
        info = tab(driver)
        if info["id"] == element_id:
            return info
    raise AssertionError(f"#{element_id} is not reached with the Tab key")


def press(driver, key) -> None:
    ActionChains(driver).send_keys(key).perform()


def test_keyboard_alone_works_the_live_page_with_a_visible_focus(tmp_path, analyzer, camera):
    with ServerThread(create_app(analyzer=analyzer)) as url:
        driver = chromium(tmp_path, camera)
        try:
            set_viewport(driver, 1280, 720)
            wait = connected(driver, url)
            # Tab reaches every control, in order, each with a visible focus ring
            seen = []
            for _ in range(8):
                info = tab(driver)
                assert info["visible"] and info["outline"] != "none" and info["width"] >= 2, info
                assert info["shown"], info
                seen.append(info["id"])
            assert seen == ["start", "camera", "mirror", "present", "classview-toggle", "summary", "upload-file", "a"], seen

            # Start with Enter
            driver.find_element(By.TAG_NAME, "body").click()
            tab_to(driver, "start")
            press(driver, Keys.ENTER)
            wait.until(lambda d: by_id(d, "current-label").get_attribute("data-label") == "happy")
            # the class view: Space opens its question; the focus is in it, on Cancel; Tab, Enter agrees
            tab_to(driver, "classview-toggle")
            press(driver, Keys.SPACE)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "dialog#classview-consent[open]"))
            assert "ask-cancel" in driver.switch_to.active_element.get_attribute("class")
            press(driver, Keys.ESCAPE)  # Esc cancels
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog#classview-consent[open]"))
            assert by_id(driver, "classview").get_attribute("hidden") is not None
            assert focus_info(driver)["id"] == "classview-toggle"  # the focus goes back where it was
            press(driver, Keys.ENTER)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "dialog#classview-consent[open]"))
            info = tab(driver)
            assert "Everyone" in info["text"] and info["visible"], info
            press(driver, Keys.ENTER)
            wait.until(lambda d: by_id(d, "classview-count").get_attribute("data-faces") == "1")
            assert by_id(driver, "classview-toggle").get_attribute("aria-pressed") == "true"

            # presentation mode: the controls hide while the camera runs; Tab brings them back, focused
            driver.execute_script("document.getElementById('present').focus()")  # (reached by Tab above)
            press(driver, Keys.ENTER)
            body = driver.find_element(By.TAG_NAME, "body")
            wait.until(lambda d: "present" in body.get_attribute("class"))
            driver.execute_script("document.activeElement.blur()")
            wait.until(lambda d: "controls-hidden" in body.get_attribute("class"))
            info = tab(driver)
            wait.until(lambda d: "controls-hidden" not in body.get_attribute("class"))
            info = focus_info(driver)
            assert info["shown"] and info["visible"] and driver.execute_script(
                "return document.getElementById('controls').contains(document.activeElement)"), info
            time.sleep(3.0)  # longer than the controls wait before hiding: a keyboard user keeps them
            assert "controls-hidden" not in body.get_attribute("class")
            driver.execute_script("document.getElementById('present').focus()")
            press(driver, Keys.ENTER)
            wait.until(lambda d: "present" not in body.get_attribute("class"))

            # Stop with the keyboard: the last session's summary gets the focus
            driver.execute_script("document.getElementById('stop').focus()")
            press(driver, Keys.ENTER)
            wait.until(lambda d: by_id(d, "session-summary").is_displayed())
            assert focus_info(driver)["id"] == "session-summary"
        finally:
            driver.quit()


def announcements(driver) -> list:
    return driver.execute_script("return window.__said || []")


def test_the_expression_is_announced_politely_only_on_a_change(tmp_path, analyzer, camera):
    with ServerThread(create_app(analyzer=analyzer)) as url:
        driver = chromium(tmp_path, camera)
        try:
            wait = connected(driver, url)
            region = by_id(driver, "announcer")
            assert region.get_attribute("aria-live") == "polite" and region.get_attribute("role") == "status"
            assert by_id(driver, "readout").get_attribute("aria-live") is None  # not every frame
            driver.execute_script(
                "window.__said = []; const r = document.getElementById('announcer');"
                "new MutationObserver(() => window.__said.push([performance.now(), r.textContent]))"
                "  .observe(r, {childList: true, characterData: true, subtree: true});")
            by_id(driver, "start").click()
            wait.until(lambda d: int(by_id(d, "chart").get_attribute("data-samples")) >= 1)
            started = time.monotonic()
            wait.until(lambda d: any(text == "happy" for _, text in announcements(d)))
            samples = int(by_id(driver, "chart").get_attribute("data-samples"))
            # many results, every one happy (at least 8 s and 50 results: a loaded machine analyses fewer a second)
            wait.until(lambda d: int(by_id(d, "chart").get_attribute("data-samples")) > samples + 50)
            while time.monotonic() - started < 8:
                time.sleep(0.5)
            said = announcements(driver)
            # "happy" once (maybe "no face" first, while the face is confirmed)
            assert [t for _, t in said][-1] == "happy" and [t for _, t in said].count("happy") == 1, said
            gaps = [b[0] - a[0] for a, b in zip(said, said[1:])]
            assert all(g >= 3900 for g in gaps), said
            by_id(driver, "stop").click()
            wait.until(lambda d: announcements(d)[-1][1] == "camera off")

            # the rules, on a clock of the test's own: a change is said once it held 1 s, at most every 4 s
            said = driver.execute_script("""
                let t = 0;
                const region = document.createElement('div');
                const a = new Announcer(region, { gapMs: 4000, settleMs: 1000, now: () => t });
                const out = [];
                let shown = '';
                const at = (ms, text) => { t = ms; if (text !== undefined) a.say(text); else a.check();
                                           if (region.textContent !== shown) { shown = region.textContent; out.push([t, shown]); } };
                at(0, 'happy'); at(500, 'happy'); at(1000, 'happy');      // said at 1000
                at(1200, 'neutral'); at(1300, 'happy');                 // a flicker: nothing
                at(2000, 'neutral'); at(3100); at(4999);                 // held, but within 4 s of the last
                at(5000);                                                 // said at 5000
                at(5100, 'sad'); at(6000, 'neutral'); at(9500);          // back before it was said: nothing
                at(9600, 'sad'); at(10700);                              // said at 10700
                return out;""")
            assert said == [[1000, "happy"], [5000, "neutral"], [10700, "sad"]], said
        finally:
            driver.quit()


def test_reduced_motion_is_respected(tmp_path, analyzer, camera):
    with ServerThread(create_app(analyzer=analyzer)) as url:
        driver = chromium(tmp_path, camera)
        try:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                   {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})
            wait = connected(driver, url)
            by_id(driver, "start").click()
            wait.until(lambda d: by_id(d, "inferring").is_displayed())
            wait.until(lambda d: by_id(d, "current-label").get_attribute("data-label") == "happy")
            dot, controls = driver.execute_script(
                "return [getComputedStyle(document.querySelector('#inferring .rec-dot')).animationName,"
                "        getComputedStyle(document.getElementById('controls')).transitionDuration]")
            assert dot == "none" and controls in ("0s", "0s, 0s"), (dot, controls)
            draws = int(by_id(driver, "chart").get_attribute("data-draws"))
            time.sleep(4)
            assert int(by_id(driver, "chart").get_attribute("data-draws")) - draws <= 5  # once a second, not ten times

            driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                   {"features": [{"name": "prefers-reduced-motion", "value": "no-preference"}]})
            assert driver.execute_script(
                "return getComputedStyle(document.querySelector('#inferring .rec-dot')).animationName") == "rec-pulse"
            draws = int(by_id(driver, "chart").get_attribute("data-draws"))
            time.sleep(2)
            assert int(by_id(driver, "chart").get_attribute("data-draws")) - draws >= 8
        finally:
            driver.quit()
