"""A state database of an earlier release is upgraded in place (SQLite only: PostgreSQL stores
start at the baseline)."""

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import sample
from warnd.model import Source, iso_utc
from warnd.store.db import SCHEMA_VERSION, connect
from warnd.store.ledger import Ledger

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def observe(ledger, ev):
    with ledger.conn.transaction():
        return ledger.observe(ev, NOW)


V1_EVENTS = """CREATE TABLE events (id TEXT PRIMARY KEY, hazard TEXT NOT NULL, time TEXT NOT NULL, lat REAL, lon REAL,
revision TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0,
data TEXT NOT NULL);
CREATE TABLE feed_state (feed TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, body_hash TEXT, last_ok TEXT,
last_change TEXT, last_error TEXT, last_error_at TEXT, failures INTEGER NOT NULL DEFAULT 0);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');"""


def test_a_state_database_of_the_first_release_is_upgraded_in_place(tmp_path):
    from warnd.pollers import bmkg

    (ev,) = bmkg.parse(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"), Source("t", NOW)).events
    raw = sqlite3.connect(tmp_path / "w.db")
    raw.executescript(V1_EVENTS)
    raw.execute(
        "INSERT INTO events (id, hazard, time, lat, lon, revision, first_seen, last_seen, cancelled, data)"
        " VALUES (?,?,?,?,?,?,?,?,0,?)",
        (ev.id, "earthquake", iso_utc(ev.time), ev.lat, ev.lon, ev.revision, "x", "x", json.dumps(ev.to_json())),
    )
    raw.commit()
    raw.close()
    conn = connect(tmp_path / "w.db")
    assert conn.execute("SELECT agency, status FROM events").fetchone()[:] == ("bmkg", "actual")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    ledger = Ledger(conn)
    # The same quake under another endpoint's id, a second later: still found, and unchanged.
    again = replace(ev, id="bmkg-eq-other", time=ev.time + timedelta(seconds=1))
    change = observe(ledger, again)
    assert change.event.id == ev.id and ledger.count() == 1
