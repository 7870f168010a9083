"""The page's "Delete now" asks first (a dialog that fits every screen, Cancel focused); "Keep them"
keeps everything; confirming sends the upload's delete token and the server deletes the upload's folder."""

import time

import cv2

from server import Settings, UploadSettings, create_app
from server.uploads.jobs import STORE_FILE

from browser_support import ServerThread, chromium, needs_chromium, set_viewport

pytestmark = needs_chromium

SCREENS = [(1280, 720, 1.0, False), (1920, 1080, 1.0, False), (390, 844, 2.0, True)]


def test_delete_now_in_the_page_asks_then_removes_the_upload(tmp_path, analyzer, astronaut_bgr):
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

            # a slip of the finger deletes nothing: the question comes first, on every screen
            for width, height, scale, mobile in SCREENS:
                set_viewport(driver, width, height, scale, mobile)
                driver.find_element(By.ID, "upload-delete").click()
                dialog = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "dialog#upload-delete-confirm[open]"))
                assert "face.png" in dialog.text and "cannot be undone" in dialog.text
                r = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                          "return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]", dialog)
                assert r[0] >= 0 and r[1] >= 0 and r[2] <= r[4] and r[3] <= r[5], (width, r)
                assert "ask-cancel" in driver.switch_to.active_element.get_attribute("class")
                dialog.find_element(By.CSS_SELECTOR, ".ask-cancel").click()  # "Keep them"
                wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog#upload-delete-confirm[open]"))
                assert driver.find_element(By.ID, "upload-results").is_displayed()
            time.sleep(0.5)
            assert len(list(uploads.glob("u-*"))) == 1  # nothing was deleted

            driver.find_element(By.ID, "upload-delete").click()
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "dialog#upload-delete-confirm[open] .ask-ok")).click()
            deadline = time.time() + 10
            while list(uploads.glob("u-*")) and time.time() < deadline:
                time.sleep(0.1)
            assert [p.name for p in uploads.iterdir()] == [STORE_FILE]  # the folder's id, no upload
            wait.until(lambda d: not d.find_element(By.ID, "upload-results").is_displayed())
        finally:
            driver.quit()
