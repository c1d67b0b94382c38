"""What an operator changes in the state: a delivery sent again now, a target's hold lifted, a
silence added or ended. One place for `warnd outbox`, `warnd silence` and the operator console,
so each asks the same questions and leaves the same rows. OperatorError names what is wrong.

Each call runs on the caller's connection (the CLI's, or the daemon's store thread) and commits
as it goes; a running daemon is then woken (SIGUSR1, or the dispatcher's wake) to act at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from warnd.config.load import Config
from warnd.errors import OperatorError
from warnd.model import Delivery, DeliveryState, life_safety
from warnd.store.backend import Database
from warnd.store.outbox import Outbox
from warnd.store.silences import Silences
from warnd.store.subscriptions import Subscription, Subscriptions
from warnd.store.targets import Targets

# What an operator may send again: a waiting delivery sooner, a dead one once more.
RETRYABLE = ("pending", "retry", "dead")


@dataclass(frozen=True)
class TargetRetry:
    lifted: bool
    """A hold or a disable was lifted."""
    queued: int
    """Deliveries to the target queued to go now."""


def retry_target(conn: Database, target: str, now: datetime) -> TargetRetry:
    """`warnd outbox retry --target`: lift the target's hold or disable, and send what waits for
    it (the dead too) now."""
    box = Outbox(conn)
    ids = box.ids(list(RETRYABLE), target)
    lifted = Targets(conn).enable(target)
    return TargetRetry(lifted, box.retry_now(ids, now))


def retry_delivery(conn: Database, delivery_id: int, now: datetime) -> None:
    """One delivery, waiting or dead, goes now. OperatorError 404 when there is none of that id,
    409 when it is not waiting or dead (sent, dropped, or being tried this moment)."""
    d = Outbox(conn).get(delivery_id)
    if d is None:
        raise OperatorError(f"id: no delivery {delivery_id}", status=404)
    if d.state.value not in RETRYABLE:
        raise OperatorError(
            f"id: delivery {delivery_id} is {d.state.value}; only a waiting or dead one is retried", 409
        )
    Outbox(conn).retry_now([delivery_id], now)


def drop_delivery(conn: Database, delivery_id: int, reason: str, now: datetime) -> None:
    """Give up on one delivery. A life-safety warning's delivery is dropped only once it is dead:
    while it may still go out, no one takes it back by a click (409)."""
    d = Outbox(conn).get(delivery_id)
    if d is None:
        raise OperatorError(f"id: no delivery {delivery_id}", status=404)
    vital = _carries_life_safety(d)
    if vital and d.state is not DeliveryState.DEAD:
        raise OperatorError(_vital(delivery_id, d.state.value), 409)
    if d.state.value not in RETRYABLE:
        raise OperatorError(
            f"id: delivery {delivery_id} is {d.state.value}; only a waiting or dead one is dropped", 409
        )
    # The state may have changed since the look above (a retry from another node or the CLI):
    # the UPDATE itself holds the rule, and nothing it did not change is called dropped.
    if not Outbox(conn).drop([delivery_id], reason, now, dead_only=vital):
        now_state = Outbox(conn).get(delivery_id)
        state = now_state.state.value if now_state is not None else "gone"
        raise OperatorError(
            _vital(delivery_id, state)
            if vital
            else f"id: delivery {delivery_id} is {state}; only a waiting or dead one is dropped",
            409,
        )


def _carries_life_safety(d: Delivery) -> bool:
    return life_safety(d.event.hazard.value if d.event is not None else None, d.warning.priority, (d.warning.level,))


def _vital(delivery_id: int, state: str) -> str:
    return f"id: delivery {delivery_id} carries a life-safety warning and is {state}: it is dropped only once dead"


def add_silence(
    cfg: Config,
    conn: Database,
    *,
    rule: str | None,
    account: str | None,
    region: str | None,
    until: datetime,
    reason: str,
    now: datetime,
) -> str:
    """A silence in the store (life-safety posts are never muted by one); its id."""
    if not (rule or account or region):
        raise OperatorError("name at least one of rule, account, region")
    known = {"rule": {r.rule.id for r in cfg.rules}, "account": set(cfg.file.accounts)}
    for kind, value in (("rule", rule), ("account", account)):
        if value is not None and value not in known[kind]:
            raise OperatorError(f"{kind}: unknown {kind} {value!r} (known: {', '.join(sorted(known[kind]))})")
    return Silences(conn).add(rule=rule, account=account, region=region, until=until, reason=reason, now=now)


def expire_silence(conn: Database, silence_id: str, now: datetime) -> None:
    if not Silences(conn).expire(silence_id, now):
        raise OperatorError(f"id: no active silence {silence_id}", status=404)


def retry_many(conn: Database, ids: Sequence[int], now: datetime) -> int:
    return Outbox(conn).retry_now(sorted(set(ids)), now)


def approve_subscription(conn: Database, sub_id: str, by: str, now: datetime) -> Subscription:
    """A pending subscription becomes active (or a paused one active again): every node delivers
    to it within seconds. OperatorError 404 when unknown, 409 when not pending or paused."""
    subs = Subscriptions(conn)
    s = subs.get(sub_id)
    if s is None:
        raise OperatorError(f"id: no subscription {sub_id}", status=404)
    with conn.transaction():
        moved = subs.approve(sub_id, by, now) if s.state == "pending" else subs.resume(sub_id, by, now)
        if not moved:
            raise OperatorError(
                f"id: subscription {sub_id} is {s.state}; only a pending or paused one is approved", 409
            )
        # Starts afresh: a hold or a disable its lane had (from an earlier subscription of the
        # same name, or from the failures that paused it) would keep it from getting anything.
        Targets(conn).enable(s.target)
    return subs.get(sub_id) or s


def revoke_subscription(conn: Database, sub_id: str, by: str, now: datetime) -> int:
    """The subscription ends and its secret is forgotten; what still waited for it, and what
    was dead-lettered, is dropped (the partner is no longer one). How many deliveries were
    dropped. OperatorError 404 when unknown, 409 when already revoked, and 409 while a
    life-safety warning is still on its way to it: as with a single delivery, no click takes
    back a life-safety warning that may still go out (revoke once it is sent or dead)."""
    subs = Subscriptions(conn)
    s = subs.get(sub_id)
    if s is None:
        raise OperatorError(f"id: no subscription {sub_id}", status=404)
    if s.state == "revoked":
        raise OperatorError(f"id: subscription {sub_id} is revoked already", 409)
    with conn.transaction():
        box = Outbox(conn)
        # One read of the lane, judged and dropped from: a delivery committed by the leader
        # after it (PostgreSQL reads each statement anew) is neither judged nor dropped here; the
        # leader's own refresh stops it from being queued for long (see no_channel).
        waiting = {i: box.get(i) for i in box.ids(["pending", "in_flight", "retry", "dead"], s.target)}
        live = [
            i
            for i, d in waiting.items()
            if d is not None and d.state is not DeliveryState.DEAD and _carries_life_safety(d)
        ]
        if live:
            shown = ", ".join(str(i) for i in live[:5]) + (" ..." if len(live) > 5 else "")
            raise OperatorError(
                f"id: subscription {sub_id} still has {len(live)} life-safety deliveries on their way"
                f" (ids {shown}); revoke it once they are sent or dead",
                409,
            )
        if not subs.revoke(sub_id, by, now):
            raise OperatorError(f"id: subscription {sub_id} is revoked already", 409)
        # The lane's state goes with it: a later subscription of the same name starts clean.
        Targets(conn).enable(s.target)
        droppable = [i for i, d in waiting.items() if d is not None and d.state is not DeliveryState.IN_FLIGHT]
        return box.drop(droppable, f"subscription {sub_id} revoked", now)
