"""Benchmark screen recordings: megabytes per minute at the default settings, and the server's CPU per
recording stream.

    python bench/screen_recording.py [--seconds 60] [--streams 1,4,8] [--scenes browse,participant]

Starts ``python -m server`` (SQLite and a recordings folder in a temporary folder) and creates a study
that records the screen. Then:

1. **Megabytes per minute.** Headless Chromium opens the participant link, agrees, and shares its tab
   (tests/browser_support.py: the tab-capture stand-in for the picker); the participant page's own
   recorder (static/screenrec.js: WebM, VP9 where the browser has it, 1 Mbit/s at most, up to 10 frames
   a second, a key frame every 5 s, a chunk every 4 s) records it for ``--seconds`` and sends its chunks.
   Scenes: ``browse`` and ``read``, a web shop covering the page (1920 px wide), scrolled by a screen
   third every 2 s (busy browsing) or every 15 s (reading); ``participant``, the participant page itself
   (the camera's preview and the live chart move all the time). Prints the stored file's megabytes per
   minute.
2. **Server CPU per recording stream.** The ``browse`` recording's chunks are sent again by N clients at
   once (sessions made in the database: no camera, only the recordings' cost), each a chunk every 4 s as
   a browser sends them, for ``--seconds``; the server process's CPU time is read from /proc before and
   after, less its idle CPU over as long. Then every recording is ended and joined into its file: the
   CPU that takes, per minute of recording.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402

from bench.live_stream import free_port, wait_up  # noqa: E402
from bench.load import cpu_s  # noqa: E402

TOKEN = "bench-researcher-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHUNK_S = 4.0

SHOP = """(() => {
  const shop = document.createElement('div');
  shop.id = 'bench-shop';
  shop.style.cssText = 'position:fixed;inset:0;z-index:9999;overflow:auto;background:#fff;color:#222;font:16px sans-serif';
  let html = '<h1 style="margin:16px">Lamps</h1>';
  for (let i = 0; i < 60; i++) {
    const hue = (i * 47) % 360;
    html += `<div style="display:inline-block;width:220px;margin:12px;vertical-align:top">
      <div style="height:140px;background:hsl(${hue},60%,70%);border-radius:8px"></div>
      <b>Lamp no. ${i + 1}</b><p>A lamp with a shade of linen and a brass foot. ${'Light for reading. '.repeat(3)}</p>
      <button>Add to cart</button> <span>${(19 + i * 3.5).toFixed(2)} EUR</span></div>`;
  }
  shop.innerHTML = html;
  document.body.appendChild(shop);
  setInterval(() => { shop.scrollTop = (shop.scrollTop + 320) % (shop.scrollHeight - shop.clientHeight); }, EVERY_MS);
})();"""
SCENES = {"browse": 2000, "read": 15000}  # the shop scrolled every 2 s (busy browsing) or every 15 s (reading)


def start_server(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "FER_SCREEN_DIR": str(tmp / "screen")}
    return subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--database",
                             f"sqlite:///{tmp / 'fer.db'}", "--admin-token", TOKEN],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def api(base: str, path: str, body: dict | None = None):
    import urllib.request

    req = urllib.request.Request(base + path, method="GET" if body is None else "POST",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={**AUTH, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def wait_status(base: str, sid: str, states=("ready", "failed"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = api(base, f"/api/sessions/{sid}/screen")
        if info["status"] in states or time.monotonic() > deadline:
            return info
        time.sleep(0.3)


def record(base: str, tmp: Path, scene: str, seconds: float, keep: Path | None) -> dict:
    """A participant records ``seconds`` of ``scene``; the stored file's figures (``keep``: its chunks copied there)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from browser_support import chromium, past_the_check, stop_sharing

    study = api(base, "/api/studies", {"title": f"Bench {scene}", "consent": "bench", "tasks": ["Browse"],
                                       "screen": True})
    driver = chromium(tmp / f"chromium-{scene}", share_tab=True, width=1920, height=1080)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(study["participant_url"])
        driver.find_element(By.ID, "agree").click()
        past_the_check(driver)  # Chromium's test pattern has no face: "Continue without the check" after 20 s
        driver.find_element(By.ID, "share-screen").click()
        wait.until(lambda d: d.find_element(By.ID, "screen-state").get_attribute("data-state") == "recording")
        sid = driver.find_element(By.TAG_NAME, "body").get_attribute("data-session")
        if scene in SCENES:
            driver.execute_script(SHOP.replace("EVERY_MS", str(SCENES[scene])))
        size = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        time.sleep(seconds)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for chunk in sorted((tmp / "screen" / f"r-{sid}").glob("c-*.webm")):
                shutil.copy(chunk, keep / chunk.name)
        stop_sharing(driver)
        info = wait_status(base, sid)
    finally:
        driver.quit()
    minutes = info["duration_s"] / 60
    return {"scene": scene, "viewport": size, "seconds": round(info["duration_s"], 1), "chunks": info["chunks"],
            "mb_per_min": round(info["size"] / 2**20 / minutes, 2),
            "chunk_mb_per_min": round(info["bytes"] / 2**20 / minutes, 2), "status": info["status"]}


async def upload(http, base: str, token: str, sid: str, chunks: list[bytes], seconds: float) -> int:
    path = f"{base}/api/participant/{token}/sessions/{sid}/screen"
    async with http.post(path, json={}) as r:
        assert r.status in (200, 201), await r.text()
    t0, n = time.monotonic(), 0
    while n * CHUNK_S < seconds:
        wait = t0 + n * CHUNK_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        async with http.put(f"{path}/{n}", data=chunks[n % len(chunks)]) as r:
            assert r.status == 201, await r.text()
        n += 1
    async with http.post(f"{path}/end", json={"chunks": n, "reason": "finished"}) as r:
        assert r.status == 200
    return n


def sessions_in_db(db: Path, study: str, n: int) -> list[str]:
    """``n`` live sessions of ``study``, made in the database: the recordings' cost alone, no camera."""
    import secrets

    ids = [secrets.token_urlsafe(32) for _ in range(n)]
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO sessions (id, study_id, started, frames) VALUES (?, ?, ?, 0)",
                         [(i, study, time.time()) for i in ids])
    return ids


def streams_cpu(base: str, tmp: Path, pid: int, chunks: list[bytes], n: int, seconds: float) -> dict:
    study = api(base, "/api/studies", {"title": f"Bench {n} streams", "consent": "bench", "tasks": ["Browse"],
                                       "screen": True})
    token = study["participant_url"].rsplit("/", 1)[1]
    sids = sessions_in_db(tmp / "fer.db", study["id"], n)
    idle0 = cpu_s(pid)
    time.sleep(seconds / 2)
    idle_rate = (cpu_s(pid) - idle0) / (seconds / 2)

    async def run():
        async with aiohttp.ClientSession() as http:
            return await asyncio.gather(*(upload(http, base, token, sid, chunks, seconds) for sid in sids))

    c0, t0 = cpu_s(pid), time.monotonic()
    sent = asyncio.run(run())
    c1, t1 = cpu_s(pid), time.monotonic()
    for sid in sids:
        wait_status(base, sid)
    c2, t2 = cpu_s(pid), time.monotonic()
    busy = (c1 - c0) - idle_rate * (t1 - t0)
    recorded_min = sum(sent) * CHUNK_S / 60
    return {"streams": n, "seconds": round(t1 - t0, 1), "chunks": sum(sent),
            "cpu_per_stream_pct": round(100 * busy / (t1 - t0) / n, 3),
            "idle_cpu_pct": round(100 * idle_rate, 3),
            "finalize_cpu_s_per_min": round((c2 - c1 - idle_rate * (t2 - t1)) / recorded_min, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="seconds recorded per scene and per stream run")
    p.add_argument("--streams", default="1,4,8", help="recording streams at once (comma-separated)")
    p.add_argument("--scenes", default="browse,read,participant")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fer-bench-screen-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tmp, port)
    figures = {"recordings": [], "streams": []}
    try:
        asyncio.run(wait_up(base))
        for scene in a.scenes.split(","):
            found = record(base, tmp, scene, a.seconds, tmp / "kept" if scene == "browse" else None)
            figures["recordings"].append(found)
            print(json.dumps(found), flush=True)
        kept = [c.read_bytes() for c in sorted((tmp / "kept").glob("c-*.webm"))] if (tmp / "kept").exists() else []
        if kept:
            for n in (int(x) for x in a.streams.split(",") if x):
                found = streams_cpu(base, tmp, proc.pid, kept, n, a.seconds)
                figures["streams"].append(found)
                print(json.dumps(found), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
