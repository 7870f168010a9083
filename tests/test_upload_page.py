"""The upload section of the page in headless Chromium: pick a video, see progress, chart and downloads.

Skipped when Chromium/chromedriver is not available.
"""

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from server import Settings, UploadSettings, create_app  # noqa: E402
from browser_support import ServerThread, chromium, needs_chromium  # noqa: E402


pytestmark = needs_chromium


def page_app(analyzer, directory):
    return create_app(Settings(uploads=UploadSettings(directory=directory)), analyzer=analyzer)


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path, height=1600)
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
        browser.get(url)
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
        assert chart.get_attribute("data-runs") == "1"  # one continuous area, no barcode
        happy = browser.find_element(By.CSS_SELECTOR, '#upload-shares li[data-class="happy"]')
        assert float(happy.get_attribute("data-share")) > 0.8
        # the shares of zero are one line, not one line each
        lines = browser.find_elements(By.CSS_SELECTOR, "#upload-shares li")
        zero = [li for li in lines if "share-zero" in (li.get_attribute("class") or "")]
        assert len(zero) == 1 and zero[0].text.startswith("0%:"), [li.text for li in lines]
        assert not any(li.text.endswith(" 0.0%") for li in lines)
        assert len(lines) == 1 + sum(1 for li in lines if li.get_attribute("data-share"))
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
        shots = Path(os.environ.get("FER_SCREENSHOTS") or tmp_path)  # README's screenshots: see test_browser_page
        shots.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(shots / "upload.png"))
