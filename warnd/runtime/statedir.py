"""Files in the state directory that other processes read: the lock that keeps a second daemon
off the directory (with the pid that `warnd reload` and `warnd outbox retry` signal), and the
atomic writes of what `warnd status` and `warnd reload` read while the daemon runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from warnd.errors import WarndError

LOCK = "warnd.lock"


class AlreadyRunning(WarndError):
    pass


def lock(state_dir: Path) -> IO[str]:
    """Held as long as the returned file stays open."""
    path = state_dir / LOCK
    # Two daemons on one state directory would post every warning twice.
    f = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise AlreadyRunning(f"another warnd is running on {path.parent}") from None
    # The pid is written under the lock, for `warnd reload`.
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def daemon_pid(state_dir: Path) -> int | None:
    """The pid the daemon running on this state directory wrote under its lock, if any."""
    try:
        return int((state_dir / LOCK).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
