"""`python -m warnd.cli`: the `warnd` command, as the test suites start the daemon."""

import sys

from warnd.cli import main

sys.exit(main())
