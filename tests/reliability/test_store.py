"""The state database under attack: damaged, truncated or emptied at start-up (a clear error and
exit 4, never a silent new store), locked by another process, and on a full filesystem."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from tests.reliability.campaign import disk_full, locked
from warnd.store import db

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""


def run(cfg, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", *args, "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )


def real_store(path):
    conn = db.connect(path)
    with conn.transaction():
        for i in range(3000):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "x" * 200))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def damage(kind: str, path) -> None:
    if kind == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
    elif kind == "truncated":
        real_store(path)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "scribbled":
        real_store(path)
        with path.open("r+b") as f:
            f.seek(4096 * 3)
            f.write(os.urandom(4096 * 4))
    elif kind == "wal-without-db":
        real_store(path)
        path.with_name(path.name + "-wal").write_bytes(b"\x37\x7f\x06\x82" + os.urandom(4000))
        path.unlink()


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("garbage", "cannot be used (file is not a database)"),
        # SQLite meets the damage either while opening (malformed) or in the check (damaged).
        ("truncated", ("malformed", "is damaged")),
        ("scribbled", ("malformed", "is damaged")),
        ("empty", "is empty (0 bytes; truncated?)"),
        ("wal-without-db", "is missing but its write-ahead log"),
    ],
)
def test_a_damaged_store_stops_the_daemon_with_exit_4_and_is_left_alone(tmp_path, kind, says):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    path = tmp_path / "state" / "warnd.db"
    path.parent.mkdir(parents=True)
    damage(kind, path)
    before = path.read_bytes() if path.exists() else None
    done = run(cfg, "run")
    assert done.returncode == 4, done.stderr[-2000:]
    says = (says,) if isinstance(says, str) else says
    assert "store.refused" in done.stderr and str(path) in done.stderr
    assert any(x in done.stderr for x in says), done.stderr
    assert "restore it from a backup, or move it aside" in done.stderr
    # Never a new empty store in its place.
    assert (path.read_bytes() if path.exists() else None) == before
    # The operator commands say the same, without a traceback.
    hist = run(cfg, "history")
    assert hist.returncode == 4 and any(x in hist.stderr for x in says) and "Traceback" not in hist.stderr


def test_a_store_moved_aside_starts_empty(tmp_path):
    # The recovery the message names works: the daemon starts on a new store.
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    path = tmp_path / "state" / "warnd.db"
    path.parent.mkdir(parents=True)
    damage("garbage", path)
    path.rename(path.with_name("warnd.db.damaged"))
    assert run(cfg, "history").returncode == 0
    assert sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0] == "ok"


@pytest.mark.timeout(300)
def test_a_locked_store_delays_warnings_and_loses_none(tmp_path):
    out = locked(tmp_path, events=40, spell=12.0)
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    assert out.extra["errors"] and all(e == "database is locked" for e in out.extra["errors"])


@pytest.mark.timeout(300)
def test_a_full_disk_refuses_new_work_loudly_and_recovers(tmp_path):
    try:
        out = disk_full(tmp_path, events=60, spell=6.0)
    except PermissionError as e:
        if os.environ.get("WARND_REQUIRE_TMPFS"):
            raise
        pytest.skip(f"needs root to mount a tmpfs: {e}")
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    # Nothing could be recorded, so nothing went out; each refusal said why, and health failed.
    assert out.extra["during"] == 0
    assert out.extra["errors"] and all("full" in e for e in out.extra["errors"]), out.extra["errors"]
    assert "failing" in out.extra["seen"]
