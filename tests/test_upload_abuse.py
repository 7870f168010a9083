"""Uploads under abuse: picture, resolution and duration bombs made here, parallel uploads past the
limit, malformed multipart, long names, private files, delete tokens (the real app, aiohttp's test client)."""

import asyncio
import io
import logging
import os
import stat
import threading

import aiohttp
import av
import cv2
import numpy as np
import pytest

from ml.recorded.media import MediaError, MediaLimits, open_media
from server import Settings, UploadSettings, create_app, keys
from server.settings import default_upload_dir
from server.uploads.jobs import STORE_FILE, private_folder


def form(data: bytes, filename: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    return f


def png(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` black pixels: small on disk, huge once decoded."""
    ok, buf = cv2.imencode(".png", np.zeros((height, width, 3), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return buf.tobytes()


def h264(path, width: int, height: int, frames: int, fps: int = 30) -> bytes:
    """An H.264 mp4 of ``frames`` grey frames: a few kB, whatever its size."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="bgr24")
        for _ in range(frames):
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path.read_bytes()


@pytest.fixture
def make_client(aiohttp_client, analyzer, tmp_path):
    async def make(**options):
        app = create_app(Settings(uploads=UploadSettings(directory=tmp_path / "uploads", **options)),
                         analyzer=analyzer)
        return await aiohttp_client(app), app[keys.UPLOADS]

    return make


async def wait_done(client, job_id, timeout=90):
    for _ in range(int(timeout * 10)):
        body = await (await client.get(f"/api/uploads/{job_id}")).json()
        if body["status"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("not finished")


def folders(directory):
    """What the uploads folder holds, but its id (``.store``: not an upload)."""
    return sorted(p.name for p in directory.iterdir() if p.name != STORE_FILE) if directory.exists() else []


# ---------- bombs ----------


@pytest.mark.asyncio
async def test_picture_bombs_are_refused_from_their_header(make_client):
    client, jobs = await make_client()
    for data, name, reason in (
        (png(8000, 8000), "bomb.png", "8000x8000 pixels is too large"),
        (png(5000, 400), "wide.png", "at most 4096 pixels a side"),
    ):
        assert len(data) < 1_000_000  # small files: the size limit does not catch them
        resp = await client.post("/api/uploads", data=form(data, name))
        assert resp.status == 400, name
        message = (await resp.json())["error"]
        assert name in message and reason in message, message
    assert folders(jobs.settings.directory) == []
    client, jobs = await make_client(max_pixels=1_000_000)
    resp = await client.post("/api/uploads", data=form(png(2000, 1000), "flat.png"))
    assert resp.status == 400
    assert "2000x1000 pixels is too large (at most 1 megapixels)" in (await resp.json())["error"]


def test_a_picture_bomb_is_refused_before_it_is_decoded(tmp_path):
    """open_media with limits reads the header only: the check takes no memory, and the CLI can use it too."""
    import resource

    path = tmp_path / "bomb.png"
    path.write_bytes(png(16000, 16000))  # 768 MB decoded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(MediaError, match="too large"):
        open_media(path, MediaLimits(max_pixels=40_000_000))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: nothing decoded


@pytest.mark.asyncio
async def test_a_video_too_long_or_too_large_is_refused_from_its_header(make_client, tmp_path):
    client, jobs = await make_client(max_duration_s=5)
    long_video = h264(tmp_path / "long.mp4", 64, 64, frames=20, fps=2)  # 10 s
    resp = await client.post("/api/uploads", data=form(long_video, "lecture.mp4"))
    assert resp.status == 400
    message = (await resp.json())["error"]
    assert "lecture.mp4" in message and "10 s long; at most 5 s" in message, message
    big = h264(tmp_path / "big.mp4", 4608, 512, frames=2)
    resp = await client.post("/api/uploads", data=form(big, "wide.mp4"))
    assert resp.status == 400 and "at most 4096 pixels a side" in (await resp.json())["error"]
    assert folders(jobs.settings.directory) == []


def many_tracks(path, tracks: int, frames: int = 2, side: int = 32) -> bytes:
    """A container of ``tracks`` small H.264 video tracks (MKV or MP4, by the name)."""
    with av.open(str(path), "w") as c:
        streams = []
        for _ in range(tracks):
            s = c.add_stream("libx264", rate=25)
            s.width = s.height = side
            s.pix_fmt, s.options = "yuv420p", {"preset": "ultrafast"}
            streams.append(s)
        frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 90, np.uint8), format="bgr24")
        for _ in range(frames):
            for s in streams:
                for packet in s.encode(frame):
                    c.mux(packet)
        for s in streams:
            for packet in s.encode():
                c.mux(packet)
    return path.read_bytes()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["tracks.mkv", "tracks.mp4"])
async def test_a_container_of_many_tracks_is_refused_from_its_header(make_client, tmp_path, name):
    """FFmpeg opens a decoder for every track while it reads the header: 1,000 tracks in 10 MB took 1 GB."""
    client, jobs = await make_client()
    data = many_tracks(tmp_path / name, 40)
    resp = await client.post("/api/uploads", data=form(data, name))
    assert resp.status == 400, await resp.text()
    message = (await resp.json())["error"]
    assert name in message and "more than 16 streams (tracks)" in message, message
    assert folders(jobs.settings.directory) == []
    few = many_tracks(tmp_path / f"few-{name}", 3, frames=10)  # a few tracks: one is analysed
    resp = await client.post("/api/uploads", data=form(few, name))
    assert resp.status == 202, await resp.text()
    body = await wait_done(client, (await resp.json())["id"])
    assert body["status"] == "done" and body["summary"]["frames_total"] == 10, body


def test_reading_a_many_track_header_takes_no_memory(tmp_path):
    """In a process of its own (RSS): 300 tracks took +240 MB at the peak before the limit, +0 now."""
    import subprocess
    import sys

    path = tmp_path / "bomb.mkv"
    many_tracks(path, 300)
    code = (
        "import resource, sys\n"
        "from ml.recorded.media import MediaError, MediaLimits, open_media\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    open_media(sys.argv[1], MediaLimits(max_streams=16))\n"
        "except MediaError as e:\n"
        "    print('refused:', e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = out.stdout.strip().splitlines()
    assert lines and lines[0].startswith("refused:") and "more than 16 streams" in lines[0], out.stdout + out.stderr
    assert int(lines[-1]) < 30_000  # kB of peak RSS above the start: the 300 decoders were never opened


@pytest.mark.asyncio
async def test_a_video_of_too_many_frames_or_frames_a_second_is_refused(make_client, tmp_path):
    client, jobs = await make_client()
    fast = h264(tmp_path / "fast.mp4", 64, 64, frames=600, fps=999)  # 0.6 s at 999 fps
    resp = await client.post("/api/uploads", data=form(fast, "fast.mp4"))
    assert resp.status == 400
    assert "999 frames a second; at most 240" in (await resp.json())["error"]
    client, jobs = await make_client(max_frames=50)
    many = h264(tmp_path / "many.mp4", 64, 64, frames=80, fps=30)
    resp = await client.post("/api/uploads", data=form(many, "many.mp4"))
    assert resp.status == 400
    assert "the video has 80 frames; at most 50 are analysed" in (await resp.json())["error"]
    assert folders(jobs.settings.directory) == []


def test_a_header_that_hides_frames_is_caught_while_decoding(tmp_path):
    video = tmp_path / "v.mp4"
    h264(video, 64, 64, frames=60, fps=30)
    for limits, expected in ((MediaLimits(max_frames=40), "more than 40 frames"),
                             (MediaLimits(max_fps=10), "more than 10 frames a second")):
        source = open_media(video)
        source.limits = limits  # as if the header had said what the limits take
        with pytest.raises(MediaError, match=expected):
            for _ in source.frames():
                pass


@pytest.mark.asyncio
async def test_a_4k_video_is_analysed_at_a_reduced_size(make_client, tmp_path):
    """32 kB of H.264 at 4096x2160: accepted (within the limits), decoded and annotated at 1920 wide."""
    client, _ = await make_client()
    data = h264(tmp_path / "uhd.mp4", 4096, 2160, frames=30)
    assert len(data) < 100_000
    resp = await client.post("/api/uploads", data=form(data, "uhd.mp4"))
    assert resp.status == 202, await resp.text()
    body = await wait_done(client, (await resp.json())["id"])
    assert body["status"] == "done", body["error"]
    assert body["summary"]["frames_total"] == 30
    video = await (await client.get(body["links"]["video"])).read()
    with av.open(io.BytesIO(video)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (1920, 1012)


def test_media_limits_scale_frames_down_and_catch_a_lying_header(tmp_path):
    path = tmp_path / "photo.jpg"
    ok, jpg = cv2.imencode(".jpg", np.full((3000, 4000, 3), 120, np.uint8))
    path.write_bytes(jpg.tobytes())
    image = next(open_media(path, MediaLimits(frame_side=1000)).frames()).image
    assert image.shape == (750, 1000, 3)
    assert next(open_media(path).frames()).image.shape == (3000, 4000, 3)  # no limits: as before (the CLI)
    # the decoded frames are checked too, whatever the header said
    video = tmp_path / "v.mp4"
    h264(video, 320, 240, frames=40, fps=10)  # 4 s
    source = open_media(video, MediaLimits(max_duration_s=10))
    source.limits = MediaLimits(max_duration_s=2)  # as if the header had said 2 s or less
    with pytest.raises(MediaError, match="at most 2 s"):
        for _ in source.frames():
            pass


# ---------- the pending limit ----------


@pytest.mark.asyncio
async def test_parallel_uploads_cannot_get_past_the_pending_limits(make_client, astronaut_bgr):
    """12 uploads at once, whose bodies do not come yet: exactly ``max_receiving`` are taken (the count
    and the insert are one step); and once ``max_pending`` wait for the analysis, no new one is taken."""
    client, jobs = await make_client(max_pending=2, max_receiving=3, max_pending_per_client=20, body_idle_s=2,
                                     body_grace_s=2)
    stalls = await asyncio.gather(*(stalled_upload(client.port, "127.0.0.1") for _ in range(12)))
    answers = await asyncio.gather(*(asyncio.wait_for(reader.read(), 20) for reader, _, _ in stalls))
    statuses = sorted(int(a.split(b" ", 2)[1]) for a in answers)
    assert statuses == [408] * 3 + [429] * 9, statuses  # 3 received (until they stalled), 9 refused at once
    assert all(b"the server is receiving 3 other uploads" in a for a in answers if b" 429 " in a[:20])
    for _, writer, _ in stalls:
        writer.close()
    gate = threading.Event()
    jobs.service.submit_recorded(lambda analyzer: gate.wait(60))  # the analysis thread is busy: jobs wait
    ok, image = cv2.imencode(".png", astronaut_bgr)
    try:
        for i in range(2):
            assert (await client.post("/api/uploads", data=form(image.tobytes(), f"f{i}.png"))).status == 202
        resp = await client.post("/api/uploads", data=form(image.tobytes(), "late.png"))  # 2 wait: the queue is full
        assert resp.status == 429 and "busy analysing other uploads" in (await resp.json())["error"]
        assert len(folders(jobs.settings.directory)) == 2
    finally:
        gate.set()


@pytest.mark.asyncio
async def test_one_address_may_have_only_a_few_uploads_pending(make_client, astronaut_bgr):
    client, jobs = await make_client(max_pending=4, max_pending_per_client=1)
    gate = threading.Event()
    jobs.service.submit_recorded(lambda analyzer: gate.wait(60))
    ok, image = cv2.imencode(".png", astronaut_bgr)
    try:
        assert (await client.post("/api/uploads", data=form(image.tobytes(), "a.png"))).status == 202
        resp = await client.post("/api/uploads", data=form(image.tobytes(), "b.png"))
        assert resp.status == 429 and "1 uploads being analysed" in (await resp.json())["error"]
    finally:
        gate.set()


# ---------- stalled bodies ----------


async def stalled_upload(port: int, address: str, trickle_s: float | None = None):
    """An upload from ``address`` that sends its HTTP and multipart headers, then nothing (or one byte every
    ``trickle_s``); returns (reader, writer, trickle task)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    writer.write(b"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 50000000\r\n\r\n"
                 b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="long.mp4"\r\n'
                 b"Content-Type: video/mp4\r\n\r\n")
    await writer.drain()

    async def trickle():
        try:
            while True:
                await asyncio.sleep(trickle_s)
                writer.write(b"x")
                await writer.drain()
        except (ConnectionError, OSError):  # the server answered and closed
            pass

    return reader, writer, asyncio.ensure_future(trickle()) if trickle_s else None


@pytest.mark.asyncio
@pytest.mark.parametrize("trickle_s", [None, 0.5])
async def test_stalled_uploads_from_two_addresses_refuse_nobody_and_are_cut_off(make_client, astronaut_bgr,
                                                                                 trickle_s):
    """Four connections from two addresses that send headers and then nothing (or a byte at a time) kept
    every upload at 429. Now a visitor's upload goes through meanwhile, and the stalled ones get 408."""
    client, jobs = await make_client(body_idle_s=2, body_grace_s=4, body_min_rate=1024)
    stalls = [await stalled_upload(client.port, address, trickle_s)
              for address in ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3")]
    answers = [asyncio.ensure_future(answer_of(reader)) for reader, _, _ in stalls]
    assert await _eventually(lambda: len(jobs.local) == 4)  # all four are being received
    ok, image = cv2.imencode(".png", astronaut_bgr)
    resp = await client.post("/api/uploads", data=form(image.tobytes(), "visitor.png"))
    assert resp.status == 202, await resp.text()
    assert (await wait_done(client, (await resp.json())["id"]))["status"] == "done"
    for answer, (_, writer, trickle) in zip(await asyncio.gather(*answers), stalls):  # each is told, within seconds
        if trickle:
            trickle.cancel()
        writer.close()
        if answer is None:  # a byte that came after the server closed made it reset: the answer may be lost
            assert trickle_s is not None
            continue
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        message = answer.split(b"\r\n\r\n", 1)[1].decode()
        assert ("nothing of the upload came for 2 s" if trickle_s is None else "slower than 1 kB/s") in message
    assert await _eventually(lambda: not jobs.local)
    assert len(folders(jobs.settings.directory)) == 1  # the visitor's; nothing of the stalled ones is left


async def answer_of(reader, timeout=20.0) -> bytes | None:
    """The server's answer to a stalled upload, read as it comes (None if the connection was reset first)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        return head + await asyncio.wait_for(reader.readexactly(length), timeout)
    except (ConnectionResetError, asyncio.IncompleteReadError):
        return None


async def _eventually(condition, timeout=10.0):
    for _ in range(int(timeout * 20)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


# ---------- malformed requests, names ----------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\n\r\n"),  # no boundary
        ("multipart/form-data; boundary=xyz", b"this is not multipart at all"),
        ("multipart/form-data; boundary=xyz",
         b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG'),  # cut off
        ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n'),
        ("text/plain", b"hello"),
    ],
)
async def test_malformed_multipart_is_a_400_without_a_traceback(make_client, caplog, content_type, body):
    client, jobs = await make_client()
    with caplog.at_level(logging.INFO):
        resp = await client.post("/api/uploads", data=body, headers={"Content-Type": content_type})
        assert resp.status == 400, await resp.text()
        assert "error" in await resp.json()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert (await client.get("/healthz")).status == 200
    await asyncio.sleep(0.2)
    assert folders(jobs.settings.directory) == [] and await jobs.pending() == 0


@pytest.mark.asyncio
async def test_a_long_file_name_keeps_its_extension(make_client, astronaut_bgr):
    client, _ = await make_client()
    ok, image = cv2.imencode(".png", astronaut_bgr)
    name = "a very long name " * 12 + ".png"
    resp = await client.post("/api/uploads", data=form(image.tobytes(), name))
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["filename"].endswith(".png") and len(body["filename"]) <= 120
    assert (await wait_done(client, body["id"]))["status"] == "done"


# ---------- privacy: files, folders, ids, delete tokens ----------


@pytest.mark.asyncio
async def test_upload_files_are_private_and_deleting_needs_the_uploaders_token(make_client, astronaut_bgr):
    client, jobs = await make_client()
    base = jobs.settings.directory
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    ok, image = cv2.imencode(".png", astronaut_bgr)
    resp = await client.post("/api/uploads", data=form(image.tobytes(), "me.png"))
    job = await resp.json()
    token = job["delete_token"]
    assert len(token) >= 30 and token != job["id"]
    body = await wait_done(client, job["id"])
    assert "delete_token" not in body  # only the uploader's answer has it
    folder = base / f"u-{job['id']}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [p for p in folder.iterdir()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files]
    for headers in ({}, {"X-Delete-Token": ""}, {"X-Delete-Token": token[:-1]}, {"X-Delete-Token": job["id"]}):
        assert (await client.delete(f"/api/uploads/{job['id']}", headers=headers)).status == 403
    assert folder.exists()
    assert (await client.delete(f"/api/uploads/{job['id']}", headers={"X-Delete-Token": token})).status == 200
    assert not folder.exists()


@pytest.mark.parametrize("folder_mode, final_mode", [(0o700, 0o600), (0o755, 0o644)])
def test_partial_outputs_are_the_owners_only_while_written(tmp_path, analyzer, face_frame_640, folder_mode,
                                                           final_mode):
    """The .part files (annotated video, CSV, plot) being written: 0600, whatever the umask. Once in place
    they get a new file's mode (umask 022 here), or stay 0600 in a folder only the owner can enter (uploads)."""
    from ml.recorded import analyze_media

    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        out.mkdir(mode=folder_mode)
        os.chmod(out, folder_mode)
        video = tmp_path / "in.mp4"
        with av.open(str(video), "w") as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
            for _ in range(40):
                for packet in s.encode(av.VideoFrame.from_ndarray(face_frame_640, format="bgr24")):
                    c.mux(packet)
            for packet in s.encode():
                c.mux(packet)
        seen = {}

        def progress(done, total):
            for p in out.iterdir():
                if ".part-" in p.name:
                    seen[p.name] = stat.S_IMODE(p.stat().st_mode)

        analyze_media(video, analyzer, csv=out / "x.csv", out=out / "x.annotated.mp4", plot=out / "x.png",
                      batch=4, progress=progress)
    finally:
        os.umask(old)
    assert {n.rsplit(".", 1)[-1] for n in seen} == {"csv", "mp4", "png"}, seen
    assert set(seen.values()) == {0o600}, seen
    finals = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert finals == {"x.csv": final_mode, "x.annotated.mp4": final_mode, "x.png": final_mode}


def test_the_default_upload_folder_is_the_users_own(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_upload_dir() == tmp_path / "fer-uploads"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_upload_dir() == tmp_path / "home" / ".cache" / "fer-uploads"
    assert UploadSettings().directory == tmp_path / "home" / ".cache" / "fer-uploads"


def test_a_shared_or_linked_upload_folder_is_refused(tmp_path):
    folder = tmp_path / "up"
    folder.mkdir(mode=0o755)
    private_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(RuntimeError, match="symbolic link"):
        private_folder(link)
    if os.getuid() != 0:
        pytest.skip("making a folder of another user needs root")
    other = tmp_path / "theirs"
    other.mkdir()
    os.chown(other, 65534, 65534)
    with pytest.raises(RuntimeError, match="another user"):
        private_folder(other)


@pytest.mark.asyncio
async def test_upload_ids_stay_out_of_the_apps_logs(make_client, astronaut_bgr, caplog):
    """The app's own lines (the HTTP access log of ``python -m server``: tests/test_server_process.py)."""
    client, _ = await make_client()
    ok, image = cv2.imencode(".png", astronaut_bgr)
    with caplog.at_level(logging.DEBUG):
        job = await (await client.post("/api/uploads", data=form(image.tobytes(), "secret-name.png"))).json()
        await wait_done(client, job["id"])
        await client.get(f"/api/uploads/{job['id']}/csv")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("server"))
    assert "upload analysed (image, done)" in text
    assert job["id"] not in text and job["delete_token"] not in text and "secret-name" not in text


def test_the_debug_access_log_blanks_upload_ids():
    from server.logs import redact_path

    assert redact_path("/api/uploads/AbC-123_x/csv") == "/api/uploads/…/csv"
    assert redact_path("/api/uploads/AbC-123_x") == "/api/uploads/…"
    assert redact_path("/api/uploads/config") == "/api/uploads/config"
    assert redact_path("/static/live.js") == "/static/live.js"
