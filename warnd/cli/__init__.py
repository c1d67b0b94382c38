"""The `warnd` command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from warnd.cli import parser
from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_STORE
from warnd.clock import Clock, SystemClock
from warnd.errors import StoreError, StoreUnavailable


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """`clock`: what every command takes as now (the system's steady time when not given)."""
    p = parser.build()
    args = p.parse_args(argv)
    args.clock = clock or SystemClock()
    if not getattr(args, "command", None):
        p.print_help()
        return EXIT_CONFIG
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        # `warnd status | head`: the reader has what it wanted.
        sys.stderr.close()
        return EXIT_OK
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE if isinstance(e, StoreUnavailable) else EXIT_STORE
    return result
