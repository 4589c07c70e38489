"""``python -m boxoffice.devstack run [--data-dir .data]``: what ``make run`` calls."""

import sys

from boxoffice.devstack.launcher import main

if __name__ == "__main__":
    sys.exit(main())
