"""Partners' webhook subscriptions, kept in the state database so that every node of a cluster
delivers to the same partners and a restart keeps them.

A subscription is asked over HTTP (runtime.subscribe) and stored `pending` once its URL answered
the challenge; an operator makes it `active` (approve) or `revoked`; the daemon makes an active
one `paused` when its deliveries keep failing, and an operator makes it active again (resume).
Every change is one conditional UPDATE, so two nodes or an operator racing the daemon never
both win. The signing secret is read only by `secret()`; every other reading leaves it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warnd.config.schema import SUBSCRIBER_PREFIX
from warnd.model import iso_utc
from warnd.store.backend import Database, Row

PENDING = "pending"
ACTIVE = "active"
PAUSED = "paused"
REVOKED = "revoked"
STATES = (PENDING, ACTIVE, PAUSED, REVOKED)
# Why add_pending did not add.
TAKEN = "taken"
FULL = "full"
# Who revoked a request no operator decided in time (subscriptions.pending_expire_after).
EXPIRED_BY = "warnd: expired unapproved"
# A subscription's partner name is this prefix and its own name: never a partner of the YAML
# (the configuration refuses a partner so named).
PREFIX = SUBSCRIBER_PREFIX

_COLUMNS = (
    "id, name, contact, url, accounts, hazards, min_level, format, state, requested_at, requested_from,"
    " decided_at, decided_by, paused_at, paused_reason, updated_at"
)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as status, the CLI and the console see it: without its secret."""

    id: str
    name: str
    contact: str
    url: str
    accounts: tuple[str, ...]
    hazards: tuple[str, ...] | None
    min_level: str | None
    format: str
    state: str
    requested_at: str
    requested_from: str
    decided_at: str | None = None
    decided_by: str | None = None
    paused_at: str | None = None
    paused_reason: str | None = None
    updated_at: str = ""

    @property
    def partner(self) -> str:
        return PREFIX + self.name

    @property
    def target(self) -> str:
        return "partner:" + self.partner

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "partner": self.partner,
            "contact": self.contact,
            "url": self.url,
            "accounts": list(self.accounts),
            "hazards": list(self.hazards) if self.hazards is not None else None,
            "min_level": self.min_level,
            "format": self.format,
            "state": self.state,
            "requested_at": self.requested_at,
            "requested_from": self.requested_from,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
            "paused_at": self.paused_at,
            "paused_reason": self.paused_reason,
        }


@dataclass(frozen=True, slots=True)
class Failing:
    """How a subscriber's deliveries are going: dead ones since its last delivered warning, and
    since when its oldest waiting warning has been failing (None: nothing is failing now)."""

    dead_in_a_row: int
    failing_since: datetime | None


class Subscriptions:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def add(self, s: Subscription, secret: str) -> bool:
        """A new subscription. False when a subscription of that name that is not revoked
        exists already (left as it is)."""
        return self._insert(s, secret, None)

    def add_pending(self, s: Subscription, secret: str, max_pending: int) -> str | None:
        """A new pending subscription, only while fewer than `max_pending` wait: None when added,
        TAKEN or FULL. The count and the insert are one statement: on one node (one store thread)
        the cap holds exactly; nodes of a cluster inserting at the same moment on PostgreSQL may
        each see the last free place, so it may be passed by the requests in hand on the other
        nodes (each node handles `subscriptions.concurrent` at once)."""
        if self._insert(s, secret, max_pending):
            return None
        live = self.conn.execute(
            "SELECT count(*) FROM subscriptions WHERE name = ? AND state <> ?", (s.name, REVOKED)
        ).fetchone()[0]
        return TAKEN if live else FULL

    def expire_pending(self, before: datetime, now: datetime) -> list[str]:
        """Revoke the requests pending since before `before` (no operator decided them): the ids."""
        rows = self.conn.execute(
            "SELECT id FROM subscriptions WHERE state = ? AND requested_at < ? ORDER BY id", (PENDING, iso_utc(before))
        ).fetchall()
        gone = []
        for r in rows:
            cur = self.conn.execute(
                "UPDATE subscriptions SET state = ?, secret = NULL, decided_at = ?, decided_by = ?, updated_at = ?"
                " WHERE id = ? AND state = ?",
                (REVOKED, iso_utc(now), EXPIRED_BY, iso_utc(now), r["id"], PENDING),
            )
            if cur.rowcount > 0:
                gone.append(str(r["id"]))
        return gone

    def _insert(self, s: Subscription, secret: str, max_pending: int | None) -> bool:
        # The WHERE makes the count and the insert one statement (and keeps SQLite from reading
        # ON CONFLICT as part of the SELECT).
        cur = self.conn.execute(
            f"INSERT INTO subscriptions ({_COLUMNS}, secret) SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"
            " WHERE (SELECT count(*) FROM subscriptions WHERE state = ?) < ?"
            " ON CONFLICT DO NOTHING",
            (
                s.id,
                s.name,
                s.contact,
                s.url,
                json.dumps(list(s.accounts)),
                json.dumps(list(s.hazards)) if s.hazards is not None else None,
                s.min_level,
                s.format,
                s.state,
                s.requested_at,
                s.requested_from,
                s.decided_at,
                s.decided_by,
                s.paused_at,
                s.paused_reason,
                s.updated_at or s.requested_at,
                secret,
                PENDING,
                max_pending if max_pending is not None else 2**31 - 1,
            ),
        )
        return cur.rowcount > 0

    def get(self, sub_id: str) -> Subscription | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return _subscription(row) if row is not None else None

    def listing(self, states: tuple[str, ...] = (PENDING, ACTIVE, PAUSED)) -> list[Subscription]:
        marks = ",".join("?" * len(states))
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE state IN ({marks}) ORDER BY requested_at, id", states
        ).fetchall()
        return [_subscription(r) for r in rows]

    def active(self) -> list[tuple[Subscription, str]]:
        """The active subscriptions with the secret each is signed with: for the senders only."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}, secret FROM subscriptions WHERE state = ? AND secret IS NOT NULL ORDER BY id",
            (ACTIVE,),
        ).fetchall()
        return [(_subscription(r), str(r["secret"])) for r in rows]

    def count(self, state: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM subscriptions WHERE state = ?", (state,)).fetchone()[0])

    def approve(self, sub_id: str, by: str, now: datetime) -> bool:
        """pending -> active. False when it is not pending."""
        return self._move(sub_id, (PENDING,), ACTIVE, now, decided_by=by)

    def resume(self, sub_id: str, by: str, now: datetime) -> bool:
        """paused -> active. False when it is not paused."""
        return self._move(sub_id, (PAUSED,), ACTIVE, now, decided_by=by)

    def pause(self, sub_id: str, reason: str, now: datetime) -> bool:
        """active -> paused, with why. False when it is not active (an operator acted first)."""
        cur = self.conn.execute(
            "UPDATE subscriptions SET state = ?, paused_at = ?, paused_reason = ?, updated_at = ?"
            " WHERE id = ? AND state = ?",
            (PAUSED, iso_utc(now), reason, iso_utc(now), sub_id, ACTIVE),
        )
        return cur.rowcount > 0

    def revoke(self, sub_id: str, by: str, now: datetime) -> bool:
        """Any state but revoked -> revoked; the secret is forgotten. False when already revoked
        or unknown."""
        cur = self.conn.execute(
            "UPDATE subscriptions SET state = ?, secret = NULL, decided_at = ?, decided_by = ?, updated_at = ?"
            " WHERE id = ? AND state <> ?",
            (REVOKED, iso_utc(now), by, iso_utc(now), sub_id, REVOKED),
        )
        return cur.rowcount > 0

    def _move(self, sub_id: str, frm: tuple[str, ...], to: str, now: datetime, *, decided_by: str) -> bool:
        marks = ",".join("?" * len(frm))
        cur = self.conn.execute(
            "UPDATE subscriptions SET state = ?, decided_at = ?, decided_by = ?, paused_at = NULL,"
            f" paused_reason = NULL, updated_at = ? WHERE id = ? AND state IN ({marks})",
            (to, iso_utc(now), decided_by, iso_utc(now), sub_id, *frm),
        )
        return cur.rowcount > 0

    def failing(self, target: str, since: str) -> Failing:
        """How the deliveries to `target` made after `since` (ISO UTC: when the subscription was
        last approved or resumed, so that a resumed one starts afresh) are going."""
        rows = self.conn.execute(
            "SELECT state FROM deliveries WHERE target = ? AND created_at >= ? AND state IN ('sent', 'dead')"
            " ORDER BY coalesce(updated_at, created_at) DESC, id DESC LIMIT 100",
            (target, since),
        ).fetchall()
        dead = 0
        for r in rows:
            if r["state"] != "dead":
                break
            dead += 1
        row = self.conn.execute(
            "SELECT min(created_at) FROM deliveries WHERE target = ? AND created_at >= ? AND state = 'retry'"
            " AND attempts > 0",
            (target, since),
        ).fetchone()
        oldest = row[0] if row is not None else None
        return Failing(dead, datetime.fromisoformat(oldest.replace("Z", "+00:00")) if oldest else None)


def _subscription(r: Row) -> Subscription:
    hazards = r["hazards"]
    return Subscription(
        id=r["id"],
        name=r["name"],
        contact=r["contact"],
        url=r["url"],
        accounts=tuple(json.loads(r["accounts"])),
        hazards=tuple(json.loads(hazards)) if hazards is not None else None,
        min_level=r["min_level"],
        format=r["format"],
        state=r["state"],
        requested_at=r["requested_at"],
        requested_from=r["requested_from"],
        decided_at=r["decided_at"],
        decided_by=r["decided_by"],
        paused_at=r["paused_at"],
        paused_reason=r["paused_reason"],
        updated_at=r["updated_at"],
    )
