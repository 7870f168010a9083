"""The results page as a researcher sees it, in headless Chromium at 1280x720, 1920x1080 and on a 390x844
phone: the page keeps the screen's width (wide tables scroll in their box), task labels over the
timeline never overlap and end in an ellipsis (the whole title on hover or tap), per-task cells on one
line, the studies list with dates; counts that update while a session runs, an ended session leaving
"Live now", and "Log in again" when the login no longer works. Screenshots: FER_SCREENSHOTS=DIR."""

import asyncio
import json
import urllib.request


from server import Settings, create_app, keys
from server.studies.observe import close_observers

from browser_support import ServerThread, StudyParticipant, chromium, needs_chromium, screenshot, set_viewport
from test_server import StubAnalyzer

pytestmark = needs_chromium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-results-token-0123456789"
TASKS = ["Find the cheapest reading lamp with a warm light and put it in the basket",
         "Pay", "Write a short review of the delivery, the packaging and the lamp itself"]


def api(url: str, path: str, body=None):
    request = urllib.request.Request(url + path.lstrip("/"), data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as resp:
        return json.loads(resp.read().decode())


GEOMETRY = """
const labels = [...document.querySelectorAll('#timeline-tasks .task-label')].map((e) => {
  const r = e.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, cut: e.scrollWidth > e.clientWidth + 1,
          title: e.title, text: e.textContent};
});
const box = document.getElementById('timeline-box').getBoundingClientRect();
const line = parseFloat(getComputedStyle(document.querySelector('#task-table td')).lineHeight) || 24;
const cells = [...document.querySelectorAll('#task-table td, #sessions td:not(.flags)')].map((td) => {
  const range = document.createRange();  // the text's own height: one line or more (the row may be taller)
  range.selectNodeContents(td);
  return range.getBoundingClientRect().height;
});
const scrolls = (id) => { const e = document.getElementById(id); return e.scrollWidth > e.clientWidth + 1; };
return {page: document.documentElement.scrollWidth, labels, box: {left: box.left, right: box.right},
        line, tallest: Math.max(...cells), sessionsScroll: scrolls('sessions-box'),
        viewport: window.innerWidth};
"""


def test_results_page_fits_a_phone_1280_and_1920_and_stays_current(tmp_path):
    server = ServerThread(create_app(Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN),
                                     analyzer=StubAnalyzer()))
    url = server.start()
    driver = chromium(tmp_path)
    running = None
    try:
        study = api(url, "/api/studies", {"title": "Lamp shop, spring round", "consent": "ok", "tasks": TASKS})
        token = study["participant_url"].rsplit("/", 1)[1]
        first = StudyParticipant(url, token, [("start", i) if k == 0 else 15 if k == 1 else ("end", i)
                                              for i in range(3) for k in range(3)], linger=False)
        first.start()
        first.join(90)
        assert first.error is None and first.session, first.error
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        by_id = lambda name: driver.find_element(By.ID, name)  # noqa: E731

        driver.get(f"{url}studies?token={TOKEN}")
        row = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#studies tr[data-study="{study["id"]}"]'))[0]
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1][:2] == "20" and cells[4][:2] == "20"  # created, last session: dates
        assert cells[3].startswith("1 / 0 / 0")  # completed / incomplete / withdrawn

        driver.get(study["results_url"])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#sessions tr[data-session="{first.session}"]'))
        driver.find_element(By.CSS_SELECTOR, f'#sessions tr[data-session="{first.session}"] button.show').click()
        wait.until(lambda d: by_id("timeline").get_attribute("data-markers") == "6")
        for width, height, mobile in ((1280, 720, False), (1920, 1080, False), (390, 844, True)):
            set_viewport(driver, width, height, scale=2 if mobile else 1, mobile=mobile)
            driver.execute_script("window.dispatchEvent(new Event('resize'))")
            wait.until(lambda d: d.execute_script("return window.innerWidth") == width)
            g = driver.execute_script(GEOMETRY)
            assert g["page"] <= width, f"the page is {g['page']} px wide at {width}"
            assert len(g["labels"]) == 3
            for a, b in zip(g["labels"], g["labels"][1:]):
                assert a["right"] <= b["left"] + 0.5, f"task labels overlap at {width}: {a} {b}"
            for label, title in zip(g["labels"], TASKS):
                assert label["left"] >= g["box"]["left"] - 0.5 and label["right"] <= g["box"]["right"] + 0.5
                assert label["title"].endswith(title)  # the whole title on hover
            assert any(label["cut"] for label in g["labels"])  # the long ones end in an ellipsis
            assert g["tallest"] < 1.7 * g["line"], f"a table cell wraps at {width}: {g['tallest']} px"
            if width == 390:
                assert g["sessionsScroll"]  # the wide table scrolls inside its box, the page does not
            by_id("session").location_once_scrolled_into_view
            screenshot(driver, tmp_path, f"study-results-{width}")
            driver.execute_script("window.scrollTo(0, 0)")
            screenshot(driver, tmp_path, f"study-results-top-{width}")
        label = driver.find_elements(By.CSS_SELECTOR, "#timeline-tasks .task-label")[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
        label.click()  # a tap shows the whole title below the chart
        assert by_id("timeline-caption").text == f"Task 1. {TASKS[0]}"
        set_viewport(driver, 1280, 720)

        # a session running: its counts update in the table while it runs
        running = StudyParticipant(url, token, [("start", 0), 15, ("end", 0)])
        running.start()
        assert running.ready.wait(90) and running.error is None, running.error
        frames_shown = lambda: driver.execute_script(  # noqa: E731  (the table is redrawn: read it in one go)
            "const c = document.querySelector(arguments[0]); return c ? +c.textContent : -1;",
            f'#sessions tr[data-session="{running.session}"] [data-figure="frames"]')
        wait.until(lambda d: frames_shown() > 0)
        frames = frames_shown()
        wait.until(lambda d: frames_shown() > frames + 10)  # no reload
        card = driver.find_element(By.CSS_SELECTOR, f'.live-card[data-session="{running.session}"]')
        assert not by_id("no-live").is_displayed()
        wait.until(lambda d: card.find_element(By.CSS_SELECTOR, "header strong").text.startswith("S2 · "))
        driver.execute_script("document.getElementById('sessions-box').scrollLeft = 0;"
                              "document.getElementById('live-now').scrollIntoView()")
        screenshot(driver, tmp_path, "study-live")
        running.stop()
        wait.until(lambda d: card.get_attribute("data-state") == "ended")
        assert not by_id("no-live").is_displayed()  # not "nobody is taking part" beside the ended card
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".live-card"))  # it leaves "Live now"
        assert by_id("no-live").is_displayed()
        wait.until(lambda d: d.execute_script(
            "const r = document.querySelector(arguments[0]); return r && r.dataset.status;",
            f'#sessions tr[data-session="{running.session}"]') == "incomplete")

        # the login ends (here: logged out in another tab): the live view says so instead of reconnecting
        driver.execute_async_script(
            "fetch('/logout', {method: 'POST', credentials: 'same-origin', redirect: 'manual'}).then(() => arguments[0]())")
        asyncio.run_coroutine_threadsafe(close_observers(server.app), server.loop).result(10)
        link = wait.until(lambda d: d.find_elements(By.ID, "login-again"))[0]
        assert link.text == "Log in again" and "/login?next=" in link.get_attribute("href")
        assert by_id("live-state").get_attribute("data-state") == "logged-out"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]]
        assert errors == [], errors  # no script refused by the CSP
        assert server.call(lambda: len(server.app[keys.OBSERVERS])) == 0
    finally:
        if running is not None and running.is_alive():
            running.stop()
        driver.quit()
        server.stop()
