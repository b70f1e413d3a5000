"""`python -m qfl.cli` runs the `qflchain` command."""

import sys

from qfl.cli import main

sys.exit(main())
