"""ml.FaceTracker on synthetic sequences: exact ids and held flags, frame by frame (30 fps)."""

import pytest

from ml import CLASSES
from ml.tracking import FaceTracker, iou


def face(box, label="happy"):
    probs = {c: (0.7 if c == label else 0.05) for c in CLASSES}
    return {"box": box, "label": label, "probs": probs}


def run(tracker, frames):
    """Feed boxes frame by frame; return per frame the reported (id, box, held)."""
    return [[(f["id"], f["box"], f["held"]) for f in tracker.update([face(b) for b in boxes])] for boxes in frames]


A = (100, 100, 80, 80)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_a_new_face_is_reported_from_its_second_sighting_with_id_1():
    assert run(FaceTracker(), [[A], [A], [A]]) == [[], [(1, A, False)], [(1, A, False)]]


def test_two_of_three_frames_confirm_a_face_one_of_three_does_not():
    assert run(FaceTracker(), [[A], [], [A], [A]]) == [[], [], [(1, A, False)], [(1, A, False)]]
    # seen once, then not in its next two frames: forgotten; seen again later, a new candidate
    assert run(FaceTracker(), [[A], [], [], [A], [A]]) == [[], [], [], [], [(1, A, False)]]


@pytest.mark.parametrize("missed", range(1, 11))
def test_a_face_missed_for_1_to_10_frames_is_held_with_its_id_and_last_box(missed):
    moved = (104, 102, 80, 80)
    frames = [[A], [A]] + [[]] * missed + [[moved]]
    expected = [[], [(1, A, False)]] + [[(1, A, True)]] * missed + [[(1, moved, False)]]
    assert run(FaceTracker(), frames) == expected


def test_a_face_gone_for_more_than_half_a_second_is_forgotten():
    t = FaceTracker(hold_s=0.5, fps=30)
    out = run(t, [[A], [A]] + [[]] * 16 + [[A], [A]])
    assert out[2:17] == [[(1, A, True)]] * 15  # 15 frames at 30 fps: 0.5 s
    assert out[17] == []  # the 16th frame without it: gone
    assert out[18:] == [[], [(2, A, False)]]  # back later: a new face, confirmed again


def test_holding_follows_the_frames_times_when_given():
    t = FaceTracker(hold_s=0.5)
    assert t.update([face(A)], t=0.0) == []
    assert [f["id"] for f in t.update([face(A)], t=0.04)] == [1]
    assert [(f["id"], f["held"]) for f in t.update([], t=0.5)] == [(1, True)]  # 0.46 s after
    assert t.update([], t=0.55) == []  # 0.51 s after its last sighting


def test_a_one_frame_false_hit_is_never_reported_and_takes_no_id():
    false = (400, 300, 50, 50)
    frames = [[A], [A], [A, false], [A], [A], [(450, 50, 60, 60)], [(450, 50, 60, 60)]]
    out = run(FaceTracker(), frames)
    assert out == [
        [],
        [(1, A, False)],
        [(1, A, False)],
        [(1, A, False)],
        [(1, A, False)],
        [(1, A, True)],
        [(1, A, True), (2, (450, 50, 60, 60), False)],  # the next real face gets id 2, not 3 (largest first)
    ]


def test_two_crossing_faces_keep_their_ids():
    frames = []
    for k in range(25):
        left = (20 + 20 * k, 100, 100, 100)  # moving right
        right = (500 - 20 * k, 140, 100, 100)  # moving left, crossing it around frame 12
        frames.append([left, right])
    out = run(FaceTracker(), frames)
    assert out[0] == []
    for k, reported in enumerate(out[1:], start=1):
        ids = {box: i for i, box, held in reported}
        assert ids == {frames[k][0]: 1, frames[k][1]: 2}, k
        assert not any(held for _, _, held in reported)


def test_a_face_that_moved_far_while_missed_keeps_its_id():
    frames = [[(100, 100, 60, 60)], [(110, 100, 60, 60)], [], [], [(150, 100, 60, 60)]]
    assert [[(i, held) for i, _, held in r] for r in run(FaceTracker(), frames)] == [
        [], [(1, False)], [(1, True)], [(1, True)], [(1, False)]
    ]


def test_probabilities_are_smoothed_over_the_window_and_held_faces_keep_theirs():
    t = FaceTracker(window=3)
    box = (0, 0, 100, 100)
    for _ in range(4):
        out = t.update([face(box, "happy")])
    out = t.update([face(box, "surprise")])  # one odd frame does not flip the label
    assert out[0]["label"] == "happy"
    assert out[0]["probs"]["surprise"] == pytest.approx((0.05 * 2 + 0.7) / 3)
    assert sum(out[0]["probs"].values()) == pytest.approx(1.0, abs=0.01)
    held = t.update([])
    assert held[0]["held"] and held[0]["probs"] == out[0]["probs"] and held[0]["box"] == box
    for _ in range(2):
        out = t.update([face(box, "surprise")])
    assert out[0]["label"] == "surprise"


def test_confirm_1_reports_every_detection_at_once():
    t = FaceTracker(confirm=1, hold_s=0)
    assert [(f["id"], f["held"]) for f in t.update([face(A)])] == [(1, False)]
    assert t.update([]) == []


def test_a_live_tracker_keeps_nothing_of_the_faces_it_forgot():
    """A live stream runs for hours: forgotten faces are not kept (only recorded media asks for them)."""

    def frames(n):  # a face for 10 frames in every 30 (gone for longer than hold_s), each at another place
        return [[face((200 * (k // 30 % 3), 100, 80, 80))] if k % 30 < 10 else [] for k in range(n)]

    t = FaceTracker()
    for boxes in frames(300):
        t.update(boxes)
    assert t.ended == [] and t.tracks == []
    t = FaceTracker()
    t.keep_ended = True
    for boxes in frames(90):
        t.update(boxes)
    assert [track.id for track in t.take_ended()] == [1, 2, 3] and t.take_ended() == []
