"""The accuracy figures that the model card (ml/models/default.md) and the responsible-use page
(docs/responsible-use.md) quote come from one place: the model card's own evaluation reports
(docs/models/default/report_*.json, written by python -m ml.evaluate). A figure changed in one
and not the other fails here."""

import json
import re
from pathlib import Path

import pytest

from ml.labels import CLASSES

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "ml" / "models" / "default.md"
RESPONSIBLE_USE = ROOT / "docs" / "responsible-use.md"
SPLITS = ("PublicTest", "PrivateTest")
PAIRS = [("sad", "neutral"), ("neutral", "sad"), ("fear", "sad"), ("fear", "surprise"), ("surprise", "fear")]


def report(split: str) -> dict:
    return json.loads((ROOT / "docs" / "models" / "default" / f"report_{split}.json").read_text())


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def recall_rows(text: str) -> dict:
    """'| angry | 59.3 % | 56.8 % |' -> {'angry': ['59.3 %', '56.8 %']}"""
    rows = {}
    for c in CLASSES:
        m = re.search(rf"^\s*\| {c} \| ([\d.]+ %) \| ([\d.]+ %) \|\s*$", text, re.M)
        assert m, f"no per-class row for {c}"
        rows[c] = [m.group(1), m.group(2)]
    return rows


@pytest.mark.parametrize("document", [CARD, RESPONSIBLE_USE], ids=lambda p: p.name)
def test_per_class_accuracy_is_the_evaluation_reports(document):
    rows = recall_rows(document.read_text())
    for c in CLASSES:
        assert rows[c] == [pct(report(s)["per_class"][c]["accuracy"]) for s in SPLITS], (document.name, c)


def test_the_confusions_that_matter_are_the_reports():
    text = CARD.read_text()
    for true, said in PAIRS:
        i, j = CLASSES.index(true), CLASSES.index(said)
        want = [pct(report(s)["confusion_matrix_normalised"][i][j]) for s in SPLITS]
        assert f"| {true} | {said} | {want[0]} | {want[1]} |" in text, (true, said, want)
    # and as the responsible-use page words them (PrivateTest)
    words = RESPONSIBLE_USE.read_text().replace("\n  ", " ")
    private = report("PrivateTest")["confusion_matrix_normalised"]
    c = CLASSES.index
    for phrase, (true, said) in [("a sad face is called neutral {}", ("sad", "neutral")),
                                 ("a neutral face sad {}", ("neutral", "sad")),
                                 ("a fearful face is called sad {}", ("fear", "sad")),
                                 ("surprised {}", ("fear", "surprise")),
                                 ("a surprised face fearful {}", ("surprise", "fear"))]:
        assert phrase.format(pct(private[c(true)][c(said)])) in words, phrase


def test_overall_accuracy_quoted_on_the_responsible_use_page():
    assert f"{round(100 * report('PrivateTest')['accuracy'])} % of the labels are right" in \
        RESPONSIBLE_USE.read_text().replace("\n  ", " ")
