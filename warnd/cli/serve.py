"""`warnd run`: the daemon in the foreground, from the last good set when the files on disk are refused."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_STORE
from warnd.cli.state import print_problems, state_dirs
from warnd.errors import ConfigError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from warnd.config.snapshot import Snapshot


def run(args: argparse.Namespace) -> int:
    from warnd.cli.memory import fix_mmap_threshold, limit_arenas

    # The start makes some 240,000 objects that live as long as the daemon: the cycle collector
    # walked them again and again on the way to READY (about 170 ms of the national
    # configuration's start). It is back once they are frozen (runtime.collector), after READY.
    gc.disable()
    # First, before the imports below start threads (numpy's, the store's).
    arenas_limited = limit_arenas()
    mmap_fixed = fix_mmap_threshold()
    from warnd.app import Daemon
    from warnd.obs import get_logger, setup_logging
    from warnd.runtime.build import build
    from warnd.runtime.statedir import AlreadyRunning

    json_lines = setup_logging(args.log_level, json=None if args.log_format == "auto" else args.log_format == "json")
    get_logger("warnd").debug("daemon.malloc", arenas_limited=arenas_limited, mmap_threshold_fixed=mmap_fixed)
    refused: ConfigError | None = None
    snap: Snapshot | None = None
    try:
        bundle = build(args.config, with_senders=True, clock=args.clock, region_cache=True)
    except ConfigError as e:
        # A broken edit must not keep warnings from going out after a crash or a reboot: start
        # from the last set that ran, and say so everywhere an operator looks.
        snap = _last_good(args.config)
        if snap is None:
            _refused_at_start(e, json_lines, "nothing was started")
            return EXIT_CONFIG
        if not json_lines:
            print_problems(e, f"starting from the last good set ({snap.digest}, saved {snap.taken_at})")
        try:
            bundle = build(args.config, with_senders=True, mirror=snap.mirror, clock=args.clock, region_cache=True)
        except ConfigError as again:
            _refused_at_start(again, json_lines, "the last good set does not load either; nothing was started")
            return EXIT_CONFIG
        refused = e
    try:
        daemon = Daemon(args.config, bundle, args.clock, refused=refused, snapshot=snap)
    except AlreadyRunning as e:
        get_logger("warnd").error("daemon.refused", error=str(e))
        return EXIT_FAILURE
    except StoreUnavailable as e:
        # The database server is down or refuses: systemd restarts the unit until it answers.
        get_logger("warnd").error("store.unavailable", error=str(e))
        return EXIT_FAILURE
    except StoreError as e:
        get_logger("warnd").error("store.refused", error=str(e))
        return EXIT_STORE
    # X posts go out from worker threads (tweepy blocks) while the event loop delivers to the
    # other targets: a thread waiting for the GIL should get it within 1 ms, not Python's 5 ms.
    sys.setswitchinterval(0.001)
    asyncio.run(daemon.run())
    return EXIT_OK


def _refused_at_start(e: ConfigError, json_lines: bool, outcome: str) -> None:
    if not json_lines:
        print_problems(e, outcome)
        return
    from warnd.obs import get_logger

    # Under systemd the journal reads this: one JSON line like every other, at error level.
    get_logger("warnd").error(
        "config.rejected", problems=[str(p) for p in e.problems], detail=f"{len(e.problems)} problem(s); {outcome}"
    )


def _last_good(config: Path) -> Snapshot | None:
    """The snapshot of this config in its state directory, if one was saved."""
    from warnd.config import snapshot

    for state_dir in state_dirs(config):
        snap = snapshot.current(state_dir, config)
        if snap is not None:
            return snap
    return None
