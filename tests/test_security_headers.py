"""Security headers on every response, and the page working under its Content Security Policy
in a real browser (no CSP violation, the WebSocket connects, the upload section is built)."""

import pytest

import ml
from server import create_app

from browser_support import ServerThread, chromium, needs_chromium


class StubAnalyzer:
    class classifier:
        name = "stub"

    def analyze(self, bgr, tracker=None, t=None):
        return []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/", "/static/live.js", "/healthz", "/api/uploads/config", "/no-such-page",
                                  "/api/uploads/nope"])
async def test_every_response_has_the_security_headers(aiohttp_client, path):
    http = await aiohttp_client(create_app(analyzer=StubAnalyzer()))
    resp = await http.get(path)
    h = resp.headers
    csp = {d.split()[0]: d.split()[1:] for d in h["Content-Security-Policy"].split("; ")}
    assert csp["script-src"] == ["'self'"]  # only the app's own scripts: no inline, no other site
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"  # no referrer to other sites
    assert "camera=(self)" in h["Permissions-Policy"]
    server = h.get("Server", "")
    assert "aiohttp" not in server and "Python" not in server and not any(c.isdigit() for c in server)


@pytest.mark.asyncio
async def test_the_page_has_no_inline_script(aiohttp_client):
    http = await aiohttp_client(create_app(analyzer=StubAnalyzer()))
    html = await (await http.get("/")).text()
    import re

    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert " onclick=" not in html and "javascript:" not in html
    assert ml.EMOJI["happy"] in html


@needs_chromium
def test_the_page_works_under_its_content_security_policy(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with ServerThread(create_app(analyzer=StubAnalyzer())) as url:
        driver = chromium(tmp_path)
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 30, poll_frequency=0.2)
            # connect-src 'self' lets the page's WebSocket through; script-src 'self' its scripts
            wait.until(lambda d: d.find_element(By.ID, "conn-state").get_attribute("data-state") == "connected")
            wait.until(lambda d: d.find_elements(By.ID, "upload-file"))  # upload.js built its section
            console = [e["message"] for e in driver.get_log("browser")]
            assert not [m for m in console if "Content Security Policy" in m], console
            # an inline script, as an injected one would be, does not run (and the console says so:
            # the check above would have seen a violation)
            ran = driver.execute_script(
                "const s = document.createElement('script'); s.textContent = 'window.__injected = 1;';"
                "document.body.appendChild(s); return window.__injected === 1;"
            )
            assert ran is False
            assert any("Content Security Policy" in e["message"] for e in driver.get_log("browser"))
        finally:
            driver.quit()
