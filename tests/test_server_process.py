"""``python -m server`` as an operator runs it: killed with ``kill -9`` mid-analysis and restarted,
fed upload bombs while its memory is read from /proc, and its log read afterwards."""

import asyncio
import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from server.client import FrameTrack, LiveClient

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_upload_abuse import h264, png

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")


class ServerProcess:
    """``python -m server`` on a free port, its output in a file."""

    def __init__(self, tmp_path: Path, upload_dir: Path, *args: str, env: dict | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"server-{self.port}.log"
        env = dict(os.environ, FER_UPLOAD_DIR=str(upload_dir), FER_SCREEN_DIR=f"{upload_dir}-screen",
                   TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(self.port), *args],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.time() < deadline, "the server did not come up"
            time.sleep(0.5)

    def memory_mb(self, field: str) -> float:
        """VmHWM (peak resident memory) or VmRSS of the server process, in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise KeyError(field)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log.read_text()


def post_file(url: str, data: bytes, name: str) -> tuple[int, dict]:
    import json

    boundary = "----fer-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "/api/uploads", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get_json(url: str) -> tuple[int, dict]:
    import json

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def face_video(path: Path, frames: int, face_frame_640) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for i in range(frames):
        writer.write(np.roll(face_frame_640, abs(i % 80 - 40), axis=1))  # to and fro: a jump back would be a cut
    writer.release()
    return path.read_bytes()


def wait_job(url: str, job_id: str, until=("done", "error"), timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while True:
        status, body = get_json(f"{url}/api/uploads/{job_id}")
        assert status == 200, body
        if body["status"] in until:
            return body
        assert time.time() < deadline, body
        time.sleep(0.2)


def test_a_killed_server_resumes_its_upload_jobs_when_it_starts_again(tmp_path, face_frame_640, database_url):
    """kill -9 mid-analysis, then the same server on the same database: the running job is analysed again
    from its file and finishes, the queued one too; a folder no job owns is deleted."""
    uploads = tmp_path / "uploads"
    options = ("--database", database_url)
    lease = {"FER_UPLOAD_LEASE_S": "2"}
    server = ServerProcess(tmp_path, uploads, *options, env=lease)
    try:
        status, job = post_file(server.url, face_video(tmp_path / "long.mp4", 400, face_frame_640), "long.mp4")
        assert status == 202, job
        status, queued = post_file(server.url, face_video(tmp_path / "short.mp4", 30, face_frame_640), "short.mp4")
        assert status == 202, queued
        body = wait_job(server.url, job["id"], until=("running",))
        while body["frames_done"] == 0:  # mid-analysis: the raw upload and partial outputs are on disk
            body = wait_job(server.url, job["id"], until=("running",))
        assert get_json(f"{server.url}/api/uploads/{queued['id']}")[1]["status"] == "queued"
        folder = uploads / f"u-{job['id']}"
        assert (folder / "input.mp4").exists()
        server.proc.kill()  # kill -9: no cleanup runs
        server.proc.wait()
    finally:
        server.stop()
    (uploads / "u-older-crash").mkdir()
    (uploads / "u-older-crash" / "input.png").write_bytes(b"someone's photo")
    (uploads / "operator-notes.txt").write_text("not an upload: kept")

    again = ServerProcess(tmp_path, uploads, *options, env=lease)
    try:
        assert not (uploads / "u-older-crash").exists() and (uploads / "operator-notes.txt").exists()
        body = wait_job(again.url, job["id"])
        assert body["status"] == "done", body
        assert body["summary"]["frames_total"] == 400 and body["summary"]["dominant"] == "happy"
        with urllib.request.urlopen(again.url + body["links"]["csv"], timeout=30) as r:
            rows = list(csv.DictReader(io.StringIO(r.read().decode())))
        assert {int(r["frame"]) for r in rows} == set(range(400)) and len(rows) == 400  # each frame once
        assert sorted(p.name for p in folder.iterdir()) == ["annotated.mp4", "expressions.csv", "timeline.png"]
        assert wait_job(again.url, queued["id"])["status"] == "done"
    finally:
        log = again.stop()
    assert "deleted 1 upload folders left by an earlier run" in log
    assert "uploads: 1 jobs of a stopped server recovered" in log
    assert job["id"] not in log and "long.mp4" not in log


def test_bombs_keep_memory_bounded_and_the_log_says_little(tmp_path, face_frame_640):
    server = ServerProcess(tmp_path, tmp_path / "uploads", "--database", f"sqlite:///{tmp_path / 'fer.db'}")
    try:
        get_json(server.url + "/api/uploads/config")
        base = server.memory_mb("VmHWM")

        # 730 kB of PNG, 16000x16000 pixels: 768 MB decoded. Refused from its header.
        status, body = post_file(server.url, png(16000, 16000), "bomb.png")
        assert status == 400 and "too large" in body["error"]
        assert server.memory_mb("VmHWM") - base < 100

        # 4096x2160 H.264, tens of kB: taken, decoded and annotated at 1920x1012
        status, job = post_file(server.url, h264(tmp_path / "uhd.mp4", 4096, 2160, frames=90), "uhd.mp4")
        assert status == 202, job
        deadline = time.time() + 240
        while (body := get_json(f"{server.url}/api/uploads/{job['id']}")[1])["status"] in ("queued", "running"):
            assert time.time() < deadline
            time.sleep(0.3)
        assert body["status"] == "done", body
        peak = server.memory_mb("VmHWM") - base
        print(f"server memory: base peak {base:.0f} MB, 4K video peak +{peak:.0f} MB, "
              f"resident after {server.memory_mb('VmRSS'):.0f} MB")
        assert peak < 600, f"analysing a 4K video took {peak:.0f} MB more"

        # one live stream, a malformed HTTP request
        asyncio.run(stream_briefly(server.url, face_frame_640))
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nonsense\r\n\r\n")
            assert b" 400 " in s.recv(4096).split(b"\r\n")[0]
        time.sleep(0.5)
    finally:
        log = server.stop()
    lines = log.splitlines()
    assert "127.0.0.1" not in log  # no client addresses
    assert job["id"] not in log and "uhd.mp4" not in log  # no ids, no file names
    assert "candidate" not in log.lower() and "Traceback" not in log
    assert sum("live stream closed" in line for line in lines) == 1
    assert sum("upload analysed (video, done)" in line for line in lines) == 1
    assert any("upload refused (400)" in line for line in lines)
    assert any("malformed HTTP request refused" in line for line in lines)
    assert not any('"GET ' in line or '"POST ' in line for line in lines)  # no access log at INFO


async def stream_briefly(url: str, frame) -> None:
    async with aiohttp.ClientSession() as http:
        client = LiveClient(await http.ws_connect(url + "/ws"))
        await client.start(FrameTrack([frame], fps=15))
        await client.wait_results(5, timeout=60)
        await client.close()
    await asyncio.sleep(1)
