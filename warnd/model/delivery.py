"""Where a warning goes: its targets (account, partner, CAP feed) and one delivery to each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from warnd.model.events import HazardEvent
from warnd.model.warnings import Warning, life_safety


class TargetKind(StrEnum):
    ACCOUNT = "account"
    PARTNER = "partner"
    # An account's CAP feed (named for the account).
    FEED = "feed"
    # A WebSub subscription to an account's CAP feed (named by the subscription's id).
    WEBSUB = "websub"


class Target(str):
    """Where a delivery goes, as the outbox, the senders, status and metrics name it:
    'account:<name>', 'account:<name>/<channel>' (one channel of an account that publishes on
    several), 'partner:<name>', 'feed:<account>' or 'websub:<subscription id>'. A str, so that it
    is the key, the label and the column it always was; built and read only here."""

    __slots__ = ()

    @classmethod
    def of(cls, kind: TargetKind, name: str) -> Target:
        return cls(f"{kind.value}:{name}")

    @classmethod
    def account(cls, name: str, channel: str | None = None) -> Target:
        """`channel`: which of the account's channels, when it publishes on several."""
        return cls.of(TargetKind.ACCOUNT, f"{name}/{channel}" if channel else name)

    @classmethod
    def partner(cls, name: str) -> Target:
        return cls.of(TargetKind.PARTNER, name)

    @classmethod
    def feed(cls, account: str) -> Target:
        return cls.of(TargetKind.FEED, account)

    @classmethod
    def websub(cls, subscription: str) -> Target:
        return cls.of(TargetKind.WEBSUB, subscription)

    @property
    def kind(self) -> TargetKind | None:
        """None for a name of no known kind (an operator's typo given to `--target`)."""
        prefix, sep, _ = self.partition(":")
        try:
            return TargetKind(prefix) if sep else None
        except ValueError:
            return None

    @property
    def name(self) -> str:
        """The account's or partner's name (the account's, for its CAP feed), with the channel
        for one channel of an account that publishes on several."""
        return self.partition(":")[2]

    @property
    def owner(self) -> str:
        """The account's or partner's name alone (account names never hold a '/')."""
        return self.name.partition("/")[0]

    @property
    def channel(self) -> str | None:
        """The channel of an account that publishes on several; None otherwise."""
        return self.name.partition("/")[2] or None


def event_json(event: HazardEvent | None, attribution: str | None) -> dict[str, Any]:
    """A warning's event as the outbox stores it and a partner's webhook carries it: its fields
    and, after them, the source's credit; an empty object for a warning without an event. Rows
    written by any release read back, and a webhook body is the same bytes after a restart."""
    return event.to_json() | {"attribution": attribution} if event else {}


class DeliveryState(StrEnum):
    PENDING = "pending"  # committed, never tried
    IN_FLIGHT = "in_flight"  # an attempt started; after a crash its outcome is unknown
    RETRY = "retry"  # failed, tried again at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # given up: an operator notice was raised
    DROPPED = "dropped"  # removed by an operator


# Why a delivery ended dead or dropped without a channel saying so.
GAVE_UP = "gave_up"


NO_CHANNEL = "no_channel"


OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One warning to one target ('account:<name>', 'partner:<name>', 'feed:<account>')."""

    id: int
    warning: Warning
    target: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    reason: str | None = None
    remote_id: str | None = None
    # Ids of the thread parts already posted (a crash mid-thread resumes after the last one);
    # None for a part X has whose id it never gave (its answer was lost, a re-send was refused as
    # a duplicate).
    parts: tuple[str | None, ...] = ()
    # The part (1-based) whose request went out with no answer recorded: X may have it.
    unanswered: int | None = None
    # What the warning is about (None: a row stored without its event), the source's credit as
    # the feed catalogue gives it, and its CAP 1.2 rendering, stored with it at enqueue time so a
    # delivery needs nothing but the outbox row.
    event: HazardEvent | None = field(default=None, hash=False, compare=False)
    attribution: str | None = field(default=None, hash=False, compare=False)
    cap: str = ""
    # Its CAP document is still being made (runtime.cap_fill): a channel that carries CAP waits.
    cap_pending: bool = field(default=False, hash=False, compare=False)
    # The alt text of the warning's published map (pipeline.issue), stored beside its event.
    map_alt: str | None = field(default=None, hash=False, compare=False)

    @property
    def life_safety(self) -> bool:
        hazard = self.event.hazard.value if self.event else None
        return life_safety(hazard, self.warning.priority, (self.warning.level,))

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and restarts: partners dedupe on it."""
        return "wd-" + hashlib.sha256(f"{self.warning.id}\x1f{self.target}".encode()).hexdigest()[:32]
