"""Starting the model prints nothing of TensorFlow's: its oneDNN notice (printed twice by TF 2.21,
whatever TF_CPP_MIN_LOG_LEVEL says) stays off the terminal of `python -m server` and `ml.analyze`."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_keras_imports_without_tensorflow_notices():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    code = ("from ml.backend_quiet import import_keras_quietly; import_keras_quietly(); "
            "import sys; print('after', file=sys.stderr); import keras; print(keras.__version__)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()  # keras is there
    assert r.stderr.strip() == "after", r.stderr  # stderr works again afterwards, and nothing else was printed
