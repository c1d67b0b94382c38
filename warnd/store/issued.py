"""What the outbox holds of the warnings issued, read: an account's warnings about an event, who
was given them, the operator's history, and the alerts each CAP feed published. The delivery
queue itself is store.outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warnd.model import DeliveryState, Warning
from warnd.store.backend import Database, Row, placeholders

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A delivery in any state but dropped: an operator's drop takes it back as if never queued.
NOT_DROPPED = tuple(s.value for s in DeliveryState if s is not DeliveryState.DROPPED)
_RECEIVED = (
    DeliveryState.PENDING.value,
    DeliveryState.RETRY.value,
    DeliveryState.IN_FLIGHT.value,
    DeliveryState.SENT.value,
)


def first_delivery(conn: Database, event_id: str, account: str, target: str, states: Sequence[str]) -> Row | None:
    """The earliest delivery to `target` (id, state, remote_id, parts) of an account's warnings
    about an event, among those in `states`."""
    row: Row | None = conn.execute(
        "SELECT d.id, d.state, d.remote_id, d.parts FROM deliveries d JOIN warnings w ON w.id = d.warning_id"
        f" WHERE w.event_id = ? AND w.account = ? AND d.target = ? AND d.state IN ({placeholders(len(states))})"
        " ORDER BY w.created_at, w.rowid LIMIT 1",
        (event_id, account, target, *states),
    ).fetchone()
    return row


@dataclass(frozen=True, slots=True)
class Published:
    """An alert in an account's CAP feed: its document name (the feed delivery's remote id),
    its CAP 1.2 text and when it was published."""

    name: str
    cap: str
    sent_at: datetime


class IssuedWarnings:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def issued(self, warning_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM warnings WHERE id = ?", (warning_id,)).fetchone()
        return row is not None

    def first_warning(self, event_id: str, account: str) -> Warning | None:
        """The earliest warning an account has had about an event (the post a correction
        refers to)."""
        row = self.conn.execute(
            "SELECT data FROM warnings WHERE event_id = ? AND account = ? ORDER BY created_at, rowid LIMIT 1",
            (event_id, account),
        ).fetchone()
        return Warning.from_text(row["data"]) if row else None

    def warnings(self, event_id: str, account: str) -> list[Warning]:
        rows = self.conn.execute(
            "SELECT data FROM warnings WHERE event_id = ? AND account = ? ORDER BY created_at, rowid",
            (event_id, account),
        ).fetchall()
        return [Warning.from_text(r["data"]) for r in rows]

    def last_from_rule(self, rule: str, account: str) -> Warning | None:
        row = self.conn.execute(
            "SELECT data FROM warnings WHERE rule = ? AND account = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (rule, account),
        ).fetchone()
        return Warning.from_text(row["data"]) if row else None

    def targeted(self, event_id: str, account: str, target: str) -> bool:
        """Whether `target` was already given a warning of this account about this event (a
        partner that got the alert gets its update and cancel, whatever its filters say)."""
        return first_delivery(self.conn, event_id, account, target, NOT_DROPPED) is not None

    def received(self, event_id: str, account: str, target: str) -> bool:
        """Whether an account has a warning about an event queued or sent on `target`: one
        dead-lettered or dropped by an operator never reached its readers."""
        return first_delivery(self.conn, event_id, account, target, _RECEIVED) is not None

    def history(self, event_id: str | None, account: str | None, limit: int) -> list[dict[str, Any]]:
        """Warnings issued, newest first, each with where it went and how that ended."""
        sql = "SELECT id, data FROM warnings WHERE 1 = 1"
        args: list[Any] = []
        if event_id:
            sql += " AND event_id = ?"
            args.append(event_id)
        if account:
            sql += " AND account = ?"
            args.append(account)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        args.append(limit)
        out = []
        for row in self.conn.execute(sql, args).fetchall():
            w = json.loads(row["data"])
            w["deliveries"] = [
                _delivery(d)
                for d in self.conn.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE warning_id = ? ORDER BY id", (row["id"],)
                ).fetchall()
            ]
            out.append(w)
        return out

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest warnings with every delivery of each (the operator console), in two
        statements whatever the limit; each warning's JSON with `hazard` (from the event it is
        about), `event` (that event's JSON as stored with it) and `deliveries`."""
        rows = self.conn.execute(
            "SELECT id, data, event FROM warnings ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        deliveries: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for d in self.conn.execute(
            f"SELECT warning_id, {_DELIVERY_COLUMNS}"
            f" FROM deliveries WHERE warning_id IN ({placeholders(len(ids))}) ORDER BY id",
            ids,
        ).fetchall():
            deliveries[d["warning_id"]].append(_delivery(d))
        out = []
        for row in rows:
            w = json.loads(row["data"])
            w["event"] = json.loads(row["event"] or "{}")
            w["hazard"] = w["event"].get("hazard")
            w["deliveries"] = deliveries[row["id"]]
            out.append(w)
        return out

    # --- the CAP feeds (every node serves them from here) -----------------------------------

    def published(self, target: str, limit: int) -> list[Published]:
        """The newest alerts a feed target has published, newest first."""
        rows = self.conn.execute(
            "SELECT d.remote_id, d.sent_at, w.cap FROM deliveries d JOIN warnings w ON w.id = d.warning_id"
            " WHERE d.target = ? AND d.state = 'sent' AND d.remote_id IS NOT NULL"
            " ORDER BY d.remote_id DESC LIMIT ?",
            (target, limit),
        ).fetchall()
        return [_published(r) for r in rows]

    def published_alert(self, target: str, name: str) -> Published | None:
        row = self.conn.execute(
            "SELECT d.remote_id, d.sent_at, w.cap FROM deliveries d JOIN warnings w ON w.id = d.warning_id"
            " WHERE d.target = ? AND d.state = 'sent' AND d.remote_id = ?",
            (target, name),
        ).fetchone()
        return _published(row) if row else None


def _published(row: Row) -> Published:
    sent = _ts(row["sent_at"])
    return Published(row["remote_id"], row["cap"], sent or _EPOCH)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


_DELIVERY_COLUMNS = "id, target, state, attempts, reason, last_error, remote_id, next_attempt_at, sent_at"


def _delivery(d: Any) -> dict[str, Any]:
    """One delivery as the history and the console show it."""
    return {
        "id": int(d["id"]),
        "target": d["target"],
        "state": d["state"],
        "attempts": int(d["attempts"]),
        "reason": d["reason"],
        "last_error": d["last_error"],
        "remote_id": d["remote_id"],
        "next_attempt_at": d["next_attempt_at"],
        "sent_at": d["sent_at"],
    }
