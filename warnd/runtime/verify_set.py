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
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from warnd.errors import ConfigError, Problem

# Loading the national layers takes a few seconds on a slow machine; a check still running after
# this is stuck, and the previous last good set stays.
TIMEOUT = 300.0
# The child's exit status when the copy does not load: its problems are on stdout, as JSON.
PROBLEMS = 3
# What the child must not inherit: systemd speaks to the daemon alone (NotifyAccess=main).
_NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class Checks:
    """The checks of one daemon's saves: each in a child process, ended when the set it checks is
    superseded (`cancel`: a reload saves a newer one) or the daemon stops (`close`). The thread
    that waits for a child cannot be cancelled; ending the child ends the wait, so a stop never
    waits on a check."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        """`command`: what runs with the config and mirror as its two arguments (this module)."""
        self._command = list(command) if command else [sys.executable, "-m", "warnd.runtime.verify_set"]
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def verify(self, path: Path, mirror: Path) -> None:
        """Load the set `path` names from the copy in `mirror`, in a child process; ConfigError
        with what the load found wrong, or with why the check itself could not be made."""
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        with self._lock:
            if self._closed:
                raise _failed(path, "the check of the copy was not made: the daemon is stopping")
            try:
                child = subprocess.Popen(
                    [*self._command, str(path), str(mirror)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                )
            except OSError as e:
                raise _failed(path, f"the check of the copy could not start: {e.strerror or e}") from None
            self._running.add(child)
        try:
            out, err = child.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise _failed(path, f"the check of the copy took over {TIMEOUT:.0f} s") from None
        finally:
            with self._lock:
                self._running.discard(child)
        if child.returncode == 0:
            return
        if child.returncode == -signal.SIGKILL:
            raise _failed(path, "the check of the copy was ended: the daemon stopped, or a newer set replaced it")
        problems = _problems(out) if child.returncode == PROBLEMS else None
        if problems is not None:
            raise ConfigError(problems)
        said = err.decode("utf-8", "replace").strip().splitlines()
        last = said[-1][:300] if said else "nothing said"
        raise _failed(path, f"the check of the copy failed (exit status {child.returncode}): {last}")

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def cancel(self) -> None:
        """End the checks under way; later ones are made."""
        with self._lock:
            for child in self._running:
                child.kill()

    def close(self) -> None:
        """End the checks under way, and make no more."""
        with self._lock:
            self._closed = True
        self.cancel()


def _problems(out: bytes) -> list[Problem] | None:
    """The problems the child printed; None when what it printed is not that (then its exit
    status and the last line it wrote to stderr say what went wrong)."""
    try:
        return [Problem(**p) for p in json.loads(out)]
    except (ValueError, TypeError):
        return None


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
