"""Per-feed memory across restarts: conditional-GET validators, the last body's hash, health."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from warnd.model import iso_utc


@dataclass(frozen=True, slots=True)
class FeedState:
    feed: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_ok: str | None
    last_change: str | None
    last_error: str | None
    failures: int


class FeedStates:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, feed: str) -> FeedState:
        row = self.conn.execute("SELECT * FROM feed_state WHERE feed = ?", (feed,)).fetchone()
        if row is None:
            return FeedState(feed, None, None, None, None, None, None, 0)
        return FeedState(
            feed,
            row["etag"],
            row["last_modified"],
            row["body_hash"],
            row["last_ok"],
            row["last_change"],
            row["last_error"],
            int(row["failures"]),
        )

    def ok(
        self,
        feed: str,
        now: datetime,
        *,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        changed: bool,
    ) -> None:
        stamp = iso_utc(now)
        self.conn.execute(
            "INSERT INTO feed_state (feed, etag, last_modified, body_hash, last_ok, last_change, failures)"
            " VALUES (?,?,?,?,?,?,0) ON CONFLICT (feed) DO UPDATE SET etag = excluded.etag,"
            " last_modified = excluded.last_modified, body_hash = coalesce(excluded.body_hash, body_hash),"
            " last_ok = excluded.last_ok, failures = 0,"
            " last_change = CASE WHEN ? THEN excluded.last_ok ELSE coalesce(last_change, excluded.last_ok) END",
            (feed, etag, last_modified, body_hash, stamp, stamp if changed else None, int(changed)),
        )

    def failed(self, feed: str, now: datetime, error: str) -> int:
        self.conn.execute(
            "INSERT INTO feed_state (feed, last_error, last_error_at, failures) VALUES (?,?,?,1)"
            " ON CONFLICT (feed) DO UPDATE SET last_error = excluded.last_error,"
            " last_error_at = excluded.last_error_at, failures = failures + 1",
            (feed, error, iso_utc(now)),
        )
        return self.get(feed).failures
