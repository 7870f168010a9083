"""The upload API (server/uploads/) of the real app, through aiohttp's test client."""

import asyncio
import csv
import io
import time

import aiohttp
import av
import cv2
import numpy as np
import pytest
import ml
from server import Settings, UploadSettings, create_app, keys
from server.uploads.jobs import STORE_FILE

FPS, N_FRAMES = 10, 15


@pytest.fixture(scope="module")
def smile_mp4(tmp_path_factory, face_frame_640) -> bytes:
    path = tmp_path_factory.mktemp("up") / "smile.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    for i in range(N_FRAMES):
        writer.write(np.roll(face_frame_640, 2 * i, axis=1))
    writer.release()
    return path.read_bytes()


@pytest.fixture
def make_client(aiohttp_client, analyzer, tmp_path):
    async def make(**options):
        settings = Settings(uploads=UploadSettings(directory=tmp_path / "uploads", **options))
        app = create_app(settings, analyzer=analyzer)
        client = await aiohttp_client(app)
        return client, app[keys.UPLOADS]

    return make


def form(data: bytes, filename: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    return f


async def wait_done(client, job_id, timeout=90):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(f"/api/uploads/{job_id}")
        assert resp.status == 200
        body = await resp.json()
        seen.append(body["progress"])
        if body["status"] not in ("queued", "running"):
            return body, seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"upload {job_id} not finished after {timeout} s")


def files_in(folder):
    """The files under ``folder``, but the uploads folder's id (``.store``: not an upload)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != STORE_FILE) if folder.exists() else []


@pytest.mark.asyncio
async def test_upload_video_progress_summary_csv_and_annotated_video(make_client, smile_mp4, tmp_path):
    client, manager = await make_client()
    resp = await client.post("/api/uploads", data=form(smile_mp4, "class recording.mp4"))
    assert resp.status == 202, await resp.text()
    job = await resp.json()
    assert job["status"] in ("queued", "running") and job["filename"] == "class recording.mp4"

    body, progress = await wait_done(client, job["id"])
    assert body["status"] == "done", body["error"]
    assert progress == sorted(progress) and body["progress"] == 1.0
    summary = body["summary"]
    assert summary["faces_found"] == 1
    assert summary["dominant"] == "happy"
    assert summary["shares"]["happy"] > 0.8
    assert summary["frames_total"] == N_FRAMES
    timeline = summary["timeline"]
    assert timeline["classes"] == list(ml.CLASSES) and len(timeline["t"]) == len(timeline["probs"]) == N_FRAMES

    resp = await client.get(body["links"]["csv"])
    assert resp.status == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    assert "class recording.expressions.csv" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert rows and {r["face"] for r in rows} == {"1"}
    assert sum(r["label"] == "happy" for r in rows) > 0.8 * len(rows)

    resp = await client.get(body["links"]["video"])
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    video = await resp.read()
    with av.open(io.BytesIO(video)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == N_FRAMES

    resp = await client.get(body["links"]["timeline"])
    assert resp.status == 200 and (await resp.read())[:8] == b"\x89PNG\r\n\x1a\n"

    # privacy: the recording itself is gone once analysed; only the results remain
    job_dir = manager.settings.directory / f"u-{job['id']}"
    assert sorted(files_in(job_dir)) == ["annotated.mp4", "expressions.csv", "timeline.png"]

    # deleting needs the delete token the uploader got, not just the id
    assert (await client.delete(f"/api/uploads/{job['id']}")).status == 403
    assert (await client.delete(f"/api/uploads/{job['id']}", headers={"X-Delete-Token": "guess"})).status == 403
    assert job_dir.exists() and "delete_token" not in body
    resp = await client.delete(f"/api/uploads/{job['id']}", headers={"X-Delete-Token": job["delete_token"]})
    assert resp.status == 200
    assert not job_dir.exists()
    assert (await client.get(f"/api/uploads/{job['id']}")).status == 404


@pytest.mark.asyncio
async def test_upload_image(make_client, astronaut_bgr):
    client, _ = await make_client()
    ok, png = cv2.imencode(".png", astronaut_bgr)
    resp = await client.post("/api/uploads", data=form(png.tobytes(), "astronaut.png"))
    assert resp.status == 202
    body, _ = await wait_done(client, (await resp.json())["id"])
    assert body["status"] == "done" and body["summary"]["dominant"] == "happy"
    assert body["output_type"] == "image/png"
    resp = await client.get(body["links"]["video"])
    img = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == astronaut_bgr.shape


@pytest.mark.asyncio
async def test_unsupported_type_too_large_and_corrupt_uploads_are_refused(make_client, tmp_path):
    client, manager = await make_client(max_bytes=50_000)
    resp = await client.post("/api/uploads", data=form(b"%PDF-1.4 ...", "slides.pdf"))
    assert resp.status == 415
    msg = (await resp.json())["error"]
    assert "slides.pdf" in msg and "unsupported" in msg

    resp = await client.post("/api/uploads", data=form(b"\0" * 60_000, "long.mp4"))
    assert resp.status == 413
    assert "long.mp4" in (await resp.json())["error"] or "limit" in (await resp.json())["error"]

    resp = await client.post("/api/uploads", data=form(b"\x00\x00\x00\x18ftypmp42garbage" * 50, "broken.mp4"))
    assert resp.status == 400
    msg = (await resp.json())["error"]
    assert "broken.mp4" in msg and "corrupt" in msg
    assert str(manager.settings.directory) not in msg  # no server paths in messages

    resp = await client.post("/api/uploads", data=form(b"", "empty.png"))
    assert resp.status == 400 and "empty" in (await resp.json())["error"]

    resp = await client.post("/api/uploads", data=aiohttp.FormData({"note": "no file"}))
    assert resp.status == 400
    assert files_in(manager.settings.directory) == []  # nothing kept from refused uploads

    resp = await client.get("/api/uploads/config")
    cfg = await resp.json()
    assert cfg["max_bytes"] == 50_000 and ".mp4" in cfg["extensions"] and cfg["retention_s"] == 3600


@pytest.mark.asyncio
async def test_corrupt_frames_report_an_error_naming_the_file(make_client, smile_mp4):
    """A file whose header is fine but whose frames are garbage fails in the background, clearly."""
    client, manager = await make_client()
    broken = bytearray(smile_mp4)
    mdat = broken.find(b"mdat")
    broken[mdat + 8 : mdat + 8 + 2000] = b"\xff" * 2000  # the first frames' data
    broken = bytes(broken)
    resp = await client.post("/api/uploads", data=form(broken, "damaged.mp4"))
    assert resp.status == 202  # the container header is fine: accepted, fails while decoding
    body, _ = await wait_done(client, (await resp.json())["id"])
    assert body["status"] == "error"
    assert "damaged.mp4" in body["error"] and "corrupt" in body["error"]
    assert str(manager.settings.directory) not in body["error"]
    assert (await client.get(f"/api/uploads/{body['id']}/csv")).status == 409
    job_dir = manager.settings.directory / f"u-{body['id']}"
    assert files_in(job_dir) == []  # nothing half-written, and the upload itself is gone


@pytest.mark.asyncio
async def test_uploads_and_results_expire(make_client, smile_mp4):
    client, manager = await make_client(retention_s=5, cleanup_interval_s=0.1)  # longer than an analysis on a busy machine
    resp = await client.post("/api/uploads", data=form(smile_mp4, "smile.mp4"))
    job_id = (await resp.json())["id"]
    body, _ = await wait_done(client, job_id)
    assert body["status"] == "done"
    job_dir = manager.settings.directory / f"u-{job_id}"
    assert job_dir.exists()
    deadline = time.monotonic() + 10
    while job_dir.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not job_dir.exists()  # removed by the periodic cleanup, not by a request
    assert (await client.get(f"/api/uploads/{job_id}")).status == 404
    assert (await client.get(f"/api/uploads/{job_id}/csv")).status == 404
    assert files_in(manager.settings.directory) == []


@pytest.mark.asyncio
async def test_shutdown_deletes_everything(aiohttp_client, analyzer, tmp_path, smile_mp4):
    app = create_app(Settings(uploads=UploadSettings(directory=tmp_path / "up")), analyzer=analyzer)
    client = await aiohttp_client(app)
    resp = await client.post("/api/uploads", data=form(smile_mp4, "smile.mp4"))
    assert resp.status == 202
    await wait_done(client, (await resp.json())["id"])
    await client.close()  # runs the app's cleanup
    assert files_in(tmp_path / "up") == []


@pytest.mark.asyncio
async def test_an_edited_video_s_summary_counts_exactly_the_faces_of_its_csv(make_client, tmp_path):
    """Three shots cut hard (a person, an empty room, the same person again, another): the summary's
    faces found is the number of face ids in the CSV, every row says how it was made, and no face
    is carried over a cut."""
    import scenes
    from ml.tracking import iou
    from test_shot_cuts import ROOM, A, B, film

    frames, faces = film(A, ROOM, A, B, n=10)
    path = tmp_path / "edited.mp4"
    scenes.write_video(frames, path, fps=FPS)
    client, _ = await make_client()
    resp = await client.post("/api/uploads", data=form(path.read_bytes(), "edited.mp4"))
    assert resp.status == 202, await resp.text()
    body, _ = await wait_done(client, (await resp.json())["id"])
    assert body["status"] == "done", body["error"]
    rows = list(csv.DictReader(io.StringIO(await (await client.get(body["links"]["csv"])).text())))
    ids = {r["face"] for r in rows if r["face"]}
    assert body["summary"]["faces_found"] == len(ids) >= 3  # a new face after each cut to a person
    assert ids == {str(i) for i in range(1, len(ids) + 1)}  # numbered 1..N
    assert {r["source"] for r in rows} <= {"detected", "interpolated", ""}
    shots = [set() for _ in range(4)]
    for r in rows:
        if r["face"]:
            shots[int(r["frame"]) // 10].add(r["face"])
    assert shots[1] == set() and all(shots[k] for k in (0, 2, 3)), shots  # nobody in the empty room
    assert all(not shots[j] & shots[k] for j in range(4) for k in range(j)), shots  # no face carried over a cut
    for k in (0, 2, 3):  # each person's shot: a face on the person in (nearly) every frame
        on = {int(r["frame"]) for r in rows if r["face"] and int(r["frame"]) // 10 == k
              and iou(tuple(int(r[c]) for c in "xywh"), faces[int(r["frame"])]) >= 0.4}
        assert len(on) >= 8, (k, sorted(on))
    assert body["summary"]["brief_detections"] == 0
