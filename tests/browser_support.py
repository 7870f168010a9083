"""Shared by the browser tests: the app served from a thread, and headless Chromium."""

import asyncio
import socket
import threading
from pathlib import Path

import pytest
from aiohttp import web

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="needs Debian's chromium and chromium-driver"
)


class ServerThread:
    """The app on a free loopback port, in its own event loop and thread (selenium blocks the test's).

    ``start()`` returns the page's URL and ``stop()`` shuts the app down; or use it as a
    context manager, which gives the URL.
    """

    def __init__(self, app: web.Application):
        self.app = app
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.running = False

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> str:
        self.thread.start()
        assert self.ready.wait(60), "server did not start"
        self.running = True
        return f"http://127.0.0.1:{self.port}/"  # 127.0.0.1, like localhost, is a secure context: camera allowed

    def call(self, fn):
        """Run ``fn()`` on the server's loop and return its result."""

        async def wrapper():
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def stop(self):
        if self.running:
            self.running = False
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def chromium(tmp_path: Path, camera: Path | None = None, allow_camera: bool = True, height: int = 1400,
             width: int = 1280, cameras: int = 1, share_tab: bool = False):
    """Headless Chromium with a fake camera (``camera``: a .y4m file, else Chromium's test pattern);
    ``cameras``: how many fake cameras it lists. ``share_tab``: a page's ``getDisplayMedia`` shares its
    own tab (see ``share_this_tab``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--window-size={width},{height}", f"--use-fake-device-for-media-stream=device-count={cameras}",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    if share_tab:  # the camera allowed by a grant instead: the fake UI would share a fake screen
        opts.add_argument("--auto-accept-this-tab-capture")
    elif allow_camera:
        opts.add_argument("--use-fake-ui-for-media-stream")
    else:
        opts.add_argument("--deny-permission-prompts")
    if camera is not None:
        opts.add_argument(f"--use-file-for-fake-video-capture={camera}")
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    if share_tab:
        share_this_tab(driver)
    return driver


def share_this_tab(driver) -> None:
    """Headless Chromium has no screen picker: the participant's choice is made here. The camera is
    granted, and ``getDisplayMedia`` asks for the page's own tab (``preferCurrentTab``), which
    ``--auto-accept-this-tab-capture`` shares as a participant pressing "Share this tab" would: a real
    tab capture of what the page shows."""
    driver.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["videoCapture"]})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        (() => {
          const md = navigator.mediaDevices;
          if (!md || !md.getDisplayMedia) return;
          const original = md.getDisplayMedia.bind(md);
          window.sharedStreams = [];  // for a test to end the share as the browser's "Stop sharing" does
          md.getDisplayMedia = async (options) => {
            const stream = await original({ ...(options || {}), preferCurrentTab: true, selfBrowserSurface: 'include' });
            window.sharedStreams.push(stream);
            return stream;
          };
        })();"""})


def stop_sharing(driver) -> None:
    """What the browser's "Stop sharing" button does to a shared screen: its track ends, with an ``ended``
    event (a page's own ``track.stop()`` fires none). Headless Chromium has no such button."""
    driver.execute_script("""for (const s of window.sharedStreams) for (const t of s.getVideoTracks()) {
        t.stop(); t.dispatchEvent(new Event('ended')); }""")


def past_the_check(driver) -> None:
    """Wait for the screen step: after the camera check passed, or, if it has not after the page's 20 s,
    after "Continue without the check" (a study where a failed check only flags the session)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def there(d):
        if d.find_element(By.ID, "check-skip").is_displayed():
            d.find_element(By.ID, "check-skip").click()
        return d.find_element(By.ID, "screen-step").is_displayed()

    WebDriverWait(driver, 90, poll_frequency=0.2).until(there)


def set_viewport(driver, width: int, height: int, scale: float = 1.0, mobile: bool = False) -> None:
    """The page's viewport as a screen of ``width`` x ``height`` CSS pixels (a projector, a phone)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
    )


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    """A screenshot in $FER_SCREENSHOTS (e.g. docs/screenshots), else in the test's tmp_path."""
    import os

    folder = Path(os.environ.get("FER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


class StudyParticipant(threading.Thread):
    """A study participant streaming over real WebRTC (server/client.py) from its own thread and event
    loop: the ``before`` steps, then ``ready`` is set; with ``linger`` it streams on until ``stop()``,
    then the ``after`` steps. A step is ("start" | "end", task index), a marker, or a number: wait for
    that many more results. ``session`` is its session id, ``error`` what went wrong (None)."""

    def __init__(self, url: str, token: str, before=(), after=(), linger: bool = True, fps: int = 15):
        super().__init__(daemon=True)
        self.url, self.token, self.before, self.after, self.linger, self.fps = url, token, before, after, linger, fps
        self.session = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error = None

    def run(self):
        asyncio.run(self._run())

    async def _steps(self, live, steps):
        for step in steps:
            if isinstance(step, int):
                await live.wait_results(len(live.results) + step)
            else:
                reply = await live.mark(step[1], step[0])
                assert reply["type"] == "marked", reply

    async def _run(self):
        import aiohttp
        import numpy as np

        from server.client import FrameTrack, LiveClient

        try:
            async with aiohttp.ClientSession() as http:
                live = LiveClient(await http.ws_connect(self.url + "ws"))
                await live.start(FrameTrack([np.full((96, 128, 3), 90, np.uint8)], fps=self.fps), study=self.token,
                                 consent=True)
                self.session = next(m["id"] for m in live.messages if m["type"] == "session")
                await live.wait_results(5)
                await self._steps(live, self.before)
                self.ready.set()
                while self.linger and not self.done.is_set():
                    await asyncio.sleep(0.1)
                await self._steps(live, self.after)
                await live.close()
        except Exception as e:  # seen by the test
            self.error = e
        finally:
            self.ready.set()

    def stop(self):
        self.done.set()
        self.join(20)
