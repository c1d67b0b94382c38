"""The check of a configuration set copied for the last good set (runtime.last_good), made in a
process of its own: `python -m warnd.runtime.verify_set CONFIG MIRROR` loads the copy and says
what is wrong with it.

The check builds the whole set again, every region layer and rule: about a second of CPU and
some 55 MB with the national layers. Made in the daemon it took the interpreter, ten seconds
after a start or an edit, from the warnings of that second (a quake's text post then waited
for it: 140 to 300 ms in the benchmark's path section), and the daemon kept the memory
afterwards (glibc keeps what the build freed). In a child it runs on another core, and its
memory goes with it. What the child finds wrong reaches the daemon as the same problems, with
file and line, that a build in the daemon would have raised."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from warnd.errors import ConfigError, Problem

# Loading the national layers takes a few seconds on a slow machine; a check still running after
# this is stuck, and the previous last good set stays.
TIMEOUT = 300.0
# The child's exit status when the copy does not load: its problems are on stdout, as JSON.
PROBLEMS = 3
# What the child must not inherit: systemd speaks to the daemon alone (NotifyAccess=main).
_NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def verify(path: Path, mirror: Path) -> None:
    """Load the set `path` names from the copy in `mirror`, in a child process; ConfigError with
    what the load found wrong, or with why the check itself could not be made."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    argv = [sys.executable, "-m", "warnd.runtime.verify_set", str(path), str(mirror)]
    try:
        done = subprocess.run(
            argv, capture_output=True, env=env, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise _failed(path, f"the check of the copy took over {TIMEOUT:.0f} s") from None
    except OSError as e:
        raise _failed(path, f"the check of the copy could not start: {e.strerror or e}") from None
    if done.returncode == 0:
        return
    if done.returncode == PROBLEMS:
        try:
            raise ConfigError([Problem(**p) for p in json.loads(done.stdout)])
        except (ValueError, TypeError):
            pass
    said = done.stderr.decode("utf-8", "replace").strip().splitlines()
    last = said[-1][:300] if said else "nothing said"
    raise _failed(path, f"the check of the copy failed (exit status {done.returncode}): {last}")


def _failed(path: Path, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), None, "", message)])


def main(argv: list[str]) -> int:
    from warnd.obs import setup_logging
    from warnd.runtime.build import build

    # stdout carries the problems alone.
    setup_logging("error", json=True)
    if len(argv) != 3:
        print("usage: python -m warnd.runtime.verify_set CONFIG MIRROR", file=sys.stderr)
        return 2
    try:
        build(Path(argv[1]), with_senders=False, mirror=Path(argv[2]))
    except ConfigError as e:
        print(json.dumps([dataclasses.asdict(p) for p in e.problems]))
        return PROBLEMS
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
