"""Operator notices and their way to the ops channels.

A notice is one occurrence of a condition (a feed stale, a target disabled, ...): raised when
the condition is first seen, cleared when it is gone. Both moments are queued for each ops
channel in the same transaction, so a restart neither repeats a notice nor loses its recovery.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from warnd.model import iso_utc
from warnd.store.backend import Database, Row


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    key: str
    kind: str
    subject: str
    severity: str
    message: str
    recovery: str
    raised_at: str
    cleared_at: str | None = None
    cleared_message: str | None = None


@dataclass(frozen=True, slots=True)
class OpsMessage:
    id: int
    channel: str
    body: dict[str, Any]
    attempts: int
    next_attempt_at: str | None


class Notices:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def active(self) -> dict[str, Notice]:
        rows = self.conn.execute("SELECT * FROM notices WHERE cleared_at IS NULL ORDER BY id").fetchall()
        return {r["key"]: _notice(r) for r in rows}

    def recent(self, limit: int) -> list[Notice]:
        rows = self.conn.execute("SELECT * FROM notices ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_notice(r) for r in rows]

    def raise_(self, n: Notice, now: datetime, channels: Sequence[str]) -> Notice:
        """Store `n` (its id and time are set here) and queue it for `channels`."""
        with self.conn.transaction():
            cur = self.conn.execute(
                "INSERT INTO notices (key, kind, subject, severity, message, recovery, raised_at)"
                " VALUES (?,?,?,?,?,?,?) RETURNING id",
                (n.key, n.kind, n.subject, n.severity, n.message, n.recovery, iso_utc(now)),
            )
            notice = replace(n, id=int(cur.fetchone()[0]), raised_at=iso_utc(now))
            self._queue(channels, _body(notice, "raised", n.message, now), now)
        return notice

    def update(self, notice: Notice, message: str) -> None:
        """A raised notice's current wording (a count that grew), shown by status; not re-sent."""
        self.conn.execute("UPDATE notices SET message = ? WHERE id = ?", (message, notice.id))

    def clear(self, notice: Notice, now: datetime, channels: Sequence[str]) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE notices SET cleared_at = ?, cleared_message = ? WHERE id = ?",
                (iso_utc(now), notice.recovery, notice.id),
            )
            self._queue(channels, _body(notice, "cleared", notice.recovery, now), now)

    def _queue(self, channels: Sequence[str], body: dict[str, Any], now: datetime) -> None:
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        self.conn.executemany(
            "INSERT INTO ops_outbox (channel, body, created_at) VALUES (?,?,?)",
            [(c, text, iso_utc(now)) for c in channels],
        )

    # --- the ops outbox -----------------------------------------------------------------------

    def waiting(self, channel: str, limit: int = 50) -> list[OpsMessage]:
        rows = self.conn.execute(
            "SELECT * FROM ops_outbox WHERE channel = ? AND done_at IS NULL ORDER BY id LIMIT ?", (channel, limit)
        ).fetchall()
        return [
            OpsMessage(int(r["id"]), r["channel"], json.loads(r["body"]), int(r["attempts"]), r["next_attempt_at"])
            for r in rows
        ]

    def channels_waiting(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT channel FROM ops_outbox WHERE done_at IS NULL")]

    def done(self, message_id: int, outcome: str, now: datetime, error: str | None = None) -> None:
        self.conn.execute(
            "UPDATE ops_outbox SET done_at = ?, outcome = ?, attempts = attempts + 1,"
            " last_error = coalesce(?, last_error) WHERE id = ?",
            (iso_utc(now), outcome, error, message_id),
        )

    def failed(self, message_id: int, error: str, next_at: datetime) -> None:
        self.conn.execute(
            "UPDATE ops_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (error, iso_utc(next_at), message_id),
        )


def _body(n: Notice, phase: str, message: str, now: datetime) -> dict[str, Any]:
    mark = "NOTICE" if phase == "raised" else "RECOVERED"
    return {
        "notice_id": n.id,
        "phase": phase,
        "kind": n.kind,
        "subject": n.subject,
        "severity": n.severity,
        "message": message,
        "since": n.raised_at,
        "at": iso_utc(now),
        # Chat webhooks (Mattermost, Slack, Rocket.Chat) show `text` as it is.
        "text": f"[warnd {mark}] {n.kind} {n.subject}: {message}",
    }


def _notice(r: Row) -> Notice:
    return Notice(
        int(r["id"]),
        r["key"],
        r["kind"],
        r["subject"],
        r["severity"],
        r["message"],
        r["recovery"],
        r["raised_at"],
        r["cleared_at"],
        r["cleared_message"],
    )
