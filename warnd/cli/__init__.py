"""The `warnd` command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from warnd.cli import parser
from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_STORE
from warnd.errors import StoreError, StoreUnavailable


def main(argv: Sequence[str] | None = None) -> int:
    p = parser.build()
    args = p.parse_args(argv)
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
