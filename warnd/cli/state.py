"""What the operator commands read of a configuration and the state it runs on: the config
(every problem printed), the state database, the state directory (found even when the config no
longer loads)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from warnd.errors import ConfigError

if TYPE_CHECKING:
    from warnd.clock import Clock
    from warnd.config.load import Config
    from warnd.store.backend import Database


def load_config(path: Path) -> Config | None:
    """The loaded config, or None after printing every problem."""
    from warnd.config.load import load

    try:
        return load(path)
    except ConfigError as e:
        print_problems(e)
        return None


def print_problems(e: ConfigError, outcome: str = "nothing was started") -> None:
    for problem in e.problems:
        print(problem, file=sys.stderr)
    print(f"{len(e.problems)} problem(s); {outcome}", file=sys.stderr)


@contextlib.contextmanager
def state_db(cfg: Config) -> Iterator[Database]:
    """The daemon's state database (SQLite in WAL, or PostgreSQL: safe to use while it runs)."""
    from warnd.store import db

    conn = db.open_store(cfg.file.store, cfg.state_dir)
    try:
        yield conn
    finally:
        conn.close()
        if not db.shared(cfg.file.store):
            _keep_owner(cfg.state_dir / "warnd.db")


@dataclass(frozen=True)
class OperatorState:
    """What a command that changes the daemon's state works on."""

    cfg: Config
    conn: Database
    now: datetime


@contextlib.contextmanager
def operator_state(config: Path, clock: Clock) -> Iterator[OperatorState | None]:
    """The loaded config with its state database open, or None after printing every problem of
    the config. The time the command acts at is read once, here, from the CLI's `clock`: every
    row it writes or judges agrees on it, and a test can fix it."""

    cfg = load_config(config)
    if cfg is None:
        yield None
        return
    now = clock.now()
    with state_db(cfg) as conn:
        yield OperatorState(cfg, conn, now)


def _keep_owner(path: Path) -> None:
    """An operator running this as root beside a daemon of its own user (systemd's DynamicUser)
    must not leave a root-owned write-ahead log behind: the daemon could no longer open it."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        owner = path.stat()
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if f.exists() and (f.stat().st_uid, f.stat().st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(f, owner.st_uid, owner.st_gid)


def raw_state_dir(config: Path) -> Path | None:
    import yaml

    try:
        raw = yaml.safe_load(config.read_text())
        return (config.parent / str(raw["state_dir"])).resolve()
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def state_dirs(config: Path) -> list[Path]:
    """Where the state directory of a config may be, found even when the config no longer
    loads: through what of it still parses, then systemd's $STATE_DIRECTORY."""
    from warnd.config.load import load

    candidates: list[Path] = []
    with contextlib.suppress(ConfigError):
        candidates.append(load(config).state_dir)
    raw = raw_state_dir(config)
    if raw is not None:
        candidates.append(raw)
    if os.environ.get("STATE_DIRECTORY"):
        candidates.append(Path(os.environ["STATE_DIRECTORY"].split(":")[0]))
    return list(dict.fromkeys(candidates))
