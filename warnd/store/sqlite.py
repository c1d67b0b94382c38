"""The embedded backend: one SQLite file in the state directory, for a single node.

WAL with synchronous=FULL: a warning that was committed survives a power cut, and the
dispatcher can read while ingest writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from warnd.errors import StoreError
from warnd.store import schema
from warnd.store.backend import Cursor, Database, DatabaseError

# How long a statement waits for another process's lock (a backup, an operator's sqlite3 shell)
# before it fails. The store is used from threads of its own (store/worker.py), so the wait no
# longer stalls the event loop, but every write queued behind it waits too. A failed poll is
# read again and a failed record is retried, so failing is safe; waiting forever is not.
BUSY_TIMEOUT = 5.0
RESTORE = "restore it from a backup, or move it aside to start an empty store (every known event is then new)"


class SQLite(Database):
    dialect = schema.SQLITE
    # julianday is the only sub-second clock SQLite 3.40 has (unixepoch('subsec') is 3.42).
    now_sql = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, raw: sqlite3.Connection, path: Path) -> None:
        self.raw = raw
        self.path = path
        self.where = str(path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self.raw.execute(sql, params)
        except sqlite3.Error as e:
            raise DatabaseError(str(e)) from e

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.raw.executemany(sql, rows)
        except sqlite3.Error as e:
            raise DatabaseError(str(e)) from e

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        # IMMEDIATE: the write lock is taken at the start, so a transaction never fails halfway
        # for want of it.
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.raw.in_transaction:
                self.raw.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def checkpoint(self) -> None:
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.raw.close()


def connect(path: Path) -> SQLite:
    """The state database, checked and migrated; StoreError when it exists but cannot be used.

    A missing database is created. A damaged one is never replaced silently: an empty store
    would forget what was posted and post it all again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    on_disk = str(path) != ":memory:"
    if on_disk:
        _check_file(path)
    try:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) so that a
        # ledger change and its warnings are one unit, never half of it.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        if on_disk:
            found = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
            if found != ["ok"]:
                raise StoreError(f"the state database {path} is damaged ({'; '.join(found)}): {RESTORE}")
        _migrate(conn, path)
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise StoreError(f"the state database {path} is locked by another process: {e}") from None
        raise StoreError(f"the state database {path} cannot be used ({e}): {RESTORE}") from None
    return SQLite(conn, path)


def reader(path: Path) -> SQLite:
    """A second connection to the daemon's own database, for reads only: in WAL mode it reads
    while a writer holds the lock (the daemon's store thread, or another process)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
        conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as e:
        raise StoreError(f"the state database {path} cannot be read: {e}") from None
    conn.row_factory = sqlite3.Row
    return SQLite(conn, path)


def read_only(path: Path) -> SQLite:
    """For `warnd status` beside a running daemon: never writes, never migrates."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
    except sqlite3.Error as e:
        raise StoreError(f"the state database {path} cannot be read: {e}") from None
    conn.row_factory = sqlite3.Row
    return SQLite(conn, path)


def _check_file(path: Path) -> None:
    """What SQLite would accept without a word but is not a warnd store: a file truncated to
    nothing (SQLite takes it for a new, empty database) or a write-ahead log without its
    database (the last commits, without what they apply to)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            why = f"the state database {path} is missing but its write-ahead log {wal} is not"
            raise StoreError(f"{why}: {RESTORE}") from None
        return
    if size == 0:
        raise StoreError(f"the state database {path} is empty (0 bytes; truncated?): {RESTORE}")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        _upgrade_legacy(conn)
        schema.migrate(conn.execute, schema.SQLITE, str(path))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# Columns added after version 1, for state directories created by an earlier warnd.
_ADDED = {
    "events": (("agency", "TEXT NOT NULL DEFAULT ''"), ("status", "TEXT NOT NULL DEFAULT 'actual'")),
    "feed_state": (("next_poll_at", "TEXT"), ("stale_since", "TEXT"), ("notice", "TEXT")),
    "warnings": (("event", "TEXT NOT NULL DEFAULT '{}'"), ("cap", "TEXT NOT NULL DEFAULT ''")),
    "deliveries": (
        ("reason", "TEXT"),
        ("created_at", "TEXT NOT NULL DEFAULT ''"),
        ("updated_at", "TEXT"),
        ("parts", "TEXT NOT NULL DEFAULT '[]'"),
    ),
}


def _upgrade_legacy(conn: sqlite3.Connection) -> None:
    """Versions 1 to 3 added columns without numbering the steps: bring such a store to the
    baseline (version 4) by looking at what it has."""
    upgraded = False
    for table, columns in _ADDED.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # a new database: the baseline creates the table whole
        for name, decl in columns:
            if name not in have:
                upgraded = True
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                if (table, name) == ("events", "agency"):
                    # Known events must stay matchable by time and place after the upgrade.
                    conn.execute(
                        "UPDATE events SET agency = substr(json_extract(data, '$.feed_format'), 1,"
                        " instr(json_extract(data, '$.feed_format') || '-', '-') - 1)"
                    )
                if (table, name) == ("deliveries", "created_at"):
                    # The give-up clock of a queued delivery starts when its warning was issued.
                    conn.execute(
                        "UPDATE deliveries SET created_at ="
                        " (SELECT created_at FROM warnings WHERE warnings.id = deliveries.warning_id)"
                    )
    if upgraded and conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(schema.BASELINE),))
