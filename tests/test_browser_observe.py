"""The results page's live view in headless Chromium (under the app's CSP): a participant streaming over
real WebRTC (server/client.py, in its own thread) appears as a live card with their expression, chart,
task and its ticking time; the researcher adds a note from the card; the card ends with the session;
the comparison then shows the session beside the study's mean."""

import csv
import io
import json
import urllib.request

from server import Settings, create_app

from browser_support import ServerThread, StudyParticipant, chromium, needs_chromium
from test_server import StubAnalyzer

pytestmark = needs_chromium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-observe-token-0123456789"


def api(url: str, path: str, body: dict | None = None):
    request = urllib.request.Request(url + path.lstrip("/"), data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
        return json.loads(text) if resp.headers.get_content_type() == "application/json" else text


def test_results_page_shows_a_live_participant_and_takes_notes(tmp_path):
    server = ServerThread(create_app(Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN),
                                     analyzer=StubAnalyzer()))
    url = server.start()
    driver = chromium(tmp_path)
    participant = None
    try:
        study = api(url, "/api/studies", {"title": "Live lamp shop", "consent": "ok", "tasks": ["Find a lamp", "Pay"]})
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731
        driver.get(f"{url}studies?token={TOKEN}")  # logs in (the cookie)
        driver.get(study["results_url"])
        wait.until(lambda d: by_id("live-state").get_attribute("data-state") == "connected")
        assert by_id("no-live").is_displayed() and not driver.find_elements(By.CSS_SELECTOR, ".live-card")

        participant = StudyParticipant(url, study["participant_url"].rsplit("/", 1)[1], before=[("start", 0), 5],
                                       after=[("end", 0), ("start", 1), ("end", 1)])  # the last task done: completed
        participant.start()
        assert participant.ready.wait(60) and participant.error is None, participant.error
        card = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'.live-card[data-session="{participant.session}"]'))
        wait.until(lambda d: int(card.get_attribute("data-results")) >= 10)
        assert not by_id("no-live").is_displayed()
        assert card.get_attribute("data-label") == "happy"
        assert card.find_element(By.CSS_SELECTOR, ".live-label").text == "happy"
        assert card.find_element(By.CSS_SELECTOR, ".live-confidence").text.endswith("%")
        assert int(card.find_element(By.CSS_SELECTOR, "canvas").get_attribute("data-samples")) >= 10  # the chart
        assert card.get_attribute("data-task") == "0"
        line = card.find_element(By.CSS_SELECTOR, ".live-task").text
        assert line.startswith("Task 1. Find a lamp")
        wait.until(lambda d: card.find_element(By.CSS_SELECTOR, ".live-task").text != line)  # the time ticks

        card.find_element(By.CSS_SELECTOR, ".live-note input").send_keys("Hesitated at the price")
        card.find_element(By.CSS_SELECTOR, ".live-note button").click()
        wait.until(lambda d: "Hesitated at the price" in card.find_element(By.CSS_SELECTOR, ".notes").text)
        assert card.find_element(By.CSS_SELECTOR, ".live-note input").get_attribute("value") == ""
        notes = list(csv.DictReader(io.StringIO(api(url, f"/api/sessions/{participant.session}/notes.csv"))))
        assert [n["text"] for n in notes] == ["Hesitated at the price"]

        participant.stop()
        wait.until(lambda d: card.get_attribute("data-state") == "ended")
        # the comparison reloads when a session ends: this session beside the study's mean
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")) == 2)
        assert by_id("compare-timeline").get_attribute("data-rows") == "1"
        mean = driver.find_element(By.CSS_SELECTOR, '#compare-table tr.mean td[data-class="happy"]')
        assert float(mean.get_attribute("data-share")) > 0.5
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors  # no script refused by the CSP, no failed request
    finally:
        if participant is not None and participant.is_alive():
            participant.stop()
        driver.quit()
        server.stop()
