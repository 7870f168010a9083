"""The attacks of issue 23, each against a real server process (``python -m server``), from loopback
addresses only (127.0.0.2, 127.0.0.3 stand for other clients): what each attack gets. One JSON line per
attack; the figures are in docs/deploy-limits.md ("What an attacker gets").

    python bench/abuse.py                      # every attack
    python bench/abuse.py silent-peers track-bomb
    python bench/abuse.py track-bomb --root ../main      # the same attack on another checkout (before)

Attacks: silent-peers, stalled-uploads, track-bomb, frame-count, outage (needs PostgreSQL's binaries),
link-flood, bad-text, token-guesses, observers, frame-size. Memory is the server process's, from
/proc/PID/status (VmRSS now, VmHWM the peak so far).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_stream import face_frame_640, free_port, wait_up  # noqa: E402

from server.client import TIME_BASE, FrameTrack, LiveClient, ObserverClient  # noqa: E402
from test_upload_abuse import many_tracks, stalled_upload  # noqa: E402  (the tests' own attacks)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "abuse-bench-researcher-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STUDY = {"title": "Abuse", "consent": "ok", "tasks": ["one", "two"]}


# ---- the server -----------------------------------------------------------------------------


class Server:
    def __init__(self, root: Path, database: str | None = None, args=(), env=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="fer-abuse-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database = database or f"sqlite:///{self.tmp.name}/fer.db"
        self.log = open(Path(self.tmp.name) / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(self.port), "--database", self.database,
             "--admin-token", TOKEN, "--log-level", "info", *args],
            cwd=root, stdout=subprocess.DEVNULL, stderr=self.log,
            env={**os.environ, "FER_UPLOAD_DIR": f"{self.tmp.name}/uploads", **(env or {})})

    async def __aenter__(self):
        await wait_up(self.base)
        return self

    async def __aexit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        self.tmp.cleanup()

    def memory(self) -> dict:
        """MB: VmRSS (now) and VmHWM (the peak so far)."""
        out = {}
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
        return out

    def log_text(self) -> str:
        self.log.flush()
        return (Path(self.tmp.name) / "server.log").read_text()


def from_address(address: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def study(http, base) -> dict:
    async with http.post(base + "/api/studies", json=STUDY, headers=AUTH) as r:
        return await r.json()


def form(data: bytes, name: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", io.BytesIO(data), filename=name, content_type="application/octet-stream")
    return f


# ---- 1. silent peers --------------------------------------------------------------------------


async def silent_peers(root: Path) -> dict:
    from aiortc.mediastreams import VideoStreamTrack

    class Silent(VideoStreamTrack):
        async def recv(self):
            await asyncio.Future()

    async with Server(root) as server, aiohttp.ClientSession() as http:
        peers, refused = [], []
        for _ in range(8):
            peer = LiveClient(await http.ws_connect(server.base + "/ws"))
            try:
                await peer.start(Silent())
                peers.append(peer)
                for _ in range(150):
                    if any(m.get("state") == "connected" for m in peer.messages):
                        break
                    await asyncio.sleep(0.1)
            except RuntimeError as e:
                refused.append(str(e)[:100])
                await peer.close()
        async with http.get(server.base + "/healthz") as r:
            streams_held = (await r.json())["live_streams"]
        start = time.monotonic()
        async with from_address("127.0.0.2") as other:
            visitor = LiveClient(await other.ws_connect(server.base + "/ws"))
            try:
                await visitor.start(FrameTrack([face_frame_640()], fps=15))
                await visitor.wait_results(1, timeout=30)
                visitor_first_result_s = round(time.monotonic() - start, 2)
                visitor_error = None
            except RuntimeError as e:
                visitor_first_result_s, visitor_error = None, str(e)[:120]
            freed_after_s = None
            while time.monotonic() - start < 70:
                async with http.get(server.base + "/healthz") as r:
                    if (await r.json())["live_streams"] <= (1 if visitor_error is None else 0):
                        freed_after_s = round(time.monotonic() - start, 1)
                        break
                await asyncio.sleep(0.5)
            await visitor.close()
        for peer in peers:
            await peer.close()
        return {"attack": "silent-peers", "silent_peers_accepted": len(peers), "refused": len(refused),
                "refusal": refused[0] if refused else None, "live_streams_held": streams_held,
                "visitor_first_result_s": visitor_first_result_s, "visitor_error": visitor_error,
                "silent_slots_freed_after_s": freed_after_s}


# ---- 2. stalled uploads ---------------------------------------------------------------------


async def stalled_answer(port: int, address: str, trickle_s: float | None):
    """A stalled (or trickling) upload from ``address``; a task for its answer: (seconds, status line)."""
    reader, writer, trickle = await stalled_upload(port, address, trickle_s)
    started = time.monotonic()

    async def answer():
        try:
            data = await asyncio.wait_for(reader.read(200), 90)
            return round(time.monotonic() - started, 1), data.split(b"\r\n", 1)[0].decode(errors="replace")
        except (ConnectionError, asyncio.TimeoutError) as e:
            return round(time.monotonic() - started, 1), type(e).__name__
        finally:
            if trickle:
                trickle.cancel()
            writer.close()

    return asyncio.ensure_future(answer())


async def stalled_uploads(root: Path) -> dict:
    async with Server(root) as server:
        stalls = [await stalled_answer(server.port, a, t) for a, t in
                  (("127.0.0.2", None), ("127.0.0.2", None), ("127.0.0.3", 9.0), ("127.0.0.3", 9.0))]
        await asyncio.sleep(1.0)
        import cv2

        ok, png = cv2.imencode(".png", face_frame_640())
        async with aiohttp.ClientSession() as http:
            async with http.post(server.base + "/api/uploads", data=form(png.tobytes(), "visitor.png")) as r:
                visitor = r.status
        answers = await asyncio.gather(*stalls)
        return {"attack": "stalled-uploads", "visitor_upload_status": visitor,
                "stalled_answers": [f"{a[1]} after {a[0]} s" for a in answers]}


# ---- 3. many-track containers ------------------------------------------------------------------


async def track_bomb(root: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fer-bomb-"))
    bomb1000 = many_tracks(tmp / "b1000.mkv", 1000, frames=3, side=64)
    bomb300 = many_tracks(tmp / "b300.mkv", 300, frames=3, side=64)
    out = {"attack": "track-bomb", "file_1000_tracks_bytes": len(bomb1000), "file_300_tracks_bytes": len(bomb300)}
    async with Server(root) as server:
        await asyncio.sleep(3)

        async def upload(data, name, address="127.0.0.1"):
            async with from_address(address) as http:
                async with http.post(server.base + "/api/uploads", data=form(data, name)) as r:
                    body = await r.json()
                    return r.status, (body.get("error") or body.get("status") or "")[:120]

        steps = [("one_1000", [bomb1000]), ("four_parallel_1000", [bomb1000] * 4),
                 ("twentyone_sequential_1000", None), ("three_300", None)]
        for name, files in steps:
            before = server.memory()["VmRSS"]
            peak = before
            done = asyncio.Event()

            async def sample():
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, server.memory()["VmRSS"])
                    await asyncio.sleep(0.02)

            sampler = asyncio.ensure_future(sample())
            if name == "twentyone_sequential_1000":
                replies = [await upload(bomb1000, "b.mkv") for _ in range(21)]
            elif name == "three_300":
                replies = [await upload(bomb300, "b.mkv") for _ in range(3)]
            else:  # from as many addresses (the per-address limit is 2)
                replies = await asyncio.gather(*(upload(f, "b.mkv", f"127.0.0.{i + 1}") for i, f in enumerate(files)))
            await asyncio.sleep(2)
            done.set()
            await sampler
            out[name] = {"rss_before_mb": before, "rss_peak_mb": peak, "rss_after_mb": server.memory()["VmRSS"],
                         "answers": sorted({f"{s} {e}" for s, e in replies})}
    return out


# ---- 6. frame count -------------------------------------------------------------------------


async def frame_count(root: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fer-fps-"))
    path = tmp / "fast.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=999)
        s.width = s.height = 64
        s.pix_fmt, s.options = "yuv420p", {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8), format="bgr24")
        for _ in range(119_880):
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    async with Server(root) as server, aiohttp.ClientSession() as http:
        start = time.monotonic()
        async with http.post(server.base + "/api/uploads", data=form(path.read_bytes(), "fast.mp4")) as r:
            status, body = r.status, await r.json()
        return {"attack": "frame-count", "file_bytes": path.stat().st_size, "frames": 119_880, "status": status,
                "answer": body.get("error") or body.get("status"), "answered_in_s": round(time.monotonic() - start, 2)}


# ---- 4. database outage ---------------------------------------------------------------------


async def outage(root: Path) -> dict:
    from db_support import PostgresServer

    pg = PostgresServer()
    if not (pg.initdb and pg.pg_ctl):
        return {"attack": "outage", "skipped": "PostgreSQL's binaries are not installed"}
    pg.start()
    try:
        url = pg.new_database()
        async with Server(root, database=url) as server, aiohttp.ClientSession() as http:
            s = await study(http, server.base)
            token = s["participant_url"].rsplit("/", 1)[1]
            live = LiveClient(await http.ws_connect(server.base + "/ws"))
            await live.start(FrameTrack([face_frame_640()], fps=15), study=token, consent=True)
            session = next(m["id"] for m in live.messages if m["type"] == "session")
            await live.mark(0, "start")
            await live.wait_results(20, timeout=60)
            lines_before = server.log_text().count("\n")
            pg.halt()
            halted = time.monotonic()
            await asyncio.sleep(3)
            n = len(live.results)
            await asyncio.sleep(5)
            results_during = len(live.results) - n
            marker = await live.mark(0, "end")
            newcomer = LiveClient(await http.ws_connect(server.base + "/ws"))
            try:
                await newcomer.start(FrameTrack([face_frame_640()], fps=15), study=token, consent=True)
                newcomer_answer = "accepted"
            except RuntimeError as e:
                newcomer_answer = str(e)[:140]
            await newcomer.close()
            async with http.post(server.base + "/api/studies", json=STUDY, headers=AUTH) as r:
                new_study = f"{r.status} {r.content_type}"
            async with http.get(server.base + "/healthz") as r:
                health = await r.json()
            received = len(live.results)
            await live.close()
            await asyncio.sleep(max(0.0, 30 - (time.monotonic() - halted)))
            log_during = server.log_text().splitlines()[lines_before:]
            pg.resume()
            for _ in range(60):
                async with http.get(server.base + "/healthz") as r:
                    if (await r.json())["status"] == "ok":
                        break
                await asyncio.sleep(0.5)
            async with http.get(f"{server.base}/api/sessions/{session}", headers=AUTH) as r:
                stored = await r.json()
        return {"attack": "outage", "database": "postgresql stopped for 30 s", "results_during_outage_8s": results_during,
                "marker_during": {k: marker.get(k) for k in ("type", "stored")}, "new_participant": newcomer_answer,
                "new_study": new_study, "healthz_during": {k: health.get(k) for k in ("status", "database")},
                "error_lines_during": sum(" ERROR " in line for line in log_during),
                "traceback_lines_during": sum(line.startswith("Traceback") for line in log_during),
                "errors_logged": [line.split(" ERROR ", 1)[1][:160] for line in log_during if " ERROR " in line],
                "results_received": received, "frames_stored_after": stored["frames"],
                "session_ended_stored": stored["ended"] is not None,
                "markers_after": [(m["task"], m["event"]) for m in stored["markers"]]}
    finally:
        pg.stop()


# ---- 5. participant-link floods -----------------------------------------------------------------


async def link_flood(root: Path) -> dict:
    from test_abuse import real_offer

    async with Server(root, args=["--max-streams", "4000", "--max-streams-per-client", "4000"]) as server, \
            aiohttp.ClientSession() as http:
        s = await study(http, server.base)
        token = s["participant_url"].rsplit("/", 1)[1]
        pc, sdp = await real_offer()
        sessions = refused = 0
        start = time.monotonic()
        while time.monotonic() - start < 42 and sessions + refused < 3000:
            async with http.ws_connect(server.base + "/ws") as ws:
                await ws.send_json({"type": "offer", "sdp": sdp, "study": token, "consent": True})
                while True:
                    msg = json.loads((await ws.receive(timeout=10)).data)
                    if msg["type"] == "session":
                        sessions += 1
                        break
                    if msg["type"] == "error":
                        refused += 1
                        break
        flood_s = round(time.monotonic() - start, 1)
        # markers: one participant sends 100,000
        db_file = Path(server.database.replace("sqlite:///", ""))
        size = lambda: sum(p.stat().st_size for p in db_file.parent.glob(db_file.name + "*"))  # noqa: E731
        size_before = size()
        ws = await http.ws_connect(server.base + "/ws")
        await ws.send_json({"type": "offer", "sdp": sdp, "study": token, "consent": True})
        other = await study(http, server.base)  # the link's session cap is per minute: another study
        await ws.send_json({"type": "offer", "sdp": sdp, "study": other["participant_url"].rsplit("/", 1)[1],
                            "consent": True})
        session = None
        while session is None:
            msg = json.loads((await ws.receive(timeout=10)).data)
            if msg["type"] == "session" and msg.get("title") == STUDY["title"]:
                session = msg["id"]
        slowest_page_ms = 0.0

        async def page_times():
            nonlocal slowest_page_ms
            while True:
                t = time.perf_counter()
                async with http.get(server.base + "/") as r:
                    await r.read()
                slowest_page_ms = max(slowest_page_ms, (time.perf_counter() - t) * 1000)
                await asyncio.sleep(0.1)

        pages = asyncio.ensure_future(page_times())
        start = time.monotonic()
        marked = errors = 0
        for i in range(100_000):
            await ws.send_json({"type": "marker", "task": 0, "event": "start" if i % 2 == 0 else "end"})
        while marked + errors < 100_000:
            msg = json.loads((await ws.receive(timeout=30)).data)
            if msg["type"] == "marked":
                marked += 1
            elif msg["type"] == "error":
                errors += 1
        markers_s = round(time.monotonic() - start, 1)
        pages.cancel()
        await ws.close()
        await pc.close()
        await asyncio.sleep(1)
        async with http.get(f"{server.base}/api/sessions/{session}", headers=AUTH) as r:
            stored = len((await r.json())["markers"])
        return {"attack": "link-flood", "offers_in_s": flood_s, "sessions_created": sessions,
                "offers_refused": refused, "markers_sent": 100_000, "markers_stored": stored,
                "marker_errors": errors, "markers_answered_in_s": markers_s,
                "db_growth_mb": round((size() - size_before) / 1e6, 2), "slowest_main_page_ms": round(slowest_page_ms, 1)}


# ---- 7. bad text ---------------------------------------------------------------------------


async def bad_text(root: Path) -> dict:
    out = {"attack": "bad-text"}
    async with Server(root) as server, aiohttp.ClientSession() as http:
        deep = ('{"title": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
        surrogate = b'{"title": "A\\ud800", "consent": "ok", "tasks": ["one"]}'
        for name, body in (("deep_json_study", deep), ("lone_surrogate_title", surrogate)):
            async with http.post(server.base + "/api/studies", data=body,
                                 headers={**AUTH, "Content-Type": "application/json"}) as r:
                out[name] = f"{r.status} {r.content_type}"
        async with http.get(server.base + "/p/a%00b") as r:
            out["nul_in_path"] = f"{r.status} {r.content_type}"
        async with http.ws_connect(server.base + "/ws") as ws:
            await ws.receive()
            await ws.send_str('{"type": "offer", "sdp": "v=0", "consent": true, "study": "a\\u0000b"}')
            msg = json.loads((await ws.receive(timeout=10)).data)
            await ws.send_json({"type": "ping", "t": 1})
            pong = json.loads((await ws.receive(timeout=10)).data)
            out["nul_in_study_token_ws"] = f"{msg['type']}: {msg.get('message', '')[:60]}; then {pong['type']}"
        out["tracebacks_in_log"] = server.log_text().count("Traceback")
    return out


# ---- 9. token guesses, observers, frame size ------------------------------------------------------


async def token_guesses(root: Path) -> dict:
    async with Server(root) as server, aiohttp.ClientSession() as http:
        counts: dict[int, int] = {}
        start = time.monotonic()
        for i in range(1000):
            async with http.get(server.base + "/api/studies", headers={"Authorization": f"Bearer guess{i:036d}"}) as r:
                counts[r.status] = counts.get(r.status, 0) + 1
        seconds = time.monotonic() - start
        return {"attack": "token-guesses", "tries": 1000, "answers": counts, "tries_per_s": round(1000 / seconds),
                "guesses_checked": counts.get(401, 0)}


async def observers(root: Path) -> dict:
    async with Server(root, args=["--max-streams-per-client", "8"]) as server, aiohttp.ClientSession() as http:
        s = await study(http, server.base)
        token = s["participant_url"].rsplit("/", 1)[1]

        async def rate(seconds=15.0):
            live = LiveClient(await http.ws_connect(server.base + "/ws"))
            await live.start(FrameTrack([face_frame_640()], fps=15), study=token, consent=True)
            await live.wait_results(5, timeout=60)
            n, t = len(live.results), time.monotonic()
            await asyncio.sleep(seconds)
            r = (len(live.results) - n) / (time.monotonic() - t)
            await live.close()
            return round(r, 1)

        alone = await rate()
        views, refused = [], 0
        for _ in range(200):
            try:
                ws = await http.ws_connect(f"{server.base}/api/studies/{s['id']}/live", headers=AUTH)
                views.append(ObserverClient(ws))
            except aiohttp.WSServerHandshakeError:
                refused += 1
        watched = await rate()
        for v in views:
            await v.close()
        return {"attack": "observers", "observers_tried": 200, "accepted": len(views), "refused": refused,
                "participant_results_per_s_alone": alone, "with_observers": watched}


async def frame_size(root: Path) -> dict:
    big = np.zeros((4320, 7680, 3), np.uint8)
    big[:] = 90

    class Switching(FrameTrack):
        """640x480 for 3 s, then 7680x4320 (as a camera switching)."""

        def __init__(self):
            super().__init__([face_frame_640()], fps=15)
            self.big = av.VideoFrame.from_ndarray(big, format="bgr24")
            self.switched_at = None

        async def recv(self):
            if self._index < 45:
                return await super().recv()
            if self.switched_at is None:
                self.switched_at = time.monotonic()
            pts = await self.next_pts()
            frame = self.big
            frame.pts, frame.time_base = pts, TIME_BASE
            return frame

    async with Server(root) as server, aiohttp.ClientSession() as http:
        await asyncio.sleep(2)
        before = server.memory()
        live = LiveClient(await http.ws_connect(server.base + "/ws"))
        track = Switching()
        await live.start(track)
        await live.wait_results(10, timeout=60)
        peak, error = before["VmHWM"], None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            peak = max(peak, server.memory()["VmHWM"])
            errors = [m["message"] for m in live.messages if m["type"] == "error"]
            if errors:
                error = errors[-1]
                break
            if track.switched_at and time.monotonic() - track.switched_at > 20:
                break
            await asyncio.sleep(0.2)
        await live.close()
        await asyncio.sleep(3)
        after = server.memory()
        return {"attack": "frame-size", "rss_before_mb": before["VmRSS"], "peak_mb": max(peak, after["VmHWM"]),
                "peak_before_mb": before["VmHWM"], "rss_after_mb": after["VmRSS"], "error": error}


ATTACKS = {"silent-peers": silent_peers, "stalled-uploads": stalled_uploads, "track-bomb": track_bomb,
           "frame-count": frame_count, "outage": outage, "link-flood": link_flood, "bad-text": bad_text,
           "token-guesses": token_guesses, "observers": observers, "frame-size": frame_size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("attacks", nargs="*", metavar="ATTACK", help=f"default: all ({', '.join(ATTACKS)})")
    p.add_argument("--root", type=Path, default=ROOT, help="checkout whose server is attacked (default: this one)")
    a = p.parse_args()
    unknown = [x for x in a.attacks if x not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s): {', '.join(unknown)}")
    for name in a.attacks or list(ATTACKS):
        started = time.monotonic()
        result = asyncio.run(ATTACKS[name](a.root.resolve()))
        result["bench_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
