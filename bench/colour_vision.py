"""Are the seven expression colours (ml/labels.py COLORS) told apart by everyone?

    python bench/colour_vision.py

For normal vision and for a simulation of each common colour-vision deficiency at full
severity (Machado, Oliveira and Fernandes 2009, "A physiologically-based model for
simulation of color vision deficiency", IEEE TVCG 15(6): their matrices for protanopia,
deuteranopia and tritanopia, applied to linear RGB), the colours' smallest pairwise
CIEDE2000 difference (scikit-image's ``deltaE_ciede2000`` on CIELAB, D65), and each
colour's WCAG contrast with black text (the overlay's labels, the class view's chips)
and with the charts' background (#111111). docs/accessibility.md reports the output;
tests/test_colour_vision.py holds the palette to it.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.labels import CLASSES, COLORS  # noqa: E402

# Machado et al. 2009, Table 1 at severity 1.0: linear RGB -> linear RGB as the dichromat sees it
MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
VISIONS = ("normal", *MACHADO)
CHART_BACKGROUND = "#111111"  # static/chart.js chartFrame


def rgb(hex_colour: str) -> np.ndarray:
    """'#RRGGBB' -> sRGB in [0, 1]."""
    return np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def linear(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, float)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def encode(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def simulate(srgb: np.ndarray, vision: str) -> np.ndarray:
    """The colour as seen with ``vision`` (sRGB in [0, 1])."""
    return srgb if vision == "normal" else encode(linear(srgb) @ MACHADO[vision].T)


def luminance(srgb: np.ndarray) -> float:
    """WCAG 2 relative luminance."""
    return float(linear(srgb) @ np.array([0.2126, 0.7152, 0.0722]))


def contrast(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def closest_pairs(colours: dict[str, str]) -> dict[str, tuple[float, str, str]]:
    """Per vision: the smallest CIEDE2000 difference between two of ``colours`` and which two."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    out = {}
    for vision in VISIONS:
        lab = {name: rgb2lab(simulate(rgb(h), vision)[None, None, :])[0, 0] for name, h in colours.items()}
        out[vision] = min((float(deltaE_ciede2000(lab[a], lab[b])), a, b)
                          for a, b in itertools.combinations(colours, 2))
    return out


def main() -> int:
    colours = {c: COLORS[c] for c in CLASSES}
    print("smallest CIEDE2000 difference between two of the seven colours")
    for vision, (d, a, b) in closest_pairs(colours).items():
        print(f"  {vision:13s} {d:5.1f}  ({a} / {b})")
    print("contrast (WCAG 2): black text on the colour; the colour on the charts' background #111111")
    black, background = rgb("#000000"), rgb(CHART_BACKGROUND)
    for c, h in colours.items():
        print(f"  {c:9s} {h}  {contrast(rgb(h), black):5.2f}:1  {contrast(rgb(h), background):5.2f}:1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
