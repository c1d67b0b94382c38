"""The state database: one SQLite file in the state directory.

WAL with synchronous=FULL: a warning that was committed survives a power cut, and the
dispatcher can read while ingest writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warnd.errors import StoreError

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    hazard      TEXT NOT NULL,
    time        TEXT NOT NULL,          -- origin/observation time, ISO UTC
    lat         REAL,
    lon         REAL,
    revision    TEXT NOT NULL,          -- current revision hash
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    data        TEXT NOT NULL,          -- the event as JSON
    agency      TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'actual'
);
CREATE INDEX IF NOT EXISTS events_hazard_time ON events (hazard, time);

-- Other ids a source has used for a known event (USGS associated ids, BMKG realtime ids,
-- the ids of later messages about it).
CREATE TABLE IF NOT EXISTS event_aliases (
    alias       TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events(id)
);

CREATE TABLE IF NOT EXISTS event_revisions (
    event_id    TEXT NOT NULL REFERENCES events(id),
    revision    TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (event_id, revision)
);

CREATE TABLE IF NOT EXISTS warnings (
    id          TEXT PRIMARY KEY,       -- hash of (event, revision, rule, account, kind)
    event_id    TEXT NOT NULL,
    revision    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    account     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    priority    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    data        TEXT NOT NULL,
    event       TEXT NOT NULL DEFAULT '{}',  -- what the warning is about (for partners), JSON
    cap         TEXT NOT NULL DEFAULT ''     -- its CAP 1.2 document
);
CREATE INDEX IF NOT EXISTS warnings_event_account ON warnings (event_id, account);

CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    warning_id      TEXT NOT NULL REFERENCES warnings(id),
    target          TEXT NOT NULL,      -- 'account:<name>' or 'partner:<name>'
    state           TEXT NOT NULL,      -- pending | in_flight | retry | sent | dead | dropped
    priority_rank   INTEGER NOT NULL,   -- 0 = life safety first (model.urgency_rank)
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    sent_at         TEXT,
    remote_id       TEXT,
    reason          TEXT,               -- errors.Failure of the last attempt, or gave_up / operator
    created_at      TEXT NOT NULL DEFAULT '',
    updated_at      TEXT,
    parts           TEXT NOT NULL DEFAULT '[]',  -- remote ids of thread parts already posted
    UNIQUE (warning_id, target)
);
CREATE INDEX IF NOT EXISTS deliveries_lane ON deliveries (target, state, priority_rank);
CREATE INDEX IF NOT EXISTS deliveries_queued ON deliveries (target, priority_rank, id)
    WHERE state IN ('pending', 'retry');

-- A target (account, partner, the whole X app) held after a rate limit, or disabled after an
-- authentication failure until an operator acts. Persisted: a restart respects both.
CREATE TABLE IF NOT EXISTS target_state (
    target      TEXT PRIMARY KEY,
    hold_until  TEXT,
    disabled_at TEXT,
    reason      TEXT,
    detail      TEXT
);

-- One row per request made to a rate-limited API, for the budgets kept below its limits.
CREATE TABLE IF NOT EXISTS rate_log (
    bucket      TEXT NOT NULL,
    at          REAL NOT NULL           -- unix seconds
);
CREATE INDEX IF NOT EXISTS rate_log_bucket_at ON rate_log (bucket, at);

CREATE TABLE IF NOT EXISTS feed_state (
    feed            TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    body_hash       TEXT,
    last_ok         TEXT,
    last_change     TEXT,
    last_error      TEXT,
    last_error_at   TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    next_poll_at    TEXT,               -- backoff after failures: no poll before this
    stale_since     TEXT,               -- set while the feed is stale (a raised notice)
    notice          TEXT                -- why, in words, while stale_since is set
);

-- Linked documents (CAP alerts behind an RSS index) already fetched and ingested.
CREATE TABLE IF NOT EXISTS followed_links (
    feed        TEXT NOT NULL,
    url         TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (feed, url)
);

-- Operator mutes: a rule, an account or a region (any combination), until a time.
CREATE TABLE IF NOT EXISTS silences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rule        TEXT,
    account     TEXT,
    region      TEXT,
    until       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Operator notices: one row per occurrence, from the moment a condition is seen until it clears.
CREATE TABLE IF NOT EXISTS notices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT NOT NULL,      -- the condition: kind and subject
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL,      -- degraded | failing
    message         TEXT NOT NULL,
    recovery        TEXT NOT NULL,      -- what the clearing will say
    raised_at       TEXT NOT NULL,
    cleared_at      TEXT,
    cleared_message TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS notices_active ON notices (key) WHERE cleared_at IS NULL;

-- Notices waiting to reach an ops channel (raised and cleared are one message each).
CREATE TABLE IF NOT EXISTS ops_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,      -- the message as JSON
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    done_at         TEXT,
    outcome         TEXT                -- sent | gave_up
);
CREATE INDEX IF NOT EXISTS ops_outbox_waiting ON ops_outbox (channel, id) WHERE done_at IS NULL;

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# How long a statement waits for another process's lock (a backup, an operator's sqlite3 shell)
# before it fails. Well below the unit's WatchdogSec=30: the store is used from the event loop,
# and a wait this long must not look like a hung daemon. A failed poll is read again and a
# failed record is retried, so failing is safe; waiting forever is not.
BUSY_TIMEOUT = 5.0
RESTORE = "restore it from a backup, or move it aside to start an empty store (every known event is then new)"


def connect(path: Path) -> sqlite3.Connection:
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
        _migrate(conn)
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise StoreError(f"the state database {path} is locked by another process: {e}") from None
        raise StoreError(f"the state database {path} cannot be used ({e}): {RESTORE}") from None
    return conn


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


def _migrate(conn: sqlite3.Connection) -> None:
    for table, columns in _ADDED.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # a new database: the schema below creates the table whole
        for name, decl in columns:
            if name not in have:
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
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
