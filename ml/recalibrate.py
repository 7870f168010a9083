"""``python -m ml.recalibrate``: the entry point of ``ml.training.recalibrate`` (see its help)."""

import sys

from ml.training.recalibrate import main

if __name__ == "__main__":
    sys.exit(main())
