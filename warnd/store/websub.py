"""WebSub subscriptions in the state database, and what their pushes' deliveries say of them.

Every node reads the same rows: a subscription verified on one node is pushed to by whichever
node delivers, and a lease renewed on one is renewed for all. Each state change is one update
conditional on the state it leaves, so two nodes expiring or pausing the same subscription at
once change it once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from warnd.model import Subscription, SubscriptionState, Target, iso_utc
from warnd.store.backend import Database, Row


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _subscription(row: Row) -> Subscription:
    created = _ts(row["created_at"])
    verified = _ts(row["verified_at"])
    expires = _ts(row["expires_at"])
    assert created is not None and verified is not None and expires is not None
    return Subscription(
        id=row["id"],
        account=row["account"],
        topic=row["topic"],
        callback=row["callback"],
        lease_seconds=int(row["lease_seconds"]),
        state=SubscriptionState(row["state"]),
        created_at=created,
        verified_at=verified,
        expires_at=expires,
        secret=row["secret"],
        paused_at=_ts(row["paused_at"]),
        paused_reason=row["paused_reason"],
        resumed_at=_ts(row["resumed_at"]),
    )


@dataclass(frozen=True, slots=True)
class PushRecord:
    """How a subscription's pushes have gone: how many of the latest ended dead in a row, and
    since when the oldest push still being retried has waited (None: none is)."""

    dead_in_row: int
    failing_since: datetime | None


class Subscriptions:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def verified(
        self, sub_id: str, account: str, topic: str, callback: str, secret: str | None, lease: int, now: datetime
    ) -> Subscription:
        """A subscription whose intent was verified: new, or renewed (a new lease and secret).
        A paused subscription stays paused: its pushes failed, whatever its verification says."""
        expires = iso_utc(now + timedelta(seconds=lease))
        self.conn.execute(
            "INSERT INTO websub_subscriptions (id, account, topic, callback, secret, lease_seconds, state,"
            " created_at, verified_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, lease_seconds = excluded.lease_seconds,"
            " verified_at = excluded.verified_at, expires_at = excluded.expires_at,"
            " state = CASE WHEN websub_subscriptions.state = 'paused' THEN 'paused' ELSE 'active' END,"
            " created_at = CASE WHEN websub_subscriptions.state IN ('active', 'paused')"
            " THEN websub_subscriptions.created_at ELSE excluded.created_at END",
            (
                sub_id,
                account,
                topic,
                callback,
                secret,
                lease,
                SubscriptionState.ACTIVE.value,
                iso_utc(now),
                iso_utc(now),
                expires,
            ),
        )
        found = self.get(sub_id)
        assert found is not None
        return found

    def get(self, sub_id: str) -> Subscription | None:
        row = self.conn.execute("SELECT * FROM websub_subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return _subscription(row) if row else None

    def listing(self, states: Sequence[SubscriptionState] = ()) -> list[Subscription]:
        """Every subscription (or those in `states`), by account, then oldest first."""
        sql = "SELECT * FROM websub_subscriptions"
        args: tuple[str, ...] = ()
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = tuple(s.value for s in states)
        rows = self.conn.execute(sql + " ORDER BY account, created_at, id", args).fetchall()
        return [_subscription(r) for r in rows]

    def held(self) -> int:
        """Subscriptions the hub holds (active or paused), against websub.max_subscriptions."""
        row = self.conn.execute(
            "SELECT count(*) FROM websub_subscriptions WHERE state IN ('active', 'paused')"
        ).fetchone()
        return int(row[0])

    def active_by_account(self, now: datetime) -> dict[str, tuple[str, ...]]:
        """The ids of the subscriptions that get each account's next warning: active and within
        their lease."""
        rows = self.conn.execute(
            "SELECT account, id FROM websub_subscriptions WHERE state = 'active' AND expires_at > ?"
            " ORDER BY account, id",
            (iso_utc(now),),
        ).fetchall()
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(r[1])
        return {k: tuple(v) for k, v in out.items()}

    def expire(self, now: datetime) -> list[Subscription]:
        """The active subscriptions whose lease ran out, marked expired (each once, whichever
        node gets there first)."""
        rows = self.conn.execute(
            "SELECT * FROM websub_subscriptions WHERE state = 'active' AND expires_at <= ?", (iso_utc(now),)
        ).fetchall()
        out = []
        for r in rows:
            cur = self.conn.execute(
                "UPDATE websub_subscriptions SET state = 'expired', secret = NULL WHERE id = ? AND state = 'active'",
                (r["id"],),
            )
            if cur.rowcount:
                out.append(_subscription(r))
        return out

    def remove(self, sub_id: str) -> bool:
        """Unsubscribed or removed: True when it was held (active, paused or expired)."""
        cur = self.conn.execute(
            "UPDATE websub_subscriptions SET state = 'removed', secret = NULL WHERE id = ? AND state != 'removed'",
            (sub_id,),
        )
        return cur.rowcount > 0

    def pause(self, sub_id: str, now: datetime, why: str) -> bool:
        cur = self.conn.execute(
            "UPDATE websub_subscriptions SET state = 'paused', paused_at = ?, paused_reason = ?"
            " WHERE id = ? AND state = 'active'",
            (iso_utc(now), why, sub_id),
        )
        return cur.rowcount > 0

    def resume(self, sub_id: str, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE websub_subscriptions SET state = 'active', paused_at = NULL, paused_reason = NULL,"
            " resumed_at = ? WHERE id = ? AND state = 'paused'",
            (iso_utc(now), sub_id),
        )
        return cur.rowcount > 0

    def failing(self) -> set[str]:
        """The ids of the subscriptions with a push that failed (dead, or waiting for a retry):
        the only ones worth a closer look for a pause."""
        rows = self.conn.execute(
            "SELECT DISTINCT target FROM deliveries WHERE target LIKE 'websub:%'"
            " AND (state = 'dead' OR (state = 'retry' AND attempts > 0))"
        ).fetchall()
        return {Target(r[0]).name for r in rows}

    def pushes(self, sub: Subscription, window: int) -> PushRecord:
        """How the subscription's pushes went since they count (Subscription.counted_from): of
        its latest `window` finished pushes (sent or dead, newest first), how many in a row
        ended dead; and since when its oldest push being retried has waited."""
        target = Target.websub(sub.id)
        since = iso_utc(sub.counted_from)
        rows = self.conn.execute(
            "SELECT state FROM deliveries WHERE target = ? AND state IN ('sent', 'dead')"
            " AND COALESCE(updated_at, created_at) > ?"
            " ORDER BY COALESCE(updated_at, sent_at, created_at) DESC, id DESC LIMIT ?",
            (target, since, window),
        ).fetchall()
        dead = 0
        for r in rows:
            if r[0] != "dead":
                break
            dead += 1
        row = self.conn.execute(
            "SELECT min(created_at) FROM deliveries WHERE target = ? AND state = 'retry' AND attempts > 0",
            (target,),
        ).fetchone()
        oldest = _ts(row[0]) if row else None
        return PushRecord(dead, max(oldest, sub.counted_from) if oldest is not None else None)

    def drop_queued(self, sub_id: str, why: str, now: datetime) -> int:
        """The subscription's pushes not yet made, given up (it ended: unsubscribed, expired,
        removed); how many."""
        cur = self.conn.execute(
            "UPDATE deliveries SET state = 'dropped', reason = 'websub', last_error = ?, updated_at = ?"
            " WHERE target = ? AND state IN ('pending', 'retry')",
            (why, iso_utc(now), Target.websub(sub_id)),
        )
        return cur.rowcount
