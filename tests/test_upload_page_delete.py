"""The page's "Delete now" sends the upload's delete token: the server deletes the upload's folder."""

import time

import cv2
import pytest

from server import Settings, UploadSettings, create_app
from server.uploads.jobs import STORE_FILE

from browser_support import ServerThread, chromium, needs_chromium

pytestmark = needs_chromium


def test_delete_now_in_the_page_removes_the_upload(tmp_path, analyzer, astronaut_bgr):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut_bgr)
    uploads = tmp_path / "uploads"
    app = create_app(Settings(uploads=UploadSettings(directory=uploads)), analyzer=analyzer)
    with ServerThread(app) as url:
        driver = chromium(tmp_path)
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.find_element(By.ID, "upload-file")).send_keys(str(image))
            wait.until(lambda d: d.find_element(By.ID, "upload-start").is_enabled())
            driver.find_element(By.ID, "upload-start").click()
            section = driver.find_element(By.ID, "upload-section")
            wait.until(lambda d: section.get_attribute("data-status") == "done")
            assert len(list(uploads.glob("u-*"))) == 1
            driver.find_element(By.ID, "upload-delete").click()
            deadline = time.time() + 10
            while list(uploads.glob("u-*")) and time.time() < deadline:
                time.sleep(0.1)
            assert [p.name for p in uploads.iterdir()] == [STORE_FILE]  # the folder's id, no upload
        finally:
            driver.quit()
