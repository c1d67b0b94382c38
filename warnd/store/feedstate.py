"""Per-feed memory across restarts: conditional-GET validators, the last body's hash, health
(failures and the backoff they earn, staleness notices), and the linked documents already
followed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from warnd.model import iso_utc
from warnd.store.backend import Database, Row


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
    last_error_at: str | None = None
    next_poll_at: str | None = None
    stale_since: str | None = None
    notice: str | None = None
    # The first failed poll since the last good one; None while the feed answers.
    failing_since: str | None = None


class FeedStates:
    def __init__(self, conn: Database, answered: Mapping[str, datetime] | None = None) -> None:
        """`answered`: the polling daemon's own record of each feed's latest good answer, newer
        than the store's when an unchanged answer was not written (see `Poller`); read states
        show the newer of the two."""
        self.conn = conn
        self.answered = answered

    def get(self, feed: str) -> FeedState:
        row = self.conn.execute("SELECT * FROM feed_state WHERE feed = ?", (feed,)).fetchone()
        return self._fresh(FeedState(feed, None, None, None, None, None, None, 0) if row is None else _state(row))

    def all(self) -> list[FeedState]:
        return [self._fresh(_state(r)) for r in self.conn.execute("SELECT * FROM feed_state ORDER BY feed")]

    def _fresh(self, state: FeedState) -> FeedState:
        seen = self.answered.get(state.feed) if self.answered else None
        if seen is None:
            return state
        stamp = iso_utc(seen)
        if state.last_ok is not None and _when(state.last_ok) >= seen:
            return state
        return replace(state, last_ok=stamp)

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
            " last_modified = excluded.last_modified, body_hash = coalesce(excluded.body_hash, feed_state.body_hash),"
            " last_ok = excluded.last_ok, failures = 0, next_poll_at = NULL, failing_since = NULL,"
            " last_change = CASE WHEN ? = 1 THEN excluded.last_ok"
            " ELSE coalesce(feed_state.last_change, excluded.last_ok) END",
            (feed, etag, last_modified, body_hash, stamp, stamp if changed else None, int(changed)),
        )

    def forget_body(self, feed: str) -> None:
        """Make the next poll fetch and parse the document again (a linked document failed)."""
        self.conn.execute(
            "UPDATE feed_state SET body_hash = NULL, etag = NULL, last_modified = NULL WHERE feed = ?", (feed,)
        )

    def failed(self, feed: str, now: datetime, error: str) -> int:
        self.conn.execute(
            "INSERT INTO feed_state (feed, last_error, last_error_at, failures, failing_since) VALUES (?,?,?,1,?)"
            " ON CONFLICT (feed) DO UPDATE SET last_error = excluded.last_error,"
            " last_error_at = excluded.last_error_at, failures = feed_state.failures + 1,"
            " failing_since = coalesce(feed_state.failing_since, excluded.failing_since)",
            (feed, error, iso_utc(now), iso_utc(now)),
        )
        return self.get(feed).failures

    def back_off(self, feed: str, until: datetime) -> None:
        self.conn.execute("UPDATE feed_state SET next_poll_at = ? WHERE feed = ?", (iso_utc(until), feed))

    def set_stale(self, feed: str, since: datetime | None, notice: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO feed_state (feed, stale_since, notice) VALUES (?, ?, ?)"
            " ON CONFLICT (feed) DO UPDATE SET stale_since = excluded.stale_since, notice = excluded.notice",
            (feed, iso_utc(since) if since else None, notice if since else None),
        )

    def followed(self, feed: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT url FROM followed_links WHERE feed = ?", (feed,))}

    def follow(self, feed: str, url: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO followed_links (feed, url, fetched_at) VALUES (?,?,?)"
            " ON CONFLICT (feed, url) DO UPDATE SET fetched_at = excluded.fetched_at",
            (feed, url, iso_utc(now)),
        )

    def keep_links(self, feed: str, current: set[str]) -> None:
        """Forget links the index no longer lists, so the table stays the size of the index."""
        for url in self.followed(feed) - current:
            self.conn.execute("DELETE FROM followed_links WHERE feed = ? AND url = ?", (feed, url))


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _state(row: Row) -> FeedState:
    return FeedState(
        row["feed"],
        row["etag"],
        row["last_modified"],
        row["body_hash"],
        row["last_ok"],
        row["last_change"],
        row["last_error"],
        int(row["failures"]),
        row["last_error_at"],
        row["next_poll_at"],
        row["stale_since"],
        row["notice"],
        row["failing_since"],
    )
