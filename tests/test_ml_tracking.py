import pytest

from ml import CLASSES
from ml.tracking import FaceTracker, iou


def face(box, label):
    probs = {c: (0.7 if c == label else 0.05) for c in CLASSES}
    return {"box": box, "label": label, "probs": probs}


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_ids_stay_with_moving_faces_and_new_faces_get_new_ids():
    t = FaceTracker()
    a = t.update([face((0, 0, 100, 100), "happy"), face((300, 0, 100, 100), "sad")])
    assert [f["id"] for f in a] == [1, 2]
    b = t.update([face((310, 5, 100, 100), "sad"), face((10, 5, 100, 100), "happy")])
    assert [f["id"] for f in b] == [2, 1]
    c = t.update([face((600, 300, 80, 80), "fear")])
    assert [f["id"] for f in c] == [3]


def test_probabilities_are_smoothed_over_the_window():
    t = FaceTracker(window=3)
    box = (0, 0, 100, 100)
    for _ in range(3):
        out = t.update([face(box, "happy")])
    out = t.update([face(box, "surprise")])  # one odd frame does not flip the label
    assert out[0]["label"] == "happy"
    assert out[0]["probs"]["surprise"] == pytest.approx((0.05 * 2 + 0.7) / 3)
    assert sum(out[0]["probs"].values()) == pytest.approx(1.0, abs=0.01)
    for _ in range(2):
        out = t.update([face(box, "surprise")])
    assert out[0]["label"] == "surprise"


def test_lost_faces_are_forgotten():
    t = FaceTracker(max_missed=2)
    t.update([face((0, 0, 100, 100), "happy")])
    for _ in range(3):
        t.update([])
    assert t.update([face((0, 0, 100, 100), "happy")])[0]["id"] == 2
    assert t.update([]) == []
