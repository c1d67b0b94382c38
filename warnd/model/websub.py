"""A WebSub subscription to an account's CAP feed (W3C WebSub, 2018): who asked for the feed's
pushes, where they go and until when."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SubscriptionState(StrEnum):
    ACTIVE = "active"  # verified; pushed to until it expires
    PAUSED = "paused"  # its pushes kept failing: nothing is sent until an operator resumes it
    EXPIRED = "expired"  # its lease ran out without a renewal
    REMOVED = "removed"  # unsubscribed (verified) or removed by an operator


def subscription_id(topic: str, callback: str) -> str:
    """One subscription per (topic, callback), as the spec keys them: a renewal keeps its id on
    every node, and the id says nothing of the callback."""
    return hashlib.sha256(f"{topic}\x1f{callback}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    account: str
    topic: str
    callback: str
    lease_seconds: int
    state: SubscriptionState
    created_at: datetime
    verified_at: datetime
    expires_at: datetime
    # The subscriber's hub.secret: signs each push (X-Hub-Signature). Never shown, logged or
    # counted: only whether there is one.
    secret: str | None = field(default=None, repr=False)
    paused_at: datetime | None = None
    paused_reason: str | None = None
    resumed_at: datetime | None = None

    @property
    def counted_from(self) -> datetime:
        """Pushes before this do not count towards a pause: those of an earlier subscription of
        the same id, or those before an operator resumed it."""
        return max(self.created_at, self.resumed_at) if self.resumed_at else self.created_at

    def active(self, now: datetime) -> bool:
        return self.state is SubscriptionState.ACTIVE and self.expires_at > now
