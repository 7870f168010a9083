"""python -m ml.analyze on small recordings made from real face photos (no data set, no GPU)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data

import ml
from ml.schema import COLUMNS
from ml.recorded.cli import main
from ml.recorded.media import MediaError, open_media
from ml.recorded import Cancelled, analyze_media

ROOT = Path(__file__).resolve().parent.parent
FPS = 10
N_FRAMES = 20  # two seconds


def write_video(path: Path, frames, fps=FPS, fourcc="mp4v") -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def face_frames(frame, n=N_FRAMES):
    """The face drifting right by 2 pixels a frame: a camera-like recording."""
    return [np.roll(frame, 2 * i, axis=1) for i in range(n)]


@pytest.fixture(scope="module")
def face_video(tmp_path_factory, face_frame_640) -> Path:
    """A 2 s, 10 fps, 640x480 MPEG-4 video of the smiling astronaut."""
    return write_video(tmp_path_factory.mktemp("media") / "smile.mp4", face_frames(face_frame_640))


def read_csv(path: Path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def decode_video(path: Path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        codec = stream.codec_context.name
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(stream)]
    return codec, frames


def leftovers(folder: Path):
    """Temporary (partial) outputs: hidden '.*.part-*' names."""
    return [p.name for p in folder.rglob("*") if ".part-" in p.name]


def run_cli(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "ml.analyze", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )


def test_cli_video_writes_csv_annotated_video_plot_and_summary(face_video, tmp_path):
    out_csv, out_mp4 = tmp_path / "smile.csv", tmp_path / "smile.annotated.mp4"
    r = run_cli(face_video, "--csv", out_csv, "--out", out_mp4, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # the summary a user reads
    assert "faces found: 1" in r.stdout
    assert "happy" in r.stdout and "%" in r.stdout
    assert "frame/s" in r.stderr  # tqdm's rate (and time left) on the progress bar

    columns, rows = read_csv(out_csv)
    assert columns == list(COLUMNS)  # the app's one schema (the live page's export has the same)
    frames_seen = [int(r["frame"]) for r in rows]
    assert len(rows) >= 0.8 * N_FRAMES  # the face in (nearly) every frame: Haar may miss one or two
    assert frames_seen == sorted(set(frames_seen)) and set(frames_seen) <= set(range(N_FRAMES))
    assert [float(r["time_s"]) for r in rows] == pytest.approx([f / FPS for f in frames_seen], abs=1e-3)
    assert {r["face"] for r in rows} == {"1"}  # one stable id
    happy = sum(r["label"] == "happy" for r in rows)
    assert happy > 0.8 * len(rows)
    for r in rows:
        assert sum(float(r[c]) for c in ml.CLASSES) == pytest.approx(1.0, abs=1e-3)
        x, y, w, h = (int(r[k]) for k in "xywh")
        assert 0 <= x < 640 and 0 <= y < 480 and w > 50 and h > 50

    codec, frames = decode_video(out_mp4)
    assert codec == "h264"  # plays in every browser
    assert len(frames) == N_FRAMES and frames[0].shape == (480, 640, 3)
    plot = tmp_path / "smile.timeline.png"
    assert cv2.imread(str(plot)) is not None
    assert leftovers(tmp_path) == []


def test_cli_corrupt_video_names_the_file_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out_csv, out_mp4 = tmp_path / "o.csv", tmp_path / "o.mp4"
    r = run_cli(bad, "--csv", out_csv, "--out", out_mp4, cwd=tmp_path)
    assert r.returncode != 0
    assert "broken.mp4" in r.stderr and "corrupt" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_cli_unsupported_file_names_the_file(tmp_path):
    doc = tmp_path / "notes.txt"
    doc.write_text("not a video")
    r = run_cli(doc, "--csv", tmp_path / "o.csv", cwd=tmp_path)
    assert r.returncode != 0
    assert "notes.txt" in r.stderr and "unsupported" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_empty_and_missing_files_are_clear_errors(tmp_path, capsys, analyzer):
    empty = tmp_path / "empty.webm"
    empty.touch()
    assert main([str(empty), "--csv", str(tmp_path / "o.csv")], analyzer=analyzer) == 2
    err = capsys.readouterr().err
    assert "empty.webm" in err and "empty" in err
    assert main([str(tmp_path / "missing.mov")], analyzer=analyzer) == 2
    assert "missing.mov" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.webm"]


def test_every_n_analyses_fewer_frames_but_annotates_all(face_video, tmp_path, capsys, analyzer):
    out_csv, out_webm = tmp_path / "e.csv", tmp_path / "e.webm"
    code = main([str(face_video), "--csv", str(out_csv), "--out", str(out_webm), "--every", "3", "--quiet"],
                analyzer=analyzer)
    assert code == 0
    _, rows = read_csv(out_csv)
    frames_seen = [int(r["frame"]) for r in rows]
    assert len(rows) >= 5 and set(frames_seen) <= set(range(0, N_FRAMES, 3))
    assert {r["face"] for r in rows} == {"1"}
    codec, frames = decode_video(out_webm)
    assert codec in ("vp9", "libvpx-vp9") and len(frames) == N_FRAMES
    assert "faces found: 1" in capsys.readouterr().out


def test_single_image_and_folder_of_images(tmp_path, astronaut_bgr, face_frame_640, capsys, analyzer):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_astronaut.png"), astronaut_bgr)
    cv2.imwrite(str(folder / "b_frame.jpg"), face_frame_640)
    cv2.imwrite(str(folder / "c_coffee.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))  # no face
    (folder / "readme.txt").write_text("ignored: not an image")

    out_dir = tmp_path / "annotated"
    assert main([str(folder), "--csv", str(tmp_path / "f.csv"), "--out", str(out_dir), "--quiet"],
                analyzer=analyzer) == 0
    _, rows = read_csv(tmp_path / "f.csv")
    assert [r["file"] for r in rows] == ["a_astronaut.png", "b_frame.jpg"]
    assert all(r["label"] == "happy" for r in rows)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a_astronaut.png", "b_frame.jpg", "c_coffee.png"]
    assert cv2.imread(str(out_dir / "c_coffee.png")).shape == data.coffee().shape

    single_out = tmp_path / "one.png"
    assert main([str(folder / "a_astronaut.png"), "--out", str(single_out), "--plot", "", "--quiet"],
                analyzer=analyzer) == 0
    drawn = cv2.imread(str(single_out))
    assert drawn.shape == astronaut_bgr.shape and not np.array_equal(drawn, astronaut_bgr)  # a box was drawn
    assert "faces found: 1" in capsys.readouterr().out
    assert leftovers(tmp_path) == []


def test_corrupt_image_in_a_folder_leaves_no_partial_output(tmp_path, astronaut_bgr, capsys, analyzer):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), astronaut_bgr)
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    outs = [tmp_path / "f.csv", tmp_path / "annotated", tmp_path / "t.png"]
    code = main([str(folder), "--csv", str(outs[0]), "--out", str(outs[1]), "--plot", str(outs[2]), "--quiet"],
                analyzer=analyzer)
    assert code == 2
    err = capsys.readouterr().err
    assert "b.jpg" in err and "corrupt" in err
    assert not any(p.exists() for p in outs)
    assert leftovers(tmp_path) == []


def test_cancelled_analysis_removes_its_outputs(face_video, tmp_path, analyzer):
    def stop(done, total):
        raise Cancelled()

    with pytest.raises(Cancelled):
        analyze_media(face_video, analyzer, csv=tmp_path / "c.csv", out=tmp_path / "c.mp4",
                      plot=tmp_path / "c.png", batch=4, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_open_media_reports_size_and_frames(face_video):
    src = open_media(face_video)
    assert (src.kind, src.width, src.height) == ("video", 640, 480)
    assert src.fps == pytest.approx(FPS)
    assert src.frame_count == N_FRAMES
    with pytest.raises(MediaError, match="folder"):
        open_media(face_video.parent / "nothing-here")


def test_summary_leaves_out_brief_detections():
    from ml.recorded.media import Frame
    from ml.recorded.report import Summary

    def face(fid, label):
        probs = {c: (0.9 if c == label else 0.1 / 6) for c in ml.CLASSES}
        return {"id": fid, "box": (10, 10, 50, 50), "label": label, "probs": probs}

    s = Summary("clip.mp4", fps=10, interval_s=0.1)
    for i in range(10):
        faces = [face(1, "happy" if i < 7 else "sad")] + ([face(2, "angry")] if i == 4 else [])
        s.add(Frame(i, i / 10, None, "clip.mp4"), faces)
    s.finish(10, 1.0)
    assert s.faces_found == 1 and s.brief_detections == 1
    assert s.shares()["happy"] == pytest.approx(0.7) and s.shares()["angry"] == 0
    assert s.dominant() == "happy"
    text = s.text()
    assert "faces found: 1" in text and "brief detection" in text and "70.0%" in text


def test_wrong_output_type_is_refused_before_any_work(face_video, tmp_path, capsys):
    assert main([str(face_video), "--out", str(tmp_path / "x.avi")], analyzer=object()) == 2
    assert "x.avi" in capsys.readouterr().err
    assert main([str(face_video), "--csv", str(tmp_path / "no" / "such" / "o.csv")], analyzer=object()) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, fourcc", [("clip.avi", "MJPG"), ("clip.mov", "mp4v"), ("clip.mkv", "mp4v")])
def test_other_containers_are_read(tmp_path, face_frame_640, name, fourcc):
    path = write_video(tmp_path / name, face_frames(face_frame_640, 6), fourcc=fourcc)
    src = open_media(path)
    frames = list(src.frames())
    assert len(frames) == 6 and frames[0].image.shape == (480, 640, 3)
    assert [f.time_s for f in frames] == pytest.approx([i / FPS for i in range(6)], abs=1e-3)


def test_outputs_go_next_to_the_input_or_to_out_dir_never_into_the_current_folder(
    face_video, tmp_path, monkeypatch, capsys, analyzer
):
    media = tmp_path / "media"
    media.mkdir()
    video = media / "lesson.mp4"
    video.write_bytes(face_video.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert main([str(video), "--quiet"], analyzer=analyzer) == 0
    assert list(elsewhere.iterdir()) == []  # nothing in the current folder
    assert sorted(p.name for p in media.iterdir()) == ["lesson.mp4", "lesson.timeline.png"]
    out = capsys.readouterr().out
    assert f"timeline: {media / 'lesson.timeline.png'}" in out

    # --out-dir: the CSV, the annotated video and the plot, named after the input, in a new folder
    results = tmp_path / "results"
    assert main([str(video), "--out-dir", str(results), "--quiet"], analyzer=analyzer) == 0
    assert sorted(p.name for p in results.iterdir()) == ["lesson.annotated.mp4", "lesson.csv", "lesson.timeline.png"]
    _, rows = read_csv(results / "lesson.csv")
    # every frame, the first too: a recording's face has rows from its first sighting (ml.recorded.hindsight)
    assert len(rows) == N_FRAMES and {r["label"] for r in rows} == {"happy"}
    assert list(elsewhere.iterdir()) == []


def test_folder_of_images_is_counted_in_images_and_skips_its_own_outputs(
    tmp_path, astronaut_bgr, face_frame_640, monkeypatch, capsys, analyzer
):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), astronaut_bgr)
    cv2.imwrite(str(folder / "b.jpg"), face_frame_640)
    cv2.imwrite(str(folder / "c.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))  # no face
    monkeypatch.chdir(tmp_path)

    # outputs written into the folder itself, then the folder analysed again
    for _ in range(2):
        assert main([str(folder), "--out-dir", str(folder), "--quiet"], analyzer=analyzer) == 0
        out = capsys.readouterr().out
        assert "photos: 3 images analysed, faces in 2" in out, out
        assert " s)" not in out and "share of faces per expression" in out
        # counted in images (the tracker may or may not take the two photos' faces for one person)
        assert "#1 in 2 images mostly happy" in out or "#1 in 1 image mostly happy" in out, out
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.png", "b.jpg", "c.png", "photos.annotated", "photos.csv", "photos.timeline.png"]
    _, rows = read_csv(folder / "photos.csv")
    assert [r["file"] for r in rows] == ["a.png", "b.jpg"]

    # without --out-dir the plot goes beside the folder, not into it
    assert main([str(folder), "--quiet"], analyzer=analyzer) == 0
    assert (tmp_path / "photos.timeline.png").is_file()
    # a folder with nothing but earlier outputs says so
    only_outputs = tmp_path / "only"
    only_outputs.mkdir()
    (only_outputs / "x.timeline.png").write_bytes((folder / "photos.timeline.png").read_bytes())
    assert main([str(only_outputs), "--quiet"], analyzer=analyzer) == 2
    assert "earlier outputs of ml.analyze skipped" in capsys.readouterr().err


@pytest.mark.parametrize("width, height", [(640, 360), (1280, 720), (1920, 1080)])
def test_annotated_labels_are_readable_at_every_size_and_filled_in_faces_are_dashed(width, height):
    """The caption is about 3.5 % of the frame's shorter side tall (14 px at least: readable on a
    640x360 video as it plays); a face found in the frame has a solid box and a band of its
    colour, one filled in (interpolated or held) a dashed box and a dark band."""
    from ml.recorded.annotate import CLASS_COLORS, FILLED_BAND, draw_faces

    probs = {c: 0.05 for c in ml.CLASSES}
    probs["happy"] = 0.7
    s = height / 360
    seen = {"id": 1, "box": (int(100 * s), int(150 * s), int(80 * s), int(80 * s)), "label": "happy",
            "probs": probs, "source": "detected"}
    filled = {**seen, "id": 2, "box": (int(400 * s), int(150 * s), int(80 * s), int(80 * s)), "source": "interpolated"}
    out = draw_faces(np.full((height, width, 3), 128, np.uint8), [seen, filled])
    color = np.array(CLASS_COLORS["happy"])

    def band_rows(x0, x1, bgr):
        """Rows above the box where the caption's band fills most of the box's width."""
        region = out[:, x0:x1]
        return int((np.abs(region.astype(int) - bgr).sum(axis=2) < 30).mean(axis=1).__gt__(0.5).sum())

    x, y, w, h = seen["box"]
    band = band_rows(x + 2, x + w // 2, color)
    assert band >= max(14, 0.035 * height), band  # the text is as tall as the band, less its padding
    fx, fy, fw, fh = filled["box"]
    assert band_rows(fx + 2, fx + fw // 2, np.array(FILLED_BAND)) >= max(14, 0.035 * height)
    # the boxes' left edges: solid for the face found, dashed (gaps) for the one filled in
    solid = np.abs(out[y + 2 : y + h - 2, x].astype(int) - color).sum(axis=1) < 60
    dashed = np.abs(out[fy + 2 : fy + fh - 2, fx].astype(int) - color).sum(axis=1) < 60
    assert solid.all() and 0.3 < dashed.mean() < 0.8, (solid.mean(), dashed.mean())
