"""`python -m warnd`: the `warnd` command without its console script."""

import sys

from warnd.cli import main

sys.exit(main())
