"""``python -m dagfn``: the ``dagfn`` command."""

import sys

from dagfn.cli import main

if __name__ == "__main__":
    sys.exit(main())
