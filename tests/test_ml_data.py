import numpy as np
import pytest

from ml.training import data
from ml.labels import CLASSES
from fer_fixtures import SPLIT_COUNTS, make_csv, make_folder


@pytest.mark.parametrize("split", list(SPLIT_COUNTS))
def test_folder_and_csv_give_the_same_split(tmp_path, split):
    folder = make_folder(tmp_path / "fer2013")
    csv = make_csv(tmp_path / "fer2013.csv")
    xf, yf = data.load_split(folder, split)
    xc, yc = data.load_split(csv, split)
    n = SPLIT_COUNTS[split] * len(CLASSES)
    assert xf.shape == xc.shape == (n, 48, 48) and xf.dtype == xc.dtype == np.uint8
    assert yf.tolist() == yc.tolist() == sorted(yf.tolist())
    assert np.bincount(yc).tolist() == [SPLIT_COUNTS[split]] * len(CLASSES)
    # JPEG is lossy; the class stripe survives it
    assert np.abs(xf.astype(int) - xc.astype(int)).mean() < 20


def test_folder_holding_only_the_csv_reads_the_csv(tmp_path):
    make_csv(tmp_path / "fer2013.csv")
    x, y = data.load_split(tmp_path, "PublicTest")
    assert len(x) == 14


def test_missing_data_set_names_the_path(tmp_path):
    with pytest.raises(data.DatasetError, match="nowhere"):
        data.load_split(tmp_path / "nowhere", "Training")


def test_missing_class_folder_is_named(tmp_path):
    folder = make_folder(tmp_path / "fer")
    for f in (folder / "train" / "disgust").iterdir():
        f.unlink()
    (folder / "train" / "disgust").rmdir()
    with pytest.raises(data.DatasetError, match="disgust"):
        data.load_split(folder, "Training")


def test_corrupt_image_is_named(tmp_path):
    folder = make_folder(tmp_path / "fer")
    bad = folder / "test" / "happy" / "PublicTest_bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(data.DatasetError, match="PublicTest_bad.jpg"):
        data.load_split(folder, "PublicTest")


@pytest.mark.parametrize(
    "content, message",
    [
        ("label,pixels,Usage\n0,1 2,Training\n", "missing column"),
        ("emotion,pixels,Usage\n0,1 2 3,Training\n", "line 2: expected 2304"),
        ("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",Training\n", "line 2: emotion 9"),
        ("emotion,pixels,Usage\nx," + " ".join(["0"] * 2304) + ",Training\n", "line 2"),
        ("emotion,pixels,Usage\n0," + " ".join(["0"] * 2304) + ",PublicTest\n", "no rows with Usage=Training"),
    ],
)
def test_malformed_csv_gets_a_clear_error(tmp_path, content, message):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(data.DatasetError, match=message) as e:
        data.load_split(path, "Training")
    assert "fer2013.csv" in str(e.value)


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        data.load_split(tmp_path, "Validation")


def test_class_weights_favour_the_rare_class():
    y = np.array([0] * 50 + [1] * 5 + [2] * 45 + [3] * 50 + [4] * 50 + [5] * 50 + [6] * 50)
    w = data.class_weights(y)
    assert w[1] > 5 * w[0]
    assert np.isclose(sum(w[c] * (y == c).sum() for c in w) / len(y), 1.0)
