"""``python -m ml.analyze``: the entry point of ``ml.recorded.cli`` (recorded videos and images)."""

import sys

from ml.recorded.cli import main

if __name__ == "__main__":
    sys.exit(main())
