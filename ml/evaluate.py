"""``python -m ml.evaluate``: the entry point of ``ml.training.evaluate`` (see its help)."""

import sys

from ml.training.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
