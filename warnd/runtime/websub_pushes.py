"""The WebSub subscriptions as the dispatcher and the issuing step need them, kept up to date
from the store every few seconds (REFRESH), whichever node the subscriber spoke to.

Each round, on the store's thread:
- the subscriptions whose lease ran out are marked expired and their waiting pushes dropped
  (an expired subscription gets nothing more; the subscriber renews before its lease ends);
- each active subscription whose pushes keep failing is paused: the last `websub.dead_after`
  finished pushes all dead, or a push still being retried `websub.failing_for` after it was
  issued. Its lane stops (the target is disabled, its waiting pushes kept), an operator notice
  is raised (runtime.conditions), and it stays paused until `warnd websub resume` or `remove`:
  a subscriber's pushes are never retried forever;
- a sender is kept for each active subscription (the same sender while the subscription is
  unchanged; one pool of connections for all).
Expiry and pausing are done by the leader only, each a conditional update, so they happen once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from warnd.cap import feed_links, feed_title
from warnd.channels.base import Sender
from warnd.channels.websub import WebSubSender
from warnd.clock import Clock
from warnd.config.schema import ConfigFile
from warnd.errors import DeliveryError, Failure
from warnd.model import Subscription, SubscriptionState, Target
from warnd.obs import get_logger
from warnd.redact import redact_url
from warnd.runtime import public_address
from warnd.runtime.rounds import Rounds
from warnd.store.backend import Database, DatabaseError
from warnd.store.targets import Targets
from warnd.store.websub import Subscriptions
from warnd.store.worker import StoreWorker

log = get_logger("warnd.websub")

REFRESH = 2.0
PAUSED = "websub_paused"


def pause_reason(
    sub: Subscription, dead_in_row: int, failing_since: datetime | None, cfg: ConfigFile, now: datetime
) -> str | None:
    """Why the subscription's pushes should stop, or None."""
    s = cfg.websub
    if dead_in_row >= s.dead_after:
        return f"its last {dead_in_row} pushes failed for good"
    if failing_since is not None and (now - failing_since).total_seconds() >= s.failing_for:
        hours = (now - failing_since).total_seconds() / 3600
        return f"a push has been failing for {hours:.1f} h (websub.failing_for {s.failing_for / 3600:g} h)"
    return None


def active_subscriptions(conn: Database, cfg: ConfigFile, now: datetime) -> dict[str, tuple[str, ...]]:
    """The subscriptions that get each account's next warning, read on `conn` (inside the
    caller's transaction): what runtime hands the issuing step. None while there is no hub."""
    if cfg.websub_base is None:
        return {}
    return Subscriptions(conn).active_by_account(now)


class CheckedWebSubSender(WebSubSender):
    """A push whose callback's address is checked before every request and the request sent to
    the address checked: the name may have been pointed inside the network since the
    subscription was verified (DNS rebinding). A refusal is a network failure: retried, and the
    subscription paused once it keeps failing."""

    allow_loopback = False
    proxied = False

    async def destination(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        try:
            pinned = await public_address.resolve(self.sub.callback, self.allow_loopback, pin=not self.proxied)
        except public_address.NotPublic as e:
            log.warning("websub.address_refused", subscription=self.sub.id, reason=str(e))
            raise DeliveryError(
                f"websub {self.sub.id}: its callback's address is not public ({e})", Failure.NETWORK
            ) from None
        return pinned.url, pinned.headers, pinned.extensions


class WebSubPushes(Rounds):
    def __init__(
        self,
        conn: Database,
        store: StoreWorker,
        clock: Clock,
        config: Callable[[], ConfigFile],
        http: Callable[[], httpx.AsyncClient],
        leader: Callable[[], bool] = lambda: True,
        proxied: Callable[[], bool] = lambda: False,
    ) -> None:
        """`http`: the hub's client (one pool for every callback); `leader`: whether this node
        expires and pauses subscriptions; `proxied`: whether an outbound proxy carries the
        pushes (their addresses are then checked, not pinned: runtime.public_address)."""
        self.conn = conn
        self.store = store
        self.clock = clock
        self.config = config
        self.http = http
        self.leader = leader
        self.proxied = proxied
        self.subs = Subscriptions(conn)
        self.targets = Targets(conn)
        self._senders: dict[str, Sender] = {}
        super().__init__(REFRESH)

    def senders(self) -> Mapping[str, Sender]:
        """The active subscriptions' senders, by target (replaced whole at each round)."""
        return self._senders

    async def round(self) -> None:
        try:
            self._senders = await self.store.run(self._round)
        except DatabaseError as e:
            log.error("websub.store_failed", error=str(e), detail="the subscriptions are read again shortly")

    def _round(self) -> dict[str, Sender]:
        """On the store's thread: expiry and pauses (the leader), then the senders."""
        cfg = self.config()
        base = cfg.websub_base
        if base is None:
            return {}
        now = self.clock.now()
        if self.leader():
            self._expire(now)
            self._pause(cfg, now)
        out: dict[str, Sender] = {}
        for sub in self.subs.listing([SubscriptionState.ACTIVE]):
            account = cfg.accounts.get(sub.account)
            if account is None:
                continue  # an account taken out of the config: its feed is gone, nothing to push
            target = Target.websub(sub.id)
            links = feed_links(base, sub.account)
            title = feed_title(account.name)
            old = self._senders.get(target)
            key = (sub.callback, sub.secret, sub.topic, title, links, cfg.websub.allow_loopback, self.proxied())
            if isinstance(old, WebSubSender) and old.key == key:
                out[target] = old
                continue
            made = CheckedWebSubSender(
                sub, title=title, links=links, http=self.http, timeout=cfg.websub.timeout, clock=self.clock
            )
            made.allow_loopback, made.proxied = cfg.websub.allow_loopback, self.proxied()
            made.key = key
            out[target] = made
        return out

    def _expire(self, now: datetime) -> None:
        with self.conn.transaction():
            ended = self.subs.expire(now)
            dropped = {s.id: self.subs.drop_queued(s.id, "the subscription's lease ran out", now) for s in ended}
        for s in ended:
            log.info(
                "websub.expired",
                subscription=s.id,
                account=s.account,
                callback=redact_url(s.callback),
                expired_at=s.expires_at.isoformat(),
                pushes_dropped=dropped[s.id],
            )

    def _pause(self, cfg: ConfigFile, now: datetime) -> None:
        failing = self.subs.failing()
        for sub in self.subs.listing([SubscriptionState.ACTIVE]):
            if sub.id not in failing:
                continue
            record = self.subs.pushes(sub, cfg.websub.dead_after)
            why = pause_reason(sub, record.dead_in_row, record.failing_since, cfg, now)
            if why is None:
                continue
            target = Target.websub(sub.id)
            with self.conn.transaction():
                if not self.subs.pause(sub.id, now, why):
                    continue
                self.targets.disable(target, now, PAUSED, why)
            log.error(
                "websub.paused",
                subscription=sub.id,
                account=sub.account,
                callback=redact_url(sub.callback),
                reason=why,
                notice=f"operator action needed: WebSub subscription {sub.id} is paused ({why}); its pushes"
                f" wait: `warnd websub resume {sub.id}` once the subscriber answers, or `warnd websub remove {sub.id}`",
            )


def resume(conn: Database, sub_id: str, now: datetime) -> bool:
    """An operator's `warnd websub resume`: the paused subscription is pushed to again (its
    waiting pushes first); the pushes before now no longer count towards a pause. False: no
    paused subscription of that id."""
    with conn.transaction():
        if not Subscriptions(conn).resume(sub_id, now):
            return False
        Targets(conn).enable(Target.websub(sub_id))
    log.info("websub.resumed", subscription=sub_id)
    return True


def remove(conn: Database, sub_id: str, now: datetime) -> int | None:
    """An operator's `warnd websub remove`: the subscription ends and its waiting pushes are
    dropped (how many); None: no subscription of that id is held."""
    with conn.transaction():
        subs = Subscriptions(conn)
        if not subs.remove(sub_id):
            return None
        dropped = subs.drop_queued(sub_id, "removed by an operator", now)
        Targets(conn).enable(Target.websub(sub_id))
    log.info("websub.removed", subscription=sub_id, pushes_dropped=dropped)
    return dropped
