"""Approved subscriptions as partners: what issuing routes to and the senders that deliver.

Every node reads the active subscriptions from the store every REFRESH_EVERY seconds, so an
approval or a revocation made on any node (or by the CLI) takes effect everywhere within a few
seconds. Each becomes a `Partner` (its name `sub-<name>`), handed to issuing as data, and a
signed `WebhookSender` of the same kind as the YAML partners', through the same outbox.

The node that leads also pauses a subscriber whose deliveries keep failing:
`subscriptions.pause_after_dead` dead deliveries in a row, or a warning failing for longer than
`subscriptions.pause_after`. A paused subscriber gets no new warnings and its waiting ones are
not tried; it raises an operator notice (runtime.conditions) until an operator resumes or
revokes it. Never retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from warnd.channels.base import Sender
from warnd.channels.webhook import WebhookSender
from warnd.clock import Clock
from warnd.config.schema import Partner
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Hazard
from warnd.obs import get_logger
from warnd.runtime import public_address
from warnd.runtime.build import Bundle
from warnd.store.backend import Database, DatabaseError
from warnd.store.subscriptions import Subscription, Subscriptions
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.subscribers")

REFRESH_EVERY = 3.0

# A minimum level, on both scales: BMKG's Waspada < Siaga < Awas and the gauges' Siaga 4 (normal)
# < Siaga 3 < Siaga 2 < Siaga 1, Siaga 3 standing with Waspada and Siaga 1 with Awas.
RANK = {"siaga4": 0, "waspada": 1, "siaga3": 1, "siaga": 2, "siaga2": 2, "awas": 3, "siaga1": 3}


def levels_from(min_level: str | None) -> list[str] | None:
    """The warning levels a minimum level lets through (None: every warning)."""
    if min_level is None:
        return None
    floor = RANK[min_level]
    return sorted(level for level, rank in RANK.items() if rank >= floor)


def as_partner(s: Subscription) -> Partner:
    return Partner(
        name=s.partner,
        url=s.url,
        # Not a credential's name here: the sender is given the stored secret itself.
        secret="subscription",  # noqa: S106
        accounts=list(s.accounts),
        format="cap" if s.format == "cap" else "json",
        hazards=[Hazard(h) for h in s.hazards] if s.hazards is not None else None,
        levels=levels_from(s.min_level),
        probe=False,
    )


class SubscriberSender(WebhookSender):
    """A subscriber's sender: its URL was named by whoever subscribed, so before each push the
    host is resolved again, every address must still be public, and the push goes to the address
    checked (runtime.public_address). Checked at each push rather than pinned once at approval:
    a partner may move its endpoint to another address (a new load balancer, a CDN), and a name
    turned to point inside the agency's network after approval (DNS rebinding) is refused then."""

    def __init__(self, partner: str, *, allow_loopback: bool, **kw: Any) -> None:
        super().__init__(partner, **kw)
        self.allow_loopback = allow_loopback

    async def destination(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        try:
            pinned = await public_address.resolve(self.url, self.allow_loopback, pin=not self.outbound.proxied)
        except public_address.NotPublic as e:
            log.warning("subscriber.address_refused", partner=self.partner, reason=str(e))
            raise DeliveryError(f"partner {self.partner}: its address is not public ({e})", Failure.NETWORK) from None
        return pinned.url, pinned.headers, pinned.extensions


class Subscribers:
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        bundle: Callable[[], Bundle],
        *,
        is_leader: Callable[[], bool] = lambda: True,
        store: StoreWorker | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """`conn`: where subscriptions are read and paused (on `store`'s thread). `on_change`:
        called when the set of active subscribers changed (the dispatcher is woken)."""
        self.conn = conn
        self.clock = clock
        self.bundle = bundle
        self.is_leader = is_leader
        self.store = store or inline()
        self.on_change = on_change
        # Replaced whole, never changed in place: read from the store's thread too (ingest).
        self.partners: Mapping[str, Partner] = {}
        self._senders: dict[str, WebhookSender] = {}
        # What each sender was built from, to build it again only when that changed.
        self._built: dict[str, tuple[object, ...]] = {}
        self._merged: tuple[object, dict[str, Sender]] | None = None
        self._stopping = asyncio.Event()

    def senders(self, base: Mapping[str, Sender]) -> Mapping[str, Sender]:
        """The configuration's senders and the subscribers'; the YAML wins a clash of names."""
        if self._merged is None or self._merged[0] is not base:
            self._merged = (base, {**self._senders, **base})
        return self._merged[1]

    def targets(self) -> frozenset[str]:
        return frozenset(self._senders)

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=REFRESH_EVERY)

    def stop(self) -> None:
        self._stopping.set()

    async def refresh(self) -> None:
        try:
            if self.is_leader():
                await self.store.run(self.pause_failing)
                await self.store.run(self.expire_pending)
            active = await self.store.run(Subscriptions(self.conn).active)
        except DatabaseError as e:
            # The subscribers known stay as they were until the store answers.
            log.error("subscribers.store_failed", error=str(e))
            return
        await self._apply(active)

    async def _apply(self, active: list[tuple[Subscription, str]]) -> None:
        b = self.bundle()
        cfg = b.config.file
        partners: dict[str, Partner] = {}
        senders: dict[str, WebhookSender] = {}
        built: dict[str, tuple[object, ...]] = {}
        for sub, secret in active:
            if sub.partner in cfg.partners:
                log.error("subscription.name_clash", subscription=sub.id, partner=sub.partner)
                continue
            try:
                partner = as_partner(sub)
            except ValueError as e:
                log.error("subscription.unusable", subscription=sub.id, partner=sub.partner, error=str(e))
                continue
            target = sub.target
            settings = cfg.subscriptions
            maps_url = cfg.maps.public_url if cfg.maps.enabled else None
            # Everything the sender is made of: a reload that changes any of it reaches it.
            key = (
                sub.id,
                sub.url,
                secret,
                sub.format,
                settings.timeout,
                settings.allow_loopback,
                cfg.user_agent,
                b.outbound,
                maps_url,
            )
            old = self._senders.get(target)
            if old is not None and self._built.get(target) == key:
                senders[target] = old
            else:
                senders[target] = SubscriberSender(
                    sub.partner,
                    allow_loopback=settings.allow_loopback,
                    url=sub.url,
                    secret=Secret(secret),
                    fmt=partner.format,
                    timeout=settings.timeout,
                    user_agent=cfg.user_agent,
                    outbound=b.outbound,
                    clock=self.clock,
                    maps_url=maps_url,
                )
            built[target] = key
            partners[sub.partner] = partner
        gone = [s for t, s in self._senders.items() if senders.get(t) is not s]
        changed = set(senders) != set(self._senders) or partners != self.partners
        self.partners = partners
        self._senders = senders
        self._built = built
        self._merged = None
        for sender in gone:
            with contextlib.suppress(Exception):
                await sender.aclose()
        if changed:
            log.info("subscribers.changed", partners=sorted(partners))
            self.on_change()

    def pause_failing(self) -> list[str]:
        """On the store's thread: pause each active subscriber whose deliveries keep failing;
        the ids paused."""
        settings = self.bundle().config.file.subscriptions
        now = self.clock.now()
        subs = Subscriptions(self.conn)
        paused = []
        for sub, _secret in subs.active():
            since = sub.decided_at or sub.requested_at
            f = subs.failing(sub.target, since)
            why = _why(f.dead_in_a_row, f.failing_since, settings.pause_after_dead, settings.pause_after, now)
            if why is not None and subs.pause(sub.id, why, now):
                log.warning(
                    "subscription.paused",
                    subscription=sub.id,
                    partner=sub.partner,
                    reason=why,
                    notice=f"operator action needed: `warnd subscription resume {sub.id}` once the partner's"
                    f" endpoint works, or `warnd subscription revoke {sub.id}`",
                )
                paused.append(sub.id)
        return paused

    def expire_pending(self) -> list[str]:
        """On the store's thread: revoke the requests no operator decided within
        `subscriptions.pending_expire_after`, so that stale ones do not hold the pending places."""
        settings = self.bundle().config.file.subscriptions
        now = self.clock.now()
        gone = Subscriptions(self.conn).expire_pending(now - timedelta(seconds=settings.pending_expire_after), now)
        for sub_id in gone:
            log.info("subscription.expired", subscription=sub_id, after_s=settings.pending_expire_after)
        return gone

    async def aclose(self) -> None:
        for sender in self._senders.values():
            with contextlib.suppress(Exception):
                await sender.aclose()


def _why(dead: int, failing_since: datetime | None, max_dead: int, max_age: float, now: datetime) -> str | None:
    if dead >= max_dead:
        return f"{dead} deliveries in a row were dead-lettered"
    if failing_since is not None and (now - failing_since).total_seconds() > max_age:
        return f"a warning to it has been failing since {failing_since:%Y-%m-%d %H:%M}Z"
    return None
