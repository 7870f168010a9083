"""A distant face (48 px in 640x480) is found by default, live, in uploads and by ml.analyze;
`--small-faces`, which was needed for it, is a deprecated no-op."""

import cv2
import numpy as np
import pytest

import samples
from server.live.inference import AnalysisService
from server.settings import Settings


def distant_face_frame():
    """A 640x480 frame with the astronaut's face about 48 pixels wide (a person at the back of a room)."""
    head = cv2.resize(samples.astronaut_bgr()[0:300, 80:380], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100 : 100 + head.shape[0], 400 : 400 + head.shape[1]] = head
    return frame


def test_the_default_finds_a_distant_face_and_small_faces_changes_nothing(capsys):
    assert Settings.from_args(["--small-faces"], env={}).small_faces
    assert "--small-faces is deprecated" in capsys.readouterr().err
    frame = distant_face_frame()
    default = AnalysisService()
    default.load()
    small = AnalysisService(analyzer=None, small_faces=True)
    small.load()
    try:
        faces = default.analyze_frame(frame)[0]
        assert len(faces) == 1
        x, y, w, h = faces[0]["box"]
        # the face is at (94, 64) in the head crop, (47, 32) at half size, pasted at (400, 100): ~(447, 132)
        assert 435 < x < 460 and 120 < y < 145 and 35 < w < 65
        assert small.analyzer.detector.settings == default.analyzer.detector.settings
        assert [f["box"] for f in small.analyze_frame(frame)[0]] == [f["box"] for f in faces]
    finally:
        default.close()
        small.close()


def test_analyze_cli_finds_the_distant_face_and_small_faces_is_deprecated(tmp_path, capsys):
    from ml.recorded.cli import main

    image = tmp_path / "room.png"
    cv2.imwrite(str(image), distant_face_frame())
    rows = {}
    for name, extra in (("default", []), ("small", ["--small-faces"])):
        out = tmp_path / f"{name}.csv"
        assert main([str(image), "--csv", str(out), "--plot", "", "--quiet", *extra]) == 0
        rows[name] = out.read_text().strip().splitlines()[1:]  # after the header
    assert len(rows["default"]) == 1
    assert rows["small"] == rows["default"]
    assert "--small-faces is deprecated" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_uploads_use_the_live_model_and_find_the_distant_face(aiohttp_client, monkeypatch, tmp_path):
    """One model in memory for the live camera and the uploads, which find the distant face too."""
    import asyncio
    import io
    import time

    import aiohttp

    from server import Settings, UploadSettings, create_app, keys

    app = create_app(Settings(uploads=UploadSettings(directory=tmp_path / "uploads")))
    client = await aiohttp_client(app)  # startup loads the live analyser
    ok, png = cv2.imencode(".png", distant_face_frame())
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(png.tobytes()), filename="room.png", content_type="image/png")
    resp = await client.post("/api/uploads", data=form)
    assert resp.status == 202
    job = (await resp.json())["id"]
    deadline = time.monotonic() + 60
    while True:
        body = await (await client.get(f"/api/uploads/{job}")).json()
        if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert body["status"] == "done", body
    assert body["summary"]["faces_found"] == 1  # the 48-pixel face
    service = app[keys.ANALYSIS]
    assert service.recorded_analyzer().classifier is service.classifier  # one model in memory
    assert service.recorded_analyzer().detector is not service.analyzer.detector  # a cascade per thread
