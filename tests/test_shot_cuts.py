"""Shot cuts, frame by frame: the live tracker ends every face at a cut and reports the new shot's
faces in its first frame; a pan, a person walking and exposure jumps are not cuts (ml/shots.py).

The shots are the astronaut (scikit-image) pasted in scikit-image's rooms, so these run anywhere.
"""

import numpy as np
import pytest

import ml
import scenes
from ml.shots import ShotCuts
from ml.tracking import iou


def picture(room: int, size: int, centre, flip: bool = False):
    """A 640x480 room with the astronaut's head and shoulders in it, her face ``size`` px wide at
    ``centre`` (``flip``: mirrored, another person as far as the tracker knows): (frame, face box)."""
    frame = scenes.background(room)
    image, (x, y, w, h) = scenes.astronaut_head()
    if flip:
        image, x = np.ascontiguousarray(image[:, ::-1]), image.shape[1] - x - w
    return frame, scenes._paste(frame, image, (x, y, w, h), size, centre)


A = picture(0, 90, (200, 220))
B = picture(2, 120, (450, 240), flip=True)
ROOM = (scenes.background(1), None)


def film(*shots, n=8):
    """``n`` frames of each (frame, face) shot, the picture moving a pixel a frame as a camera's would."""
    frames, faces = [], []
    for frame, face in shots:
        for k in range(n):
            frames.append(np.roll(frame, k % 3, axis=1))
            faces.append(None if face is None else (face[0] + k % 3, *face[1:]))
    return frames, faces


def live(analyzer, frames, **tracker):
    """The live server's way: each frame through the stream's tracker. Per frame: [(id, source, box)]."""
    t = ml.FaceTracker(**tracker)
    return [[(f["id"], f["source"], f["box"]) for f in analyzer.analyze(frame, t, k / 30)]
            for k, frame in enumerate(frames)]


def on(face):
    return lambda box: face is not None and iou(box, face) >= 0.5


def shots_of(out, n=8):
    """Per shot of ``n`` frames: the ids reported in each frame."""
    ids = [[i for i, _, _ in r] for r in out]
    return [ids[k : k + n] for k in range(0, len(ids), n)]


def test_a_cut_between_two_people_ends_the_first_at_once_and_reports_the_second_in_its_first_frame(analyzer):
    frames, faces = film(A, B)
    out = live(analyzer, frames)
    assert shots_of(out) == [[[1]] * 8, [[2]] * 8], out
    assert [(i, s) for i, s, _ in out[8]] == [(2, "detected")]  # the new shot's first frame
    assert all(on(faces[k])(box) for k, r in enumerate(out) for _, _, box in r)


def test_a_cut_to_an_empty_frame_leaves_no_held_face(analyzer):
    frames, _ = film(A, ROOM)
    out = live(analyzer, frames)
    assert shots_of(out) == [[[1]] * 8, [[]] * 8], out
    # without noticing the cut, the face would stay on the empty room, held at its old place
    blind = live(analyzer, frames, cuts=False)
    assert [(i, s) for i, s, _ in blind[8]] == [(1, "held")]


def test_a_cut_back_to_the_same_person_is_a_new_face_from_the_cut_s_frame(analyzer):
    frames, faces = film(A, B, A)
    out = live(analyzer, frames)
    assert shots_of(out) == [[[1]] * 8, [[2]] * 8, [[3]] * 8], out
    assert [s for i, s, _ in out[16]] == ["detected"]
    assert all(on(faces[k])(box) for k, r in enumerate(out) for _, _, box in r)


def test_a_slow_pan_is_not_a_cut_the_face_keeps_its_id():
    scene = scenes.pan_scene(seconds=2.0, speed=4)
    cuts = ShotCuts()
    assert [cuts.is_cut(f[:, :, 1]) for f in scene.frames] == [True] + [False] * (len(scene.frames) - 1)


def test_a_pan_keeps_one_face_with_one_id(analyzer):
    scene = scenes.pan_scene(seconds=1.0, speed=4)
    out = live(analyzer, scene.frames)
    assert {i for r in out for i, _, _ in r} == {1}
    assert all(any(iou(box, t) >= 0.4 for _, _, box in r) for r, truth in zip(out, scene.truth) for t in truth)


@pytest.mark.parametrize("make", [lambda: scenes.walking_scene(seconds=2.0, speed=8, size=160),
                                  lambda: scenes.walking_scene(seconds=2.0, speed=8, size=250),
                                  lambda: scenes.exposure_scene(seconds=2.0),
                                  lambda: scenes.pan_scene(seconds=2.0, speed=16)],
                         ids=["walking", "walking close", "exposure and light", "fast pan"])
def test_movement_and_light_are_not_cuts(make):
    scene = make()
    cuts = ShotCuts()
    found = [k for k, f in enumerate(scene.frames) if cuts.is_cut(scenes.cv2.cvtColor(f, scenes.cv2.COLOR_BGR2GRAY))]
    assert found == [0], found


def test_cut_measure_ignores_brightness_and_sees_flat_frames():
    frame = scenes.cv2.cvtColor(A[0], scenes.cv2.COLOR_BGR2GRAY)
    cuts = ShotCuts()
    assert cuts.is_cut(frame)  # a stream's first frame
    assert not cuts.is_cut(scenes.cv2.convertScaleAbs(frame, alpha=0.5, beta=20))  # exposure halved
    black = np.zeros_like(frame)
    assert cuts.is_cut(black)  # picture -> black
    assert not cuts.is_cut(black + 2)  # black -> black
    assert cuts.is_cut(np.full_like(frame, 200))  # black -> white
    assert cuts.is_cut(frame)  # white -> picture
    other = scenes.cv2.cvtColor(B[0], scenes.cv2.COLOR_BGR2GRAY)
    assert cuts.is_cut(other) and cuts.similarity < 0.5
