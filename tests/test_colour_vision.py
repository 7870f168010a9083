"""The seven expression colours (ml/labels.py) for everyone: apart from each other for normal
vision and under a simulation of protanopia, deuteranopia and tritanopia (bench/colour_vision.py,
Machado et al. 2009), black text on each at 4.5:1 (the overlay's labels, the class view's chips),
and each at 3:1 or more on the charts' dark background (WCAG 1.4.11, graphics)."""

import pytest

from bench.colour_vision import CHART_BACKGROUND, VISIONS, closest_pairs, contrast, rgb, simulate
from ml.labels import CLASSES, COLORS

MIN_DELTA_E = 12.0  # CIEDE2000: docs/accessibility.md reports the figures (14.6 at the least)


def test_every_class_has_one_colour():
    assert set(COLORS) == set(CLASSES)
    assert len(set(COLORS.values())) == len(CLASSES)


def test_the_colours_stay_apart_for_every_common_colour_vision_deficiency():
    pairs = closest_pairs(COLORS)
    assert set(pairs) == set(VISIONS)
    for vision, (distance, a, b) in pairs.items():
        assert distance >= MIN_DELTA_E, f"{a} and {b} look alike with {vision}: CIEDE2000 {distance:.1f}"


def test_the_simulation_finds_a_palette_that_deuteranopes_confuse():
    """The check can fail: the page's former colours (a red and a green of about the same
    lightness) were 5.2 apart with deuteranopia, though 17 apart for normal vision."""
    former = {"angry": "#e53935", "disgust": "#43a047", "fear": "#8e24aa", "happy": "#fbc02d",
              "sad": "#1e88e5", "surprise": "#fb8c00", "neutral": "#9e9e9e"}
    pairs = closest_pairs(former)
    assert pairs["normal"][0] > MIN_DELTA_E
    assert pairs["deuteranopia"][0] < MIN_DELTA_E and {"angry", "disgust"} == set(pairs["deuteranopia"][1:])
    # and a grey stays a grey for every vision
    for vision in VISIONS:
        assert simulate(rgb("#808080"), vision) == pytest.approx(rgb("#808080"), abs=0.01)


def test_black_text_on_each_colour_and_each_colour_on_the_charts():
    for c, h in COLORS.items():
        assert contrast(rgb(h), rgb("#000000")) >= 4.5, c
        assert contrast(rgb(h), rgb(CHART_BACKGROUND)) >= 3.0, c
