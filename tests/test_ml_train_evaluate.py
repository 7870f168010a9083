import csv
import json
import subprocess
import sys

import pytest

from fer_fixtures import make_csv, make_folder


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    data = make_folder(tmp / "fer2013")
    out = tmp / "run"
    r = run("ml.train", "--arch", "shallow", "--epochs", "2", "--batch-size", "8", "--data", str(data),
            "--out", str(out), "--class-weights", "--quiet")
    assert r.returncode == 0, r.stderr
    return data, out, r


def test_training_writes_models_history_and_curves(trained):
    _, out, r = trained
    for name in ("best.keras", "last.keras", "history.csv", "curves.png", "config.json", "best.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert "PublicTest accuracy" in r.stdout


def test_training_resumes_where_it_stopped(trained):
    data, out, _ = trained
    r = run("ml.train", "--arch", "shallow", "--epochs", "3", "--batch-size", "8", "--data", str(data),
            "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out / "history.csv")))
    # BackupAndRestore restarts after the last finished epoch: only the third is trained
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]


def test_training_on_missing_data_says_so(tmp_path):
    r = run("ml.train", "--arch", "fc", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "no FER-2013 data set" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_writes_report_and_confusion_matrix(trained, tmp_path):
    _, out, _ = trained
    csv_data = make_csv(tmp_path / "fer2013.csv")
    r = run("ml.evaluate", "--model", str(out / "best.keras"), "--data", str(csv_data),
            "--split", "PrivateTest", "--tta", "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "rep" / "report_PrivateTest_tta.json").read_text())
    assert rep["n"] == 7 and rep["tta"] is True and 0 <= rep["accuracy"] <= 1
    assert list(rep["per_class"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert sum(map(sum, rep["confusion_matrix"])) == 7
    assert (tmp_path / "rep" / "confusion_PrivateTest_tta.png").stat().st_size > 1000
    assert "macro-F1" in r.stdout


def test_evaluate_with_missing_model_says_so(tmp_path):
    data = make_csv(tmp_path / "fer2013.csv")
    r = run("ml.evaluate", "--model", "no_such_model", "--data", str(data))
    assert r.returncode == 2
    assert "no model named 'no_such_model'" in r.stderr and "Traceback" not in r.stderr


def test_fine_tuning_starts_from_a_trained_model(trained, tmp_path):
    data, out, _ = trained
    r = run("ml.train", "--init", str(out / "best.keras"), "--epochs", "1", "--batch-size", "8", "--lr", "1e-4",
            "--data", str(data), "--out", str(tmp_path / "ft"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"model: shallow from {out / 'best.keras'}" in r.stdout  # not built anew
    assert (tmp_path / "ft" / "best.keras").is_file()


def _first_kernel(path):
    import keras

    net = keras.saving.load_model(path, compile=False)
    return next(w for w in net.trainable_weights if len(w.shape) == 4).numpy()


def test_ema_saves_the_averaged_weights(trained, tmp_path):
    """With --ema the saved model holds the moving average. With a momentum close to 1 it stays
    near the weights of the first step, while the raw weights (same seed, same steps) go on moving."""
    import numpy as np

    data, out, _ = trained
    start = _first_kernel(out / "best.keras")
    moved = {}
    for name, extra in (("raw", []), ("ema", ["--ema", "0.99999"])):
        r = run("ml.train", "--init", str(out / "best.keras"), "--epochs", "1", "--batch-size", "8",
                "--optimizer", "sgd", "--lr", "0.05", "--warmup-epochs", "0", "--data", str(data),
                "--out", str(tmp_path / name), "--quiet", *extra)
        assert r.returncode == 0, r.stderr
        moved[name] = np.abs(_first_kernel(tmp_path / name / "last.keras") - start).max()
    assert moved["raw"] > 1e-3
    assert 0 < moved["ema"] < moved["raw"] / 2


def test_time_limit_stops_training_and_keeps_the_model(tmp_path):
    """--time-limit ends training after the last epoch that fits; the models are saved as usual.
    With --no-backup no training state is written."""
    data = make_folder(tmp_path / "fer2013")
    out = tmp_path / "run"
    r = run("ml.train", "--arch", "fc", "--epochs", "50", "--batch-size", "8", "--data", str(data),
            "--out", str(out), "--time-limit", "1", "--no-backup", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "time limit: stopped after epoch 1" in r.stdout
    assert [int(row["epoch"]) for row in csv.DictReader(open(out / "history.csv"))] == [0]
    assert (out / "best.keras").is_file() and (out / "curves.png").is_file()
    assert not (out / "backup").exists()
    assert json.loads((out / "config.json").read_text())["backend"] == "tensorflow"
