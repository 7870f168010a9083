"""``python -m ml.train``: the entry point of ``ml.training.train`` (see its help)."""

import sys

from ml.training.train import main

if __name__ == "__main__":
    sys.exit(main())
