"""Commands for writing a configuration: `warnd check`, `warnd schema`, `warnd points`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from warnd.cli.exits import EXIT_CONFIG, EXIT_OK
from warnd.cli.state import print_problems
from warnd.errors import ConfigError

if TYPE_CHECKING:
    from warnd.config.secrets import Credentials


def check(args: argparse.Namespace) -> int:
    from warnd.runtime.build import build

    credentials = _credentials(args.config, args.credentials) if args.secrets else None
    try:
        b = build(args.config, with_senders=False, check_secrets=args.secrets, credentials=credentials)
    except ConfigError as e:
        print_problems(e)
        return EXIT_CONFIG
    cfg = b.config
    print(
        f"{args.config}: OK: {len(cfg.feeds)} feeds, {len(b.ruleset.rules)} rules in {len(cfg.rule_files)} files, "
        f"{len(b.accounts)} accounts, {len(b.regions.regions)} regions, {len(b.renderer.names())} templates"
    )
    return EXIT_OK


def _credentials(config: Path, given: Path | None) -> Credentials:
    """Where `warnd check --secrets` reads credentials: the folder given, systemd's (inside the
    service), else the folder the installer made beside the config, which the unit hands to
    the daemon (root reads it; the daemon itself never does)."""
    from warnd.config.secrets import Credentials

    folder = given
    if folder is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        folder = Path(os.environ["CREDENTIALS_DIRECTORY"])
    if folder is None and (config.parent / "credentials").is_dir():
        folder = config.parent / "credentials"
    if folder is not None and not folder.is_dir():
        print(f"warning: {folder} is no folder; only the environment was read", file=sys.stderr)
        folder = None
    elif folder is not None and not os.access(folder, os.R_OK | os.X_OK):
        print(
            f"warning: cannot read the credentials folder {folder} (run as root to check the files in it);"
            " only the environment was read",
            file=sys.stderr,
        )
        folder = None
    return Credentials(folder)


def schema(args: argparse.Namespace) -> int:
    from warnd.config.schema import ConfigFile, RulesFile

    model = ConfigFile if args.which == "config" else RulesFile
    print(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def points(args: argparse.Namespace) -> int:
    from warnd.geo import RegionError, points_from_layer, write_points

    try:
        rows = points_from_layer(args.layer)
    except RegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    write_points(rows, sys.stdout)
    return EXIT_OK
