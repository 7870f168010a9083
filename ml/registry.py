"""The model registry: the models shipped in ``ml/models`` by name, and loading a ``.keras`` file.

    available_models()          # ["default", ...]: the shipped names
    resolve_model("default")    # -> ml/models/default.keras (a path is taken as it is)
    load_keras_model(path)      # the Keras model, or a ValueError naming the file

A model is named once, by whoever starts the program (``python -m server --model``,
``python -m ml.analyze --model``); nothing here reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "default"


def available_models() -> list[str]:
    """Names of the models shipped in ``ml/models``."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.keras"))


def resolve_model(name_or_path: str | os.PathLike | None = None) -> Path:
    """The file of a shipped model name (``default`` when None) or of a path; a clear error if missing."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    candidate = Path(name_or_path)
    if candidate.suffix == ".keras" or candidate.exists() or os.sep in str(name_or_path):
        if not candidate.is_file():
            raise FileNotFoundError(f"{candidate}: no such model file (expected a .keras file)")
        return candidate
    path = MODELS_DIR / f"{name_or_path}.keras"
    if not path.is_file():
        names = ", ".join(available_models()) or "none"
        raise FileNotFoundError(f"no model named {name_or_path!r} in {MODELS_DIR} (shipped: {names})")
    return path


def load_keras_model(path: str | os.PathLike):
    """The Keras model in a ``.keras`` file; a ``ValueError`` naming the file if it is corrupt or foreign."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # corrupt or foreign file
        raise ValueError(f"{path}: not a loadable Keras model ({e.__class__.__name__}: {e})") from None
