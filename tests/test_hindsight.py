"""Recorded media tracked with hindsight (ml/recorded/hindsight.py), frame by frame, against the
live tracker on the same frames: rows from a face's first sighting, gaps filled only between two
sightings of one face, nothing after the last sighting or across a cut, one-frame faces dropped,
and every face of the CSV counted in the summary."""

import csv

import cv2
import numpy as np

import ml
import scenes
from ml.recorded.pipeline import analyze_media
from ml.tracking import iou

from test_shot_cuts import ROOM, A, B


def hidden(shot):
    """The shot with the face blurred beyond recognition (the person looked down): not a cut."""
    frame, (x, y, w, h) = shot
    frame = frame.copy()
    frame[y : y + h, x : x + w] = cv2.GaussianBlur(frame[y : y + h, x : x + w], (0, 0), 12)
    return frame, None


def video(tmp_path, pictures):
    """An MPEG-4 file of ``pictures`` (one (frame, face) per frame, each moved a pixel a frame as a
    camera's would); its frames decoded back, and the true face per frame."""
    frames = [np.roll(f, k % 3, axis=1) for k, (f, _) in enumerate(pictures)]
    path = tmp_path / "clip.mp4"
    scenes.write_video(frames, path)
    return path, scenes.read_video(path), [None if face is None else (face[0] + k % 3, *face[1:]) for k, (_, face) in enumerate(pictures)]


def recorded(analyzer, path, tmp_path):
    """``analyze_media``'s CSV rows per frame: [(face id, source, box)], and its summary."""
    result = analyze_media(path, analyzer, csv=tmp_path / "clip.csv", plot=None)
    with open(tmp_path / "clip.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    per_frame = [[] for _ in range(result.summary.frames_total)]
    for r in rows:
        if r["face"]:
            per_frame[int(r["frame"])].append((int(r["face"]), r["source"], tuple(int(r[c]) for c in "xywh")))
    return per_frame, result.summary, rows


def live(analyzer, frames):
    t = ml.FaceTracker()
    return [[(f["id"], f["source"], f["box"]) for f in analyzer.analyze(frame, t, k / 30)] for k, frame in enumerate(frames)]


def test_a_brief_gap_between_two_sightings_is_interpolated_and_nothing_follows_the_last(analyzer, tmp_path):
    pictures = [A] * 10 + [hidden(A)] * 3 + [A] * 8 + [hidden(A)] * 9
    path, frames, faces = video(tmp_path, pictures)
    rows, summary, _ = recorded(analyzer, path, tmp_path)
    sources = [[s for _, s, _ in r] for r in rows]
    # the face in every frame until its last sighting (the detector may miss it in a frame or two
    # of the video too: filled in as well), nothing after it
    last = max(k for k, r in enumerate(sources) if r == ["detected"])
    assert sources[10:13] == [["interpolated"]] * 3  # hidden: between two sightings
    assert sources[0] == ["detected"] and 18 <= last <= 20
    assert all(len(r) == 1 for r in sources[: last + 1]), sources
    assert sources[last + 1 :] == [[]] * (29 - last)  # after the last sighting: nothing
    assert {i for r in rows for i, _, _ in r} == {1}
    # each filled-in row lies between the detected rows around it, on the face
    for k, r in enumerate(rows[:last]):
        if r[0][1] == "interpolated":
            before = next(rows[j][0][2] for j in range(k, -1, -1) if rows[j][0][1] == "detected")
            after = next(rows[j][0][2] for j in range(k, last + 1) if rows[j][0][1] == "detected")
            assert all(min(a, b) <= v <= max(a, b) for v, a, b in zip(r[0][2], before, after)), (k, r, before, after)
            assert iou(r[0][2], A[1]) >= 0.5
    # live, the same frames: held at the last box while it is not found, also after the last sighting
    lv = [[s for _, s, _ in r] for r in live(analyzer, frames)]
    assert lv[10:13] == [["held"]] * 3 and lv[21:] == [["held"]] * 9
    detected = sum(r == ["detected"] for r in sources)
    assert summary.faces_found == 1 and summary.face_detected[1] == detected >= 15


def test_nothing_is_filled_in_across_a_cut(analyzer, tmp_path):
    pictures = [A] * 10 + [ROOM] * 3 + [A] * 10
    path, frames, faces = video(tmp_path, pictures)
    rows, summary, _ = recorded(analyzer, path, tmp_path)
    ids = [[i for i, _, _ in r] for r in rows]

    def until_last_sighting(part, face_id):  # the face in every frame of its shot up to its last sighting
        k = max(j for j, r in enumerate(part) if r)
        return part[: k + 1] == [[face_id]] * (k + 1) and k >= len(part) - 3

    assert until_last_sighting(ids[:10], 1) and ids[10:13] == [[]] * 3, ids  # nothing on the empty room
    assert ids[13] == [2] and until_last_sighting(ids[13:], 2), ids  # a new face after the cut
    last = max(k for k in range(10) if rows[k])
    assert rows[last][0][1] == rows[13][0][1] == "detected"  # the last row before the cut, the first after
    assert summary.faces_found == 2


def test_a_face_seen_in_one_frame_only_is_dropped_and_ids_stay_one_to_n(analyzer, tmp_path):
    pictures = [A] * 10 + [B] + [A] * 10  # B: one frame, a cut either side
    path, frames, faces = video(tmp_path, pictures)
    lv = live(analyzer, frames)
    assert [i for i, _, _ in lv[10]] == [2]  # live reports it at once: the cut's frame is scanned whole
    rows, summary, csv_rows = recorded(analyzer, path, tmp_path)
    assert rows[10] == []  # recorded: detected once, dropped
    ids = [[i for i, _, _ in r] for r in rows]
    assert {i for r in ids[:10] for i in r} == {1} and {i for r in ids[11:] for i in r} == {2}, ids
    assert sum(r == [1] for r in ids[:10]) >= 8 and sum(r == [2] for r in ids[11:]) >= 8, ids
    ids = {r["face"] for r in csv_rows if r["face"]}
    assert ids == {"1", "2"} and summary.faces_found == len(ids)


def test_a_face_s_rows_start_at_its_first_sighting_not_at_its_confirmation(analyzer, tmp_path):
    """A person who walks into view (no cut): live reports the face once confirmed, on its second
    sighting; the recorded rows start one frame earlier, at the first."""
    image, box = scenes.astronaut_head()
    pictures = []
    for k in range(24):  # walks in from the left, 10 px a frame, then stands
        frame = scenes.background(1)
        pictures.append((frame, scenes._paste(frame, image, box, 70, (min(300, -60 + 10 * k), 220))))
    path, frames, _ = video(tmp_path, pictures)
    first_live = next(k for k, r in enumerate(live(analyzer, frames)) if r)
    rows, summary, _ = recorded(analyzer, path, tmp_path)
    first_recorded = next(k for k, r in enumerate(rows) if r)
    assert first_recorded == first_live - 1 >= 4
    face = pictures[first_recorded][1]
    assert rows[first_recorded][0][1] == "detected" and iou(rows[first_recorded][0][2], face) >= 0.3
    assert all(r for r in rows[first_recorded:])
