"""The outbox: warnings committed before any post is tried, and their deliveries per target.

(warning, target) is unique, so enqueueing the same warning twice, also after a restart, adds
nothing. Each target is a lane worked in order (urgency, then age); a delivery moves
pending -> in_flight -> sent, or -> retry (and back to in_flight at its time), or -> dead.
An attempt is marked in_flight and committed before the request goes out, so after a crash the
outbox knows which outcomes are unknown and retries exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from warnd.model import (
    OPERATOR,
    Delivery,
    DeliveryState,
    HazardEvent,
    Target,
    TargetKind,
    Warning,
    event_json,
    iso_utc,
    urgency_rank,
)
from warnd.store.backend import Database, Row, placeholders
from warnd.store.issued import NOT_DROPPED, first_delivery

_OPEN = ("pending", "retry", "in_flight")
_QUEUED = ("pending", "retry")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A delivery with what it needs of its warning.
_SELECT = "SELECT d.*, w.data, w.event, w.cap, w.cap_pending FROM deliveries d JOIN warnings w ON w.id = d.warning_id"


@dataclass(frozen=True, slots=True)
class Anchor:
    """The first warning of an event on a target: what later posts reply to."""

    delivery_id: int
    state: DeliveryState
    remote_id: str | None


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Outbox:
    def __init__(self, conn: Database, node: str = "local", lease: float = 60.0) -> None:
        """`node` claims the attempts it makes for `lease` seconds, renewed while it lives
        (store.cluster.Cluster.renew)."""
        self.conn = conn
        self.node = node
        self.lease = lease

    # --- issuing (inside the ingest transaction) ------------------------------------------

    def enqueue(
        self,
        warning: Warning,
        targets: Iterable[str],
        now: datetime,
        *,
        event: HazardEvent | None = None,
        attribution: str | None = None,
        cap: str | None = "",
        map_alt: str | None = None,
    ) -> bool:
        """Add a warning and one pending delivery per target; False if it was already there.
        Call inside the ingest transaction. `event` is stored with the source's `attribution`
        beside its fields, as partners' webhooks carry it, and with the alt text of the
        warning's published map when it has one (a row without is as it always was). `cap`
        None: its CAP document follows (`fill_caps`)."""
        stored = event_json(event, attribution)
        if stored and map_alt:
            stored["map_alt"] = map_alt
        cur = self.conn.execute(
            "INSERT INTO warnings (id, event_id, revision, rule, account, kind, priority,"
            " created_at, data, event, cap, cap_pending) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (
                warning.id,
                warning.event_id,
                warning.revision,
                warning.rule,
                warning.account,
                warning.kind.value,
                warning.priority.value,
                iso_utc(now),
                json.dumps(warning.to_json()),
                json.dumps(stored),
                cap or "",
                int(cap is None),
            ),
        )
        if cur.rowcount == 0:
            return False
        rank = urgency_rank(warning, event.hazard.value if event else None)
        for target in targets:
            self.conn.execute(
                "INSERT INTO deliveries (warning_id, target, state, priority_rank,"
                " next_attempt_at, created_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (warning.id, target, DeliveryState.PENDING.value, rank, iso_utc(now), iso_utc(now)),
            )
        return True

    # --- CAP documents made after the commit (runtime.cap_fill) ----------------------------

    def fill_caps(self, caps: Sequence[tuple[str, str]]) -> int:
        """Store the CAP documents (warning id, document) of warnings committed without one, with
        one commit; how many were still waiting (another node may have made one first: the
        same document, made from the same rows)."""
        with self.conn.transaction():
            n = 0
            for warning_id, cap in caps:
                cur = self.conn.execute(
                    "UPDATE warnings SET cap = ?, cap_pending = 0 WHERE id = ? AND cap_pending = 1",
                    (cap, warning_id),
                )
                n += max(cur.rowcount, 0)
        return n

    def caps_pending(self, before: datetime, limit: int = 50) -> list[Row]:
        """Warnings committed by `before` whose CAP document is not there yet, oldest first:
        id, event_id, account, data and event, as stored."""
        return self.conn.execute(
            "SELECT id, event_id, account, data, event FROM warnings WHERE cap_pending = 1 AND created_at <= ?"
            " ORDER BY created_at, rowid LIMIT ?",
            (iso_utc(before), limit),
        ).fetchall()

    # --- working the lanes ----------------------------------------------------------------

    def lanes(self) -> list[str]:
        """Targets with something still to deliver: public accounts, then partners, then the rest."""
        rows = self.conn.execute("SELECT DISTINCT target FROM deliveries WHERE state IN (?,?,?)", _OPEN).fetchall()
        # The public accounts first, then the partners who relay to radio and TV, then the CAP
        # feed files: a lane started first takes the event loop first.
        rank: dict[TargetKind | None, int] = {TargetKind.ACCOUNT: 0, TargetKind.PARTNER: 1}
        return sorted((r[0] for r in rows), key=lambda t: (rank.get(Target(t).kind, 2), t))

    def head(self, target: str) -> Delivery | None:
        """The next delivery of a lane: most urgent first, then oldest. (runtime.maps.in_post_order
        draws a document's maps in this order, with the dispatcher's first-post rule.)"""
        row = self.conn.execute(
            # Literal states, so the partial index deliveries_queued answers it; deliveries are
            # inserted in issue order, so the id is the age.
            _SELECT + " WHERE d.target = ? AND d.state IN ('pending', 'retry') ORDER BY d.priority_rank, d.id LIMIT 1",
            (target,),
        ).fetchone()
        return _delivery(row) if row else None

    def following(self, target: str, after: Delivery, now: datetime, limit: int) -> list[Delivery]:
        """The deliveries of a lane that come right after `after` and are due now, in lane
        order: what a lane may take with it in one batch."""
        rows = self.conn.execute(
            _SELECT + " WHERE d.target = ? AND d.state IN ('pending', 'retry') AND d.id != ?"
            " ORDER BY d.priority_rank, d.id LIMIT ?",
            (target, after.id, limit),
        ).fetchall()
        out = []
        for row in rows:
            d = _delivery(row)
            if d.next_attempt_at > now:
                break  # order is kept: a delivery never overtakes one that waits
            out.append(d)
        return out

    def begin_many(self, ids: Sequence[int], now: datetime) -> set[int]:
        """Claim several queued deliveries for this node and mark them in flight, with one
        commit; the ids claimed. One that another node is claiming at this moment (its row
        locked) or has already taken (no longer queued) is left out, never waited for."""
        if not ids:
            return set()
        with self.conn.transaction():
            rows = self.conn.execute(
                f"SELECT d.id FROM deliveries d WHERE d.id IN ({placeholders(len(ids))})"
                f" AND d.state IN ('pending', 'retry'){self.conn.lock_rows}",
                list(ids),
            ).fetchall()
            got = [int(r[0]) for r in rows]
            self.conn.executemany(
                "UPDATE deliveries SET state = 'in_flight', updated_at = ?, claimed_by = ?,"
                f" claim_until = {self.conn.now_sql} + ? WHERE id = ?",
                [(iso_utc(now), self.node, self.lease, i) for i in got],
            )
        return set(got)

    def sent_many(self, done: Sequence[tuple[int, str | None, datetime, str | None]]) -> None:
        """Record several deliveries sent (id, remote id, when, reason) with one commit."""
        with self.conn.transaction():
            for delivery_id, remote_id, at, reason in done:
                self.mark_sent(delivery_id, remote_id, at, reason)

    def sent_late(self, done: Sequence[tuple[int, str | None, datetime, str | None]]) -> None:
        """Record posts whose recording failed: unless another node is attempting the delivery
        again or already has, they are sent (and need no repeat)."""
        with self.conn.transaction():
            for delivery_id, remote_id, at, reason in done:
                self.conn.execute(
                    "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?,"
                    " remote_id = ?, reason = ?, last_error = NULL WHERE id = ?"
                    " AND (state IN ('retry', 'pending') OR (state = 'in_flight' AND claimed_by = ?))",
                    (iso_utc(at), iso_utc(at), remote_id, reason, delivery_id, self.node),
                )

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries a batch marked in flight and did not attempt go back as they were."""
        with self.conn.transaction():
            self.conn.executemany(
                "UPDATE deliveries SET state = ?, claim_until = NULL WHERE id = ? AND state = 'in_flight'"
                " AND claimed_by = ?",
                [(d.state.value, d.id, self.node) for d in deliveries],
            )

    def get(self, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(
            _SELECT + " WHERE d.id = ?",
            (delivery_id,),
        ).fetchone()
        return _delivery(row) if row else None

    def anchor(self, event_id: str, account: str, target: str) -> Anchor | None:
        row = first_delivery(self.conn, event_id, account, target, NOT_DROPPED)
        if row is None:
            return None
        parts = json.loads(row["parts"] or "[]")
        known = next((p for p in parts if p), None)
        return Anchor(int(row["id"]), DeliveryState(row["state"]), row["remote_id"] or known)

    def begin(self, delivery_id: int, now: datetime) -> bool:
        return delivery_id in self.begin_many([delivery_id], now)

    def record_part(self, delivery_id: int, remote_id: str | None) -> None:
        """A thread part went out (None: X has it, its id unknown): remembered at once, so a
        crash resumes after it; no request is left unanswered."""
        row = self.conn.execute("SELECT parts FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        parts = [*json.loads(row["parts"] or "[]"), remote_id] if row else [remote_id]
        self.conn.execute(
            "UPDATE deliveries SET parts = ?, part_unanswered = NULL WHERE id = ?", (json.dumps(parts), delivery_id)
        )

    def record_unanswered(self, delivery_id: int, part: int) -> None:
        """A thread part's request got no answer: X may have it, and only that part's duplicate
        refusal is a delivery. (An attempt cut off by a crash is recorded so by `recover`.)"""
        self.conn.execute("UPDATE deliveries SET part_unanswered = ? WHERE id = ?", (part, delivery_id))

    def mark_sent(self, delivery_id: int, remote_id: str | None, now: datetime, reason: str | None = None) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?,"
            " remote_id = ?, reason = ?, last_error = NULL WHERE id = ?",
            (iso_utc(now), iso_utc(now), remote_id, reason, delivery_id),
        )

    def mark_retry(self, delivery_id: int, reason: str, error: str, next_at: datetime, now: datetime) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'retry', attempts = attempts + 1, reason = ?, last_error = ?,"
            " next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (reason, error, iso_utc(next_at), iso_utc(now), delivery_id),
        )

    def mark_dead(self, delivery_id: int, reason: str, error: str, now: datetime, *, attempted: bool) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'dead', attempts = attempts + ?, reason = ?, last_error = ?,"
            " updated_at = ? WHERE id = ?",
            (1 if attempted else 0, reason, error, iso_utc(now), delivery_id),
        )

    def recover(self, now: datetime, *, everyone: bool = False) -> list[Delivery]:
        """Attempts this node's previous process left in flight (a crash or kill): their outcome
        is unknown, so they are tried again (X's duplicate refusal and the partners'
        idempotency key make that safe). `everyone`: every node's (a single node store)."""
        mine = "" if everyone else " AND (d.claimed_by = ? OR d.claimed_by IS NULL)"
        return self._requeue(mine, [] if everyone else [self.node], now, "warnd stopped during the attempt")

    def recover_expired(self, now: datetime) -> list[Delivery]:
        """Attempts whose node stopped renewing its claim (killed, cut off from the database):
        back to the queue for any node."""
        return self._requeue(
            f" AND d.claim_until < {self.conn.now_sql}", [], now, "its node stopped during the attempt"
        )

    def _requeue(self, where: str, args: list[Any], now: datetime, why: str) -> list[Delivery]:
        with self.conn.transaction():
            rows = self.conn.execute(
                _SELECT + f" WHERE d.state = 'in_flight'{where}{self.conn.lock_rows}",
                args,
            ).fetchall()
            # The part after the last one recorded may have gone out unanswered (an attempt's
            # parts go in order, each recorded as X answers it).
            self.conn.executemany(
                "UPDATE deliveries SET state = 'retry', reason = 'network', next_attempt_at = ?, updated_at = ?,"
                " claim_until = NULL, last_error = ?, part_unanswered = ? WHERE id = ? AND state = 'in_flight'",
                [
                    (
                        iso_utc(now),
                        iso_utc(now),
                        f"outcome unknown: {why}",
                        len(json.loads(r["parts"] or "[]")) + 1,
                        int(r["id"]),
                    )
                    for r in rows
                ],
            )
        return [_delivery(r) for r in rows]

    def overdue(self, now: datetime, give_up_after: float, targets: Sequence[str] | None = None) -> list[Delivery]:
        """Queued deliveries older than the give-up time (optionally of some targets only)."""
        cutoff = iso_utc(now - timedelta(seconds=give_up_after))
        sql = _SELECT + " WHERE d.state IN (?,?) AND d.created_at < ?"
        args: list[Any] = [*_QUEUED, cutoff]
        if targets is not None:
            sql += f" AND d.target IN ({placeholders(len(targets))})"
            args += list(targets) or [None]
        return [_delivery(r) for r in self.conn.execute(sql, args).fetchall()]

    # --- operators ------------------------------------------------------------------------

    def listing(
        self, states: Sequence[str] | None = None, target: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        sql = _SELECT + " WHERE 1 = 1"
        args: list[Any] = []
        if states:
            sql += f" AND d.state IN ({placeholders(len(states))})"
            args += list(states)
        if target:
            sql += " AND d.target = ?"
            args.append(target)
        sql += " ORDER BY d.id DESC LIMIT ?"
        args.append(limit)
        return [_delivery(r) for r in self.conn.execute(sql, args).fetchall()]

    def retry_early(self, targets: Sequence[str], reasons: Sequence[str], since: datetime, now: datetime) -> list[str]:
        """Deliveries of these lanes waiting out a backoff after a failure for one of `reasons`
        at or after `since`, due now instead: their platform answers again. The lanes moved."""
        if not targets or not reasons:
            return []
        rows = self.conn.execute(
            "SELECT id, target, updated_at FROM deliveries WHERE state = 'retry'"
            f" AND target IN ({placeholders(len(targets))}) AND reason IN ({placeholders(len(reasons))})",
            (*targets, *reasons),
        ).fetchall()
        # Compared as times: stored ISO strings drop a zero fraction and would sort wrong.
        due = [(int(r[0]), str(r[1])) for r in rows if (at := _ts(r[2])) is not None and at >= since]
        if not due:
            return []
        self.conn.execute(
            f"UPDATE deliveries SET next_attempt_at = ? WHERE state = 'retry' AND id IN ({placeholders(len(due))})",
            (iso_utc(now), *(i for i, _ in due)),
        )
        return sorted({t for _, t in due})

    def retry_now(self, ids: Sequence[int], now: datetime) -> int:
        """Put dead (or waiting) deliveries back at the head of their lanes. Sent ones are left
        alone: re-sending those is a new warning, not a retry."""
        if not ids:
            return 0
        cur = self.conn.execute(
            "UPDATE deliveries SET state = 'retry', next_attempt_at = ?, created_at = ?, updated_at = ?"
            f" WHERE id IN ({placeholders(len(ids))}) AND state IN ('dead', 'retry', 'pending')",
            (iso_utc(now), iso_utc(now), iso_utc(now), *ids),
        )
        return cur.rowcount

    def drop(self, ids: Sequence[int], why: str, now: datetime, *, dead_only: bool = False) -> int:
        """Gives up on the deliveries that wait or are dead; how many. `dead_only`: only the dead
        (a life-safety warning's), decided by this one statement, so that a retry by another
        node or the CLI between the caller's look and this UPDATE cannot drop a live one."""
        if not ids:
            return 0
        states = "('dead')" if dead_only else "('pending', 'retry', 'dead')"
        cur = self.conn.execute(
            "UPDATE deliveries SET state = 'dropped', reason = ?, last_error = ?, updated_at = ?"
            f" WHERE id IN ({placeholders(len(ids))}) AND state IN {states}",
            (OPERATOR, why, iso_utc(now), *ids),
        )
        return cur.rowcount

    def move(self, source: str, to: str) -> tuple[int, int]:
        """Every delivery of `source` (sent ones too, so that a correction still finds the first
        post it answers and a tsunami warning still inhibits its quake) now belongs to `to`: an
        account renamed its target (one channel became one of several). Returns (moved, left):
        a warning `to` already has stays where it was, and so does one in flight."""
        cur = self.conn.execute(
            "UPDATE deliveries SET target = ? WHERE target = ? AND state != 'in_flight' AND NOT EXISTS"
            " (SELECT 1 FROM deliveries other WHERE other.warning_id = deliveries.warning_id AND other.target = ?)",
            (to, source, to),
        )
        moved = cur.rowcount
        left = self.conn.execute("SELECT count(*) FROM deliveries WHERE target = ?", (source,)).fetchone()[0]
        return moved, int(left)

    def ids(self, states: Sequence[str], target: str | None = None) -> list[int]:
        sql = f"SELECT id FROM deliveries WHERE state IN ({placeholders(len(states))})"
        args: list[Any] = list(states) or [None]
        if target:
            sql += " AND target = ?"
            args.append(target)
        return [int(r[0]) for r in self.conn.execute(sql, args).fetchall()]

    def per_target(self) -> dict[str, TargetQueue]:
        """What waits and what is dead, per target (health, metrics, status)."""
        out: dict[str, TargetQueue] = {}
        rows = self.conn.execute(
            "SELECT target, sum(CASE WHEN state != 'dead' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN state = 'dead' THEN 1 ELSE 0 END),"
            " min(CASE WHEN state != 'dead' THEN created_at END)"
            " FROM deliveries WHERE state IN ('pending', 'retry', 'in_flight', 'dead') GROUP BY target"
        )
        for r in rows:
            out[r[0]] = TargetQueue(r[0], int(r[1]), int(r[2]), _ts(r[3]))
        return out

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in DeliveryState}
        for row in self.conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state"):
            out[row[0]] = int(row[1])
        return out


@dataclass(frozen=True, slots=True)
class TargetQueue:
    target: str
    waiting: int
    dead: int
    oldest_waiting: datetime | None


def _delivery(row: Row) -> Delivery:
    event = json.loads(row["event"] or "{}")
    return Delivery(
        id=int(row["id"]),
        warning=Warning.from_text(row["data"]),
        target=row["target"],
        state=DeliveryState(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=_ts(row["next_attempt_at"]) or _EPOCH,
        created_at=_ts(row["created_at"]) or _EPOCH,
        last_error=row["last_error"],
        reason=row["reason"],
        remote_id=row["remote_id"],
        parts=tuple(json.loads(row["parts"] or "[]")),
        unanswered=row["part_unanswered"],
        event=HazardEvent.from_json(event) if event else None,
        attribution=event.get("attribution"),
        cap=row["cap"] or "",
        cap_pending=bool(row["cap_pending"]),
        map_alt=event.get("map_alt"),
    )
