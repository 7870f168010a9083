"""The upload section of the page in headless Chromium: pick a video, see progress, chart and downloads.

Skipped when Chromium/chromedriver or the page's app (server/app.py) is not available.
"""

import asyncio
import shutil
import socket
import threading
import time

import cv2
import numpy as np
import pytest
from aiohttp import web

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from server.uploads import setup_uploads  # noqa: E402


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


pytestmark = pytest.mark.skipif(
    not (_chromium() and shutil.which("chromedriver")), reason="needs chromium and chromedriver"
)


class ServerThread:
    """An aiohttp app served from its own event loop in a thread (selenium blocks the test's)."""

    def __init__(self, app: web.Application):
        self.app = app
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(60), "server did not start"
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def page_app(analyzer, directory):
    """The real page when server/app.py is there (it calls setup_uploads itself), else a stub page."""
    try:
        from server.app import create_app
    except ImportError:
        create_app = None
    if create_app is not None:
        app = create_app(analyzer=analyzer)
        from server.uploads import UPLOADS_KEY

        app[UPLOADS_KEY].config.directory = directory
        app[UPLOADS_KEY]._analyzer = analyzer
        return app
    app = web.Application()
    setup_uploads(app, directory=directory, analyzer=analyzer)
    root = __import__("pathlib").Path(__file__).resolve().parent.parent / "static"

    async def index(request):
        return web.Response(
            text='<!doctype html><html><body><section id="upload-section"></section>'
            '<script src="/static/upload.js"></script></body></html>',
            content_type="text/html",
        )

    app.router.add_get("/", index)
    app.router.add_static("/static", root)
    return app


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(arg)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    yield driver
    driver.quit()


def test_upload_a_video_in_the_page(browser, analyzer, face_frame_640, tmp_path):
    video = tmp_path / "lesson.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(15):
        writer.write(np.roll(face_frame_640, 2 * i, axis=1))
    writer.release()
    bad = tmp_path / "notes.txt"
    bad.write_text("not a video")

    with ServerThread(page_app(analyzer, tmp_path / "uploads")) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 60)
        picker = wait.until(lambda d: d.find_element(By.ID, "upload-file"))

        # a wrong type is refused in the page, with the file named
        picker.send_keys(str(bad))
        error = browser.find_element(By.ID, "upload-error")
        assert error.is_displayed() and "notes.txt" in error.text
        assert not browser.find_element(By.ID, "upload-start").is_enabled()

        picker.send_keys(str(video))
        wait.until(lambda d: d.find_element(By.ID, "upload-start").is_enabled())
        assert not browser.find_element(By.ID, "upload-error").is_displayed()
        browser.find_element(By.ID, "upload-start").click()

        section = browser.find_element(By.ID, "upload-section")
        wait.until(lambda d: section.get_attribute("data-status") in ("done", "error"))
        assert section.get_attribute("data-status") == "done", browser.find_element(By.ID, "upload-error").text
        summary = browser.find_element(By.ID, "upload-summary").text
        assert "1 face" in summary and "happy" in summary
        assert "lesson.mp4: done" in browser.find_element(By.ID, "upload-status").text
        chart = browser.find_element(By.ID, "upload-chart")
        assert int(chart.get_attribute("data-points")) >= 10
        happy = browser.find_element(By.CSS_SELECTOR, '#upload-shares li[data-class="happy"]')
        assert float(happy.get_attribute("data-share")) > 0.8
        csv_link = browser.find_element(By.ID, "upload-csv").get_attribute("href")
        video_link = browser.find_element(By.ID, "upload-video").get_attribute("href")
        assert "/csv" in csv_link and "/video" in video_link
        # the annotated video plays in the browser: it loads its metadata and has a duration
        duration = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            duration = browser.execute_script(
                "const v = document.querySelector('#upload-preview video');"
                "return v && v.readyState >= 1 ? v.duration : null;"
            )
            if duration:
                break
            time.sleep(0.2)
        assert duration and duration > 1.0
        browser.execute_script("arguments[0].scrollIntoView()", section)
        browser.save_screenshot(str(tmp_path / "page.png"))
