"""What the benchmarks that compare ml with fer share: loading fer (the peer, bench/requirements.txt),
trying detector settings, and the closing line (machine, load, command) with the JSON figures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_fer(skip: bool = False):
    """fer's ``FER()`` (Haar + mini-Xception), or None (``skip``, or not installed: said so)."""
    if skip:
        return None
    try:
        from fer.fer import FER
    except ImportError:
        print("fer is not installed (see bench/requirements.txt): ml only")
        return None
    return FER()


def try_settings(analyzer, items: list[str]) -> None:
    """``NAME=VALUE`` items: the analyser's detector rebuilt with those ``ml.FaceDetector`` settings."""
    if not items:
        return
    import ml

    settings = analyzer.detector.settings
    for item in items:
        name, value = item.split("=", 1)
        if name not in settings:
            raise SystemExit(f"unknown detector setting {name!r}; the settings: {', '.join(settings)}")
        settings[name] = type(settings[name])(float(value))
    analyzer.detector = ml.FaceDetector(**settings)
    print("detector settings:", settings)


def footer(script: str, rows, json_path: str | None) -> None:
    """The machine, its load and the command that gave the figures; the rows as JSON if asked."""
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; command: python "
          + " ".join([os.path.relpath(script, ROOT)] + sys.argv[1:]))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
