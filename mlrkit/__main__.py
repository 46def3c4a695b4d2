"""``python -m mlrkit``: see :mod:`mlrkit.cli`."""

import sys

from mlrkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
