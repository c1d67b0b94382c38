"""Per-target state the dispatcher must not forget across a restart: rate-limit holds, accounts
disabled after an authentication failure, and the request log behind the posting budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from warnd.model import iso_utc
from warnd.store.backend import Database


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True, slots=True)
class TargetState:
    target: str
    hold_until: datetime | None
    disabled_at: datetime | None
    reason: str | None
    detail: str | None


class Targets:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def get(self, target: str) -> TargetState:
        row = self.conn.execute("SELECT * FROM target_state WHERE target = ?", (target,)).fetchone()
        if row is None:
            return TargetState(target, None, None, None, None)
        return TargetState(target, _ts(row["hold_until"]), _ts(row["disabled_at"]), row["reason"], row["detail"])

    def all(self) -> list[TargetState]:
        rows = self.conn.execute("SELECT target FROM target_state ORDER BY target").fetchall()
        return [self.get(r[0]) for r in rows]

    def hold(self, target: str, until: datetime, reason: str, detail: str) -> None:
        """Hold until `until`, or later if a hold already runs longer."""
        current = self.get(target).hold_until
        if current is not None and current >= until:
            return
        self.conn.execute(
            "INSERT INTO target_state (target, hold_until, reason, detail) VALUES (?,?,?,?)"
            " ON CONFLICT (target) DO UPDATE SET hold_until = excluded.hold_until, reason = excluded.reason,"
            " detail = excluded.detail",
            (target, iso_utc(until), reason, detail),
        )

    def disable(self, target: str, now: datetime, reason: str, detail: str) -> None:
        self.conn.execute(
            "INSERT INTO target_state (target, disabled_at, reason, detail) VALUES (?,?,?,?)"
            " ON CONFLICT (target) DO UPDATE SET disabled_at = excluded.disabled_at, reason = excluded.reason,"
            " detail = excluded.detail",
            (target, iso_utc(now), reason, detail),
        )

    def forget(self, target: str) -> None:
        """A target no longer in use: its hold or disable goes (and the notice with it)."""
        self.conn.execute("DELETE FROM target_state WHERE target = ?", (target,))

    def enable(self, target: str) -> bool:
        cur = self.conn.execute("DELETE FROM target_state WHERE target = ?", (target,))
        return cur.rowcount > 0


class RateLog:
    """Requests made per budget bucket, kept as long as the longest window needs them."""

    KEEP = timedelta(days=1, hours=1)

    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def add(self, buckets: list[str], at: datetime, n: int = 1) -> None:
        self.conn.executemany(
            "INSERT INTO rate_log (bucket, at) VALUES (?, ?)", [(b, at.timestamp()) for b in buckets for _ in range(n)]
        )

    def give_back(self, buckets: list[str], at: datetime, n: int) -> None:
        """Forget `n` of the requests added at `at` in each bucket (requests counted before an
        attempt that never made them). Rows are told apart only by bucket and time, so those at
        `at` are written again, fewer by `n`."""
        stamp = at.timestamp()
        for bucket in buckets:
            row = self.conn.execute("SELECT count(*) FROM rate_log WHERE bucket = ? AND at = ?", (bucket, stamp))
            had = int(row.fetchone()[0])
            if had == 0:
                continue
            self.conn.execute("DELETE FROM rate_log WHERE bucket = ? AND at = ?", (bucket, stamp))
            if had > n:
                self.conn.executemany("INSERT INTO rate_log (bucket, at) VALUES (?, ?)", [(bucket, stamp)] * (had - n))

    def wait_until(self, bucket: str, limit: int, window: float, cost: int, now: datetime) -> datetime | None:
        """When `cost` more requests fit into the budget (None: now). A sliding window: the
        answer is when enough of the requests in it have aged out."""
        since = now.timestamp() - window
        used = int(
            self.conn.execute("SELECT count(*) FROM rate_log WHERE bucket = ? AND at > ?", (bucket, since)).fetchone()[
                0
            ]
        )
        over = used + cost - limit
        if over <= 0:
            return None
        # More than the whole budget at once can only go when the window is empty.
        over = min(over, used)
        if over == 0:
            return None
        row = self.conn.execute(
            "SELECT at FROM rate_log WHERE bucket = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
            (bucket, since, over - 1),
        ).fetchone()
        return datetime.fromtimestamp(float(row[0]) + window, UTC)

    def used(self, bucket: str, window: float, now: datetime) -> int:
        """Requests made in `bucket` within the last `window` seconds."""
        since = now.timestamp() - window
        row = self.conn.execute("SELECT count(*) FROM rate_log WHERE bucket = ? AND at > ?", (bucket, since)).fetchone()
        return int(row[0])

    def prune(self, now: datetime) -> None:
        self.conn.execute("DELETE FROM rate_log WHERE at < ?", ((now - self.KEEP).timestamp(),))
