"""Import Keras (and TensorFlow under it) without TensorFlow's start-up notices on the terminal.

    from ml.backend_quiet import import_keras_quietly
    import_keras_quietly()   # before the first ``import keras``; later imports are silent anyway

TensorFlow 2.21 prints "oneDNN custom operations are on ..." once per native library it
loads (twice), through absl before its logging is initialised: ``TF_CPP_MIN_LOG_LEVEL``
does not silence it, wherever it is set. Those lines are written to file descriptor 2
during the import, so the import runs with fd 2 pointed at /dev/null; a Python error in
the import is still raised (and printed) as usual. ``TF_CPP_MIN_LOG_LEVEL=3`` (set here
unless set already) keeps the later C++ INFO/WARNING lines away.
"""

from __future__ import annotations

import os
import sys


def import_keras_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
