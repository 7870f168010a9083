import numpy as np

from ml.training import metrics


def test_report_on_a_known_case():
    y = np.array([0, 0, 1, 3, 3, 3])
    pred = np.array([0, 3, 1, 3, 3, 0])
    probs = np.eye(7)[pred]
    rep = metrics.report(y, probs)
    assert rep["accuracy"] == 4 / 6
    assert rep["per_class"]["angry"]["accuracy"] == 0.5
    assert rep["per_class"]["happy"]["accuracy"] == 2 / 3
    assert rep["per_class"]["disgust"]["f1"] == 1.0
    assert rep["confusion_matrix"][0][3] == 1 and rep["confusion_matrix"][3][0] == 1
    assert rep["confusion_matrix_normalised"][3] == [round(1 / 3, 4), 0, 0, round(2 / 3, 4), 0, 0, 0]
    # classes absent from y count as F1 0 in the macro average
    assert 0 < rep["macro_f1"] < 1


def test_confusion_plot_is_written(tmp_path):
    metrics.plot_confusion(np.eye(7), tmp_path / "cm.png", title="t")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
