"""A whole study in headless Chromium: the researcher logs in and creates a study, a participant (a fake
camera filming the astronaut) agrees, does two tasks and finishes; the researcher reads the results page
and the export; the participant deletes their data."""

import csv
import io
import json
import urllib.request

import numpy as np
import pytest

from server import Settings, create_app, keys
from server.studies.rows import EXPORT_COLUMNS

from browser_support import ServerThread, chromium, needs_chromium
from test_browser_live import write_y4m

pytestmark = needs_chromium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-study-token-0123456789"


@pytest.fixture
def server(analyzer, tmp_path):
    srv = ServerThread(create_app(Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN),
                                  analyzer=analyzer))
    yield srv
    srv.stop()


def test_participant_flow_then_results_page_and_export(tmp_path, face_frame_640, server):
    camera = write_y4m(tmp_path / "face.y4m", [np.roll(face_frame_640, s, axis=1) for s in (0, 2, 4, 2)])
    url = server.start()
    driver = chromium(tmp_path, camera)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731

        # the researcher: the login form, then a new study from the form
        driver.get(url + "studies")
        wait.until(lambda d: d.find_elements(By.ID, "token"))
        by_id("token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        wait.until(lambda d: d.find_elements(By.ID, "new-study"))
        wait.until(lambda d: by_id("no-studies").is_displayed())
        by_id("study-title").send_keys("Lamp shop")
        by_id("study-consent").send_keys("We store your expressions per frame, never your video.")
        by_id("study-tasks").send_keys("Find a lamp\nPay for it")
        driver.find_element(By.CSS_SELECTOR, "#new-study button").click()
        wait.until(lambda d: by_id("created").is_displayed())
        participant_url = by_id("created-participant").get_attribute("href")
        results_url = by_id("created-results").get_attribute("href")
        assert driver.find_element(By.CSS_SELECTOR, "#studies tbody tr td").text == "Lamp shop"

        # the participant: consent first, no camera before "I agree"
        driver.get(participant_url)
        assert by_id("title").text == "Lamp shop"
        assert "never your video" in by_id("consent-text").text
        assert not by_id("study").is_displayed()
        assert driver.execute_script("return document.getElementById('video').srcObject") is None
        assert server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 0
        by_id("agree").click()
        wait.until(lambda d: int(d.find_element(By.TAG_NAME, "body").get_attribute("data-results") or 0) >= 5)
        session_id = driver.find_element(By.TAG_NAME, "body").get_attribute("data-session")
        wait.until(lambda d: by_id("current-label").get_attribute("data-label") == "happy")  # live feedback on
        # the camera check first: one face, large and lit enough, held 2 s; the tasks only then
        assert not by_id("task-panel").is_displayed() or by_id("check").get_attribute("data-state") == "passed"
        wait.until(lambda d: by_id("check").get_attribute("data-state") == "passed")
        assert "passed" in by_id("check-guidance").text and by_id("task-panel").is_displayed()
        tasks = driver.find_elements(By.CSS_SELECTOR, "#tasks li")
        assert not tasks[1].find_element(By.CSS_SELECTOR, ".start").is_enabled()  # one at a time
        results = lambda: int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-results"))  # noqa: E731
        for li in tasks:
            li.find_element(By.CSS_SELECTOR, ".start").click()
            wait.until(lambda d: li.get_attribute("data-state") == "running")
            n = results()
            wait.until(lambda d: results() >= n + 15)
            li.find_element(By.CSS_SELECTOR, ".done").click()
        wait.until(lambda d: by_id("thanks").is_displayed())
        assert by_id("stream-state").text == "finished"
        wait.until(lambda d: server.call(lambda: len(server.app[keys.LIVE_SESSIONS])) == 0)  # camera stream closed

        # the researcher, in another tab: the session, its timeline with the four markers, the per-task table
        participant_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(results_url)
        row = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#sessions tr[data-session="{session_id}"]'))[0]
        assert not by_id("no-sessions").is_displayed()
        assert "happy" in row.text
        row.find_element(By.CSS_SELECTOR, "button.show").click()
        wait.until(lambda d: by_id("timeline").get_attribute("data-markers") == "4")
        assert int(by_id("timeline").get_attribute("data-points")) >= 30
        lit = driver.execute_script(
            "const c = document.getElementById('timeline');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 150 && d[i + 2] < 100) n++;"
            "return n;")  # the happy line (#fbc02d) is drawn
        assert lit > 200
        cells = driver.execute_script(
            "return [...document.querySelectorAll('#task-table tbody tr')].map(tr => [tr.dataset.task,"
            " tr.cells[0].textContent, +tr.querySelector('[data-figure=frames]').textContent,"
            " +tr.querySelector('[data-figure=frames_with_face]').dataset.value,"
            " tr.querySelector('[data-class=happy]').textContent])")
        by_task = {c[0]: c for c in cells}
        for i, title in ((1, "Find a lamp"), (2, "Pay for it")):
            task = by_task[str(i)]
            # the astronaut sits still: her face found (not only held) in at least the default
            # min_face_share of the frames (0.8: the session is not flagged)
            assert task[1] == f"{i}. {title}" and task[2] >= 15 and task[3] >= 0.8 * task[2], task
            assert int(task[4].split("%")[0]) >= 80, task  # the astronaut smiles
        assert row.get_attribute("data-status") == "completed" and "passed" in row.text

        # the downloads, as the page links them (with the login cookie)
        csv_text = driver.execute_async_script(
            "fetch(document.getElementById('export-csv').href).then(r => r.text()).then(arguments[0])")
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        assert list(rows[0]) == list(EXPORT_COLUMNS)
        assert {r["session"] for r in rows} == {session_id} and {r["session_label"] for r in rows} == {"S1"}
        for i in ("1", "2"):
            mine = [r for r in rows if r["task"] == i]
            assert len(mine) >= 15 and sum(r["label"] == "happy" for r in mine) >= 0.8 * len(mine)
        js = json.loads(driver.execute_async_script(
            "fetch(document.getElementById('export-json').href).then(r => r.text()).then(arguments[0])"))
        assert [(m["task"], m["event"]) for m in js["markers"]] == [(1, "start"), (1, "end"), (2, "start"), (2, "end")]
        assert len(js["rows"]) == len(rows)

        # the participant deletes their data from the thank-you page (confirmed): the session is withdrawn
        driver.switch_to.window(participant_tab)
        by_id("delete-data").click()
        wait.until(lambda d: by_id("confirm-withdraw").is_displayed())
        by_id("withdraw-yes").click()
        wait.until(lambda d: by_id("withdrawn").is_displayed())
        assert not by_id("thanks").is_displayed()
        request = urllib.request.Request(results_url.replace("/studies/", "/api/studies/"),
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        [left] = json.load(urllib.request.urlopen(request))["sessions"]
        assert left["status"] == "withdrawn" and left["frames"] == 0
        driver.switch_to.new_window("tab")
        driver.get(results_url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#sessions tr[data-status="withdrawn"]'))
    finally:
        driver.quit()
