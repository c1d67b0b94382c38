"""The outbox: warnings committed before any post is tried, and their deliveries per target.

(warning, target) is unique, so enqueueing the same warning twice, also after a restart, adds
nothing. Deliveries go out in priority order: life safety first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from warnd.model import Delivery, DeliveryState, Warning, iso_utc


class Outbox:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def enqueue(self, warning: Warning, targets: Iterable[str], now: datetime) -> bool:
        """Add a warning and one pending delivery per target; False if it was already there.
        Call inside the ingest transaction."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO warnings (id, event_id, revision, rule, account, kind, priority,"
            " created_at, data) VALUES (?,?,?,?,?,?,?,?,?)",
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
            ),
        )
        if cur.rowcount == 0:
            return False
        for target in targets:
            self.conn.execute(
                "INSERT OR IGNORE INTO deliveries (warning_id, target, state, priority_rank,"
                " next_attempt_at) VALUES (?,?,?,?,?)",
                (warning.id, target, DeliveryState.PENDING.value, warning.priority.rank, iso_utc(now)),
            )
        return True

    def has_warning(self, warning_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM warnings WHERE id = ?", (warning_id,)).fetchone() is not None

    def first_warning(self, event_id: str, account: str) -> Warning | None:
        """The earliest warning an account has had about an event (the post a correction
        refers to)."""
        row = self.conn.execute(
            "SELECT data FROM warnings WHERE event_id = ? AND account = ? ORDER BY created_at, rowid LIMIT 1",
            (event_id, account),
        ).fetchone()
        return Warning.from_json(json.loads(row["data"])) if row else None

    def warnings(self, event_id: str, account: str) -> list[Warning]:
        rows = self.conn.execute(
            "SELECT data FROM warnings WHERE event_id = ? AND account = ? ORDER BY created_at, rowid",
            (event_id, account),
        ).fetchall()
        return [Warning.from_json(json.loads(r["data"])) for r in rows]

    def last_from_rule(self, rule: str, account: str) -> Warning | None:
        row = self.conn.execute(
            "SELECT data FROM warnings WHERE rule = ? AND account = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (rule, account),
        ).fetchone()
        return Warning.from_json(json.loads(row["data"])) if row else None

    def due(self, now: datetime, limit: int = 50) -> list[Delivery]:
        rows = self.conn.execute(
            "SELECT d.*, w.data FROM deliveries d JOIN warnings w ON w.id = d.warning_id"
            " WHERE d.state = 'pending' AND d.next_attempt_at <= ?"
            " ORDER BY d.priority_rank, d.next_attempt_at, d.id LIMIT ?",
            (iso_utc(now), limit),
        ).fetchall()
        return [_delivery(r) for r in rows]

    def next_due_at(self) -> datetime | None:
        row = self.conn.execute("SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'").fetchone()
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")) if row and row[0] else None

    def mark_sent(self, delivery_id: int, remote_id: str | None, now: datetime) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, remote_id = ?,"
            " last_error = NULL WHERE id = ?",
            (iso_utc(now), remote_id, delivery_id),
        )

    def mark_retry(self, delivery_id: int, error: str, next_at: datetime) -> None:
        self.conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (error, iso_utc(next_at), delivery_id),
        )

    def mark_dead(self, delivery_id: int, error: str) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, delivery_id),
        )

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in DeliveryState}
        for row in self.conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state"):
            out[row[0]] = int(row[1])
        return out


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        warning=Warning.from_json(json.loads(row["data"])),
        target=row["target"],
        state=DeliveryState(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00")),
        last_error=row["last_error"],
    )
