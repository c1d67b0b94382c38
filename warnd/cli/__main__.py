"""`python -m warnd.cli`, as the tests and older units call it."""

import sys

from warnd.cli import main

sys.exit(main())
