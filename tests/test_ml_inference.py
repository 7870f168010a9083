import cv2
import numpy as np
import pytest

import ml
from ml.detector import crop_faces, cascade_path
from conftest import ASTRONAUT_FACE


@pytest.fixture(scope="module")
def clf():
    return ml.EmotionClassifier.load()


def test_classes_in_fer2013_order():
    assert ml.CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert set(ml.EMOJI) == set(ml.CLASSES)


def test_the_haar_cascade_loads():
    assert cascade_path().is_file()
    assert not ml.FaceDetector().cascade.empty()


def test_predict_shapes_and_rows_sum_to_one(clf):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probs = clf.predict(faces)
    assert probs.shape == (5, 7) and probs.dtype == np.float64
    assert np.allclose(probs.sum(axis=1), 1) and (probs >= 0).all()
    tta = clf.predict(faces, tta=True)
    assert tta.shape == (5, 7) and np.allclose(tta.sum(axis=1), 1)


def test_predict_resizes_any_crop_size_and_batches_consistently(clf):
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    big = np.stack([cv2.resize(f, (96, 96), interpolation=cv2.INTER_NEAREST) for f in faces])
    assert np.allclose(clf.predict(big), clf.predict(faces), atol=0.02)
    one_by_one = np.concatenate([clf.predict(faces[i : i + 1]) for i in range(3)])
    assert np.allclose(one_by_one, clf.predict(faces), atol=1e-5)


def test_every_batch_size_matches_keras(clf):
    """Small batches run as padded XLA programs, large ones as a graph: both give Keras's answer."""
    from ml.classifier import XLA_MAX_BATCH

    faces = np.random.default_rng(2).integers(0, 256, (XLA_MAX_BATCH + 3, 48, 48), dtype=np.uint8)
    expected = clf.model.predict(faces[..., None].astype(np.float32), verbose=0)
    for n in (1, 2, 3, 5, XLA_MAX_BATCH, XLA_MAX_BATCH + 3):
        np.testing.assert_allclose(clf.predict(faces[:n]), expected[:n], atol=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 48, 48), np.uint8), "empty"),
        (np.zeros((48, 48), np.uint8), r"shape \(N, H, W\)"),
        (np.zeros((2, 48, 48, 3), np.uint8), r"shape \(N, H, W\)"),
        (np.zeros((2, 48, 48), np.float32), "uint8"),
        (np.zeros((2, 4, 4), np.uint8), "too small"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
)
def test_bad_faces_get_a_clear_value_error(clf, bad, message):
    with pytest.raises(ValueError, match=message):
        clf.predict(bad)


def test_missing_model_gets_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model named 'nope'"):
        ml.EmotionClassifier.load("nope")
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        ml.EmotionClassifier.load(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt.keras"):
        ml.EmotionClassifier.load(corrupt)


def test_detector_finds_the_astronauts_face(astronaut_bgr):
    boxes = ml.FaceDetector().detect(astronaut_bgr)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    fx, fy, fw, fh = ASTRONAUT_FACE
    assert abs(x - fx) < 15 and abs(y - fy) < 15 and abs(w - fw) < 20 and abs(h - fh) < 20


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.zeros((480, 640, 2), np.uint8), "shape"),
        (np.zeros((8, 8, 3), np.uint8), "too small"),
        ("frame.jpg", "numpy array"),
    ],
)
def test_detector_rejects_bad_frames(bad, message):
    with pytest.raises(ValueError, match=message):
        ml.FaceDetector().detect(bad)


def test_the_shipped_model_calls_the_astronaut_happy(clf, astronaut_bgr):
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    face = crop_faces(gray, [ASTRONAUT_FACE])
    assert face.shape == (1, 48, 48)
    for tta in (False, True):
        probs = clf.predict(face, tta=tta)[0]
        assert ml.CLASSES[int(np.argmax(probs))] == "happy"
        assert probs[ml.CLASSES.index("happy")] > 0.5


def test_frame_analyzer_on_a_camera_frame(analyzer, face_frame_640):
    faces = analyzer.analyze(face_frame_640)
    assert len(faces) == 1
    face = faces[0]
    assert set(face) == {"box", "label", "probs", "brightness"}
    x, y, w, h = face["box"]
    gray = face_frame_640.mean(axis=2)  # about the luma: the face's mean brightness, 0-255
    assert abs(face["brightness"] - gray[y:y + h, x:x + w].mean()) < 8 and 100 < face["brightness"] < 200
    # the face is at (174, 64, 97, 97) in the photo, pasted at (150 - 60, 40) into the frame
    assert abs(x - 264) < 15 and abs(y - 104) < 15 and 80 < w < 120
    assert face["label"] == "happy"
    assert list(face["probs"]) == list(ml.CLASSES) and abs(sum(face["probs"].values()) - 1) < 1e-6


def test_frame_analyzer_batches_several_faces(analyzer, face_frame_640):
    calls = []
    original = analyzer.classifier.predict

    def spy(faces, tta=False):
        calls.append(len(faces))
        return original(faces, tta=tta)

    analyzer.classifier.predict = spy
    try:
        two = np.concatenate([face_frame_640[:, 100:420], face_frame_640[:, 100:420]], axis=1)
        results = analyzer.analyze_batch([two, face_frame_640, np.zeros((480, 640, 3), np.uint8)])
    finally:
        analyzer.classifier.predict = original
    assert [len(r) for r in results] == [2, 1, 0]
    assert calls == [3]  # three faces of three frames: one batch
    assert all(f["label"] == "happy" for r in results for f in r)


def test_frame_analyzer_accepts_grayscale_and_rejects_bad_frames(analyzer, face_frame_640):
    gray = cv2.cvtColor(face_frame_640, cv2.COLOR_BGR2GRAY)
    assert [f["label"] for f in analyzer.analyze(gray)] == ["happy"]
    with pytest.raises(ValueError):
        analyzer.analyze(np.zeros((480, 640, 3), np.int32))


def test_crop_near_the_border_is_padded():
    gray = np.full((100, 100), 200, np.uint8)
    crops = crop_faces(gray, [(-5, -5, 40, 40), (80, 80, 20, 20)])
    assert crops.shape == (2, 48, 48) and (crops == 200).all()
