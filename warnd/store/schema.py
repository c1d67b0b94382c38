"""The state database's schema, for both backends, and its versioned migrations.

A store records its version in `meta.schema_version`. Versions up to 4 were SQLite only and
are reached by `sqlite._upgrade_legacy`; the baseline below is version 4 on both backends, and
every later change is one numbered step in MIGRATIONS, written for each dialect, applied in
order at start inside one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from warnd.errors import StoreError

BASELINE = 4

SQLITE_BASE = """
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


def _postgres(sqlite: str) -> str:
    """The baseline in PostgreSQL's words. What differs: REAL is 4 bytes there (DOUBLE PRECISION
    keeps coordinates and unix times exact), identity columns instead of AUTOINCREMENT, and the
    rowid SQLite gives every table, which the outbox orders warnings by, made explicit."""
    out = sqlite.replace("REAL", "DOUBLE PRECISION").replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )
    last = "    cap         TEXT NOT NULL DEFAULT ''     -- its CAP 1.2 document\n);"
    if out.count(last) != 1:  # the warnings table was reshaped: say so at import, not at a store
        raise RuntimeError("schema: the end of the warnings table moved; update _postgres()")
    return out.replace(
        last, last[:-3].replace("'' ", "'',", 1) + "\n    rowid       BIGINT GENERATED ALWAYS AS IDENTITY\n);"
    )


POSTGRES_BASE = _postgres(SQLITE_BASE)

# Several nodes on one database (PostgreSQL); on SQLite the same tables serve the one node.
#  - nodes: who is running, its heartbeat on the database's clock, and its role;
#  - leases: the leader lease (one poller at a time), with an epoch that grows at each change of
#    holder, so that a leader that lost its lease can be told from the one that holds it;
#  - lanes: which node works a target's deliveries (a lane is worked in order by one node);
#  - deliveries.claimed_by / claim_until: the node that has an attempt in flight, until when.
_V5 = """
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claim_until {real};
CREATE INDEX deliveries_in_flight ON deliveries (claimed_by) WHERE state = 'in_flight';
CREATE TABLE nodes (
    name        TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,      -- one per process start: a second process of the name displaces it
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    version     TEXT NOT NULL,
    listen      TEXT,
    role        TEXT NOT NULL,      -- leader | standby | stopped
    started_at  {real} NOT NULL,    -- unix seconds, database clock
    heartbeat_at {real} NOT NULL
);
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    acquired_at {real} NOT NULL,
    expires_at  {real} NOT NULL
);
CREATE TABLE lanes (
    target      TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    until       {real} NOT NULL
);
"""

# Tsunami warning zones whose name matched no regency: one row per zone as BMKG wrote it, the
# source of the operator notice that asks for the name to be mapped.
_V6 = """
CREATE TABLE zone_misses (
    province    TEXT NOT NULL,      -- as written: "PAPUABAR"
    district    TEXT NOT NULL,      -- as written: "RAJAAMPAT BAGIAN UTARA"
    event_id    TEXT NOT NULL,      -- the last event that named it
    feed        TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    seen        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (province, district)
);
"""

# The thread part whose request got no answer (outbox.record_unanswered, or an attempt found in
# flight at start): only that part's duplicate-content refusal from X counts as posted.
_V7 = """
ALTER TABLE deliveries ADD COLUMN part_unanswered INTEGER;
"""

# When a feed's current run of failed polls began (cleared by a good poll): how long it has been
# failing, for its `fail_after` alarm, across restarts and nodes.
_V8 = """
ALTER TABLE feed_state ADD COLUMN failing_since TEXT;
"""

# Each warning's map (warnd.maps), made after its warning is committed: every node serves it
# from here, and a sender that finds it here need not draw it again.
_V9 = """
CREATE TABLE maps (
    warning_id  TEXT PRIMARY KEY,
    png         {blob} NOT NULL,
    alt         TEXT NOT NULL,      -- what a screen reader says (Indonesian)
    created_at  TEXT NOT NULL
);
"""

# Operators' bulletins (model.bulletins): written, then approved or rejected by another
# operator. `data` is the bulletin as JSON; state and series are columns so that an approval is
# one conditional update and a series is found by index.
_V10 = """
CREATE TABLE bulletins (
    id          TEXT PRIMARY KEY,
    series      TEXT NOT NULL,      -- the first bulletin's id
    kind        TEXT NOT NULL,      -- new | correction | cancel
    state       TEXT NOT NULL,      -- pending | approved | rejected | withdrawn
    author      TEXT NOT NULL,
    approver    TEXT,
    created_at  TEXT NOT NULL,
    seq         BIGINT NOT NULL,    -- the order written in, whatever the clock said
    data        TEXT NOT NULL
);
CREATE INDEX bulletins_series ON bulletins (series, seq);
"""

# The operator console (runtime.console): named operators with their argon2id password hashes,
# and their sessions, kept here so that every node of a cluster knows them and a restart keeps
# them. A session is found by the sha256 of its token: the token itself is never stored.
_V11 = """
CREATE TABLE operators (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,      -- argon2id, PHC string format
    created_at  TEXT NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX console_sessions_operator ON console_sessions (operator);
"""

# Partners' own webhook subscriptions (runtime.subscribe): asked over HTTP, their URL verified by
# a challenge, approved or revoked by an operator, paused when their deliveries keep failing.
# `secret` signs every push to the partner, so it is kept as given (an HMAC needs the key itself);
# it is wiped when the subscription is revoked. At most one subscription of a name is not revoked.
_V12 = """
CREATE TABLE subscriptions (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,      -- as asked; its outbox target is partner:sub-<name>
    contact       TEXT NOT NULL,
    url           TEXT NOT NULL,
    accounts      TEXT NOT NULL,      -- JSON list
    hazards       TEXT,               -- JSON list; NULL: every hazard
    min_level     TEXT,               -- NULL: every warning
    format        TEXT NOT NULL,      -- json | cap
    secret        TEXT,               -- NULL once revoked
    state         TEXT NOT NULL,      -- pending | active | paused | revoked
    requested_at  TEXT NOT NULL,
    requested_from TEXT NOT NULL,     -- the client address that asked
    decided_at    TEXT,
    decided_by    TEXT,
    paused_at     TEXT,
    paused_reason TEXT,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_live_name ON subscriptions (name) WHERE state <> 'revoked';
"""

# WebSub subscriptions to the accounts' CAP feeds (runtime.websub_hub): one row per (topic,
# callback), its id derived from the two, so that a renewal finds it on any node. `secret` is the
# subscriber's hub.secret, which each push is signed with; it is never shown.
_V13 = """
CREATE TABLE websub_subscriptions (
    id              TEXT PRIMARY KEY,
    account         TEXT NOT NULL,
    topic           TEXT NOT NULL,
    callback        TEXT NOT NULL,
    secret          TEXT,
    lease_seconds   INTEGER NOT NULL,
    state           TEXT NOT NULL,      -- active | paused | expired | removed
    created_at      TEXT NOT NULL,
    verified_at     TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    paused_at       TEXT,
    paused_reason   TEXT,
    resumed_at      TEXT                -- pushes before this do not count towards a pause
);
CREATE INDEX websub_subscriptions_state ON websub_subscriptions (state, account);
"""

# A warning's CAP document made after the warning is committed (runtime.cap_fill), so that making
# its polygons is not on the path of the text post: `cap_pending` is 1 until it is there, and the
# deliveries that carry CAP wait for it.
_V14 = """
ALTER TABLE warnings ADD COLUMN cap_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX warnings_cap_pending ON warnings (created_at) WHERE cap_pending = 1;
"""

# What each ingested change made of every rule of its hazard (the operator console's decisions,
# as `warnd simulate --explain` says them), written in the document's own transaction so that
# every node's console shows what the leader decided, and a restart keeps it. Only the newest are
# kept (store.decisions.KEEP).
_V15 = """
CREATE TABLE decisions (
    id          {ident},
    at          TEXT NOT NULL,
    node        TEXT,
    feed        TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    step        TEXT NOT NULL       -- JSON: the rules that fired and why the others did not
);
"""

SQLITE = "sqlite"
POSTGRES = "postgres"
REAL = {SQLITE: "REAL", POSTGRES: "DOUBLE PRECISION"}
BLOB = {SQLITE: "BLOB", POSTGRES: "BYTEA"}
IDENT = {SQLITE: "INTEGER PRIMARY KEY AUTOINCREMENT", POSTGRES: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"}

MIGRATIONS: dict[int, dict[str, str]] = {
    5: {d: _V5.format(real=REAL[d]) for d in (SQLITE, POSTGRES)},
    6: dict.fromkeys((SQLITE, POSTGRES), _V6),
    7: dict.fromkeys((SQLITE, POSTGRES), _V7),
    8: dict.fromkeys((SQLITE, POSTGRES), _V8),
    9: {d: _V9.format(blob=BLOB[d]) for d in (SQLITE, POSTGRES)},
    10: dict.fromkeys((SQLITE, POSTGRES), _V10),
    11: dict.fromkeys((SQLITE, POSTGRES), _V11),
    12: dict.fromkeys((SQLITE, POSTGRES), _V12),
    13: dict.fromkeys((SQLITE, POSTGRES), _V13),
    14: dict.fromkeys((SQLITE, POSTGRES), _V14),
    15: {d: _V15.format(ident=IDENT[d]) for d in (SQLITE, POSTGRES)},
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(run: Callable[[str, Sequence[Any]], Any], dialect: str, where: str) -> None:
    """Inside the caller's transaction: the baseline (each table if it is missing), then every
    numbered step above the version the store records. StoreError for a store written by a newer
    warnd: its tables may mean what this one does not know."""
    for statement in statements(SQLITE_BASE if dialect == SQLITE else POSTGRES_BASE):
        run(statement, ())
    run("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING", (str(BASELINE),))
    version = int(run("SELECT value FROM meta WHERE key = 'schema_version'", ()).fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {where} is of schema version {version}, newer than this warnd knows"
            f" ({SCHEMA_VERSION}): run the warnd that wrote it (on every node), or restore a backup"
        )
    for v in sorted(MIGRATIONS):
        if v > version:
            for statement in statements(MIGRATIONS[v][dialect]):
                run(statement, ())
            run("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(v),))


def statements(script: str) -> list[str]:
    """A script's statements, to run one by one inside a migration's transaction (SQLite's
    executescript would commit first). No statement of the schema has a ';' inside it."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
