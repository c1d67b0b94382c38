"""Delivering what the outbox holds.

Each target (an X account, a partner, an account's CAP feed) is a lane with its own task, so one
account's backlog, rate limit or outage never holds up another. Within a lane deliveries go one
at a time, most urgent first (life safety as model.life_safety defines it, then the rule's
priority, then severity), then oldest.

Before an attempt: the lane's give-up time, its persisted rate-limit hold (and the X app's), the
posting budgets kept below the platform's limits (whose last posts only life safety may spend: a
hold the platform announced stops every post alike, since the platform would refuse it), and, for
a reply, the post it answers. The
attempt is marked in flight and committed before the request goes out; the result is committed
after (runtime.outcomes). A crash in between leaves an unknown outcome, retried on restart (X's
duplicate refusal and the partners' idempotency key make the repeat harmless).

A platform that stops answering (server errors, no connection) sends each lane's head into
backoff, up to retry_max. While it is down, one head of its lanes is tried past its backoff every
`probe_every` seconds; the first answer from it releases every lane of the platform at once, so a
backlog starts draining within seconds of the platform's return, not at the end of a backoff.
Lanes that share a hold share a platform (every X account posts through the one X API); any other
lane (a partner, a CAP feed) is a platform of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from warnd.channels.base import Job, Pictures, Sender, Sent, needs_cap
from warnd.clock import Clock
from warnd.config.schema import DispatchSettings
from warnd.errors import DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.model import NO_CHANNEL, Delivery, DeliveryState, Target, TargetKind
from warnd.obs import get_logger
from warnd.runtime.membership import Membership
from warnd.runtime.outcomes import OutboxCheckpoint, Outcomes, Spent
from warnd.store.backend import Database, DatabaseError
from warnd.store.outbox import Outbox
from warnd.store.targets import RateLog, Targets
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.dispatch")

# How often the dispatcher looks for new lanes and overdue deliveries when nothing wakes it.
SWEEP_EVERY = 2.0
# A reply waits for the post it answers; checked this often.
REPLY_WAIT = 0.5
# How long a lane whose head waits for its CAP document looks again, unless woken sooner (the
# document stored wakes every lane).
CAP_WAIT = 1.0
# Failures that say the platform is not answering, rather than refusing this delivery.
OUTAGE = (Failure.SERVER_ERROR, Failure.NETWORK)
_OUTAGE_REASONS = tuple(f.value for f in OUTAGE)


def platform(sender: Sender) -> str:
    """What the lane posts through: lanes that share a hold share it (every X account posts
    through the one X API); any other lane is a platform of its own."""
    return sender.hold_keys[0] if sender.hold_keys else str(sender.target)


@dataclass
class _Outage:
    """A platform not answering, as this node sees it."""

    since: datetime  # the first failure after its last answer
    probe_at: datetime  # when one head may next be tried past its backoff


class Dispatcher:
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        senders: Callable[[], Mapping[str, Sender]],
        policy: Callable[[], DispatchSettings],
        metrics: Metrics | None = None,
        cluster: Membership | None = None,
        store: StoreWorker | None = None,
        pictures: Callable[[Delivery], Pictures | None] = lambda d: None,
    ) -> None:
        """`cluster`: this node's membership when several nodes share the store; each lane is
        then worked by the node holding it, and attempts are claimed in this node's name.
        `store`: where the outbox is read and written (by default, in the caller); only the
        sending itself runs on the event loop. `pictures`: a delivery's map (runtime.maps)."""
        self.pictures = pictures
        self.store = store or inline()
        self.cluster = cluster
        self.outbox = Outbox(conn, cluster.name, cluster.lease) if cluster else Outbox(conn)
        self.metrics = metrics or Metrics()
        self.targets = Targets(conn)
        self.rates = RateLog(conn)
        self.clock = clock
        self.senders = senders
        self.policy = policy
        self.outcomes = Outcomes(self.outbox, self.targets, clock, senders, self.metrics, self.rates)
        # Platforms down, by platform(); read and written on the store's thread only.
        self._outages: dict[str, _Outage] = {}
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._lane_wake: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._reported: set[str] = set()
        # Warnings whose first account post someone waits for (`posted`), each with its waiter.
        self._texts: list[tuple[set[str], asyncio.Future[None]]] = []

    async def posted(self, warning_ids: set[str], within: float) -> None:
        """Return once each of the warnings has had a post to one of its accounts attempted
        (sent or not), or `within` seconds have passed: what is made after the text post (the CAP
        documents) waits for the text to be on its way first, so that it does not take the
        interpreter from the posting (runtime.cap_fill). A lane held back (a budget, an outage)
        never holds it longer than `within`."""
        if not warning_ids:
            return
        done = asyncio.get_running_loop().create_future()
        entry = (set(warning_ids), done)
        self._texts.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout=within)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._texts.remove(entry)

    def _attempted(self, deliveries: list[Delivery]) -> None:
        """Posts to an account were attempted: the waiters for those warnings' texts hear it."""
        if not self._texts:
            return
        ids = {d.warning.id for d in deliveries if Target(d.target).kind is TargetKind.ACCOUNT}
        for waiting, done in self._texts:
            waiting -= ids
            if not waiting and not done.done():
                done.set_result(None)

    def wake(self) -> None:
        self._wake.set()
        for e in self._lane_wake.values():
            e.set()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        recovered = False
        while not self._stopping:
            self._wake.clear()
            try:
                if not recovered:
                    # Alone on its store a node takes back every attempt left in flight; among
                    # several, only its own (the others' come back when their claims run out).
                    found = await self.store.run(self.outbox.recover, self.clock.now(), everyone=self.cluster is None)
                    self._outcome_unknown(found)
                    recovered = True
                for target in await self.store.run(self._sweep):
                    if target not in self._lanes:
                        self._start_lane(target)
            except DatabaseError as e:
                # The store is unreachable or refusing: nothing can be claimed or recorded, so
                # nothing is sent; looked at again on the next sweep.
                log.error("dispatch.store_failed", error=str(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=SWEEP_EVERY)
        if self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    def _outcome_unknown(self, deliveries: list[Delivery], who: str = "warnd") -> None:
        for d in deliveries:
            log.warning(
                "delivery.outcome_unknown",
                event_id=d.warning.event_id,
                warning_id=d.warning.id,
                target=d.target,
                reason=Failure.NETWORK.value,
                detail=f"{who} stopped during this attempt; trying again",
            )

    async def drain(self, timeout: float) -> bool:
        """Tests and the benchmark: run until nothing is left to deliver (or the time is up)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            lanes = await self.store.run(self._sweep)
            if not lanes and not self._lanes:
                return True
            for target in lanes:
                if target not in self._lanes:
                    self._start_lane(target)
            await asyncio.sleep(0.02)
        return False

    # --- lanes ----------------------------------------------------------------------------

    def _start_lane(self, target: str) -> None:
        self._lane_wake[target] = asyncio.Event()
        self._lanes[target] = asyncio.create_task(self._lane(target), name=f"lane:{target}")

    async def _lane(self, target: str) -> None:
        wake = self._lane_wake[target]
        try:
            while not self._stopping:
                wake.clear()
                delay = await self._step(target)
                if delay is None:
                    return
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=delay)
        except DatabaseError as e:
            log.error("dispatch.store_failed", target=target, error=str(e))
            await asyncio.sleep(1.0)
        except Exception as e:
            # A lane must never take the dispatcher down; it is started again on the next sweep.
            log.exception("dispatch.lane_failed", target=target, error=repr(e))
            await asyncio.sleep(1.0)
        finally:
            self._lanes.pop(target, None)
            self._lane_wake.pop(target, None)

    async def _step(self, target: str) -> float | None:
        """One delivery of a lane, or how long to wait before the next; None: the lane is idle."""
        claimed = await self.store.run(self._claim, target)
        if not isinstance(claimed, _Claimed):
            return claimed
        batch, sender, job, reply_to, policy, spent = claimed
        sent_ok: list[tuple[Delivery, Sent, datetime]] = []
        try:
            for i, bd in enumerate(batch):
                if i and (self._stopping or not self._alive()):
                    await self.store.run(self.outbox.release, batch[i:])
                    break
                job = self._job(bd, reply_to) if i else job
                try:
                    sent = await sender.send(job)
                except Exception as e:
                    if not isinstance(e, DeliveryError):
                        # A fault in a channel is a bug, but the warning must not be lost over it.
                        log.exception(
                            "delivery.channel_fault", event_id=bd.warning.event_id, target=target, error=repr(e)
                        )
                        e = DeliveryError(f"channel fault: {type(e).__name__}", Failure.SERVER_ERROR)
                    await self.store.run(self.outcomes.sent, sent_ok, sender, target)
                    if isinstance(job.checkpoint, OutboxCheckpoint):
                        # The parts that did go out are known before the retry reads them.
                        await job.checkpoint.flush()
                    if spent is not None and isinstance(job.checkpoint, OutboxCheckpoint):
                        spent = replace(spent, parts_out=job.checkpoint.parts_out)
                    await self.store.run(self._failed, bd, e, sender, policy, batch[i + 1 :], spent)
                    return 0.0
                sent_ok.append((bd, sent, self.clock.now()))
        finally:
            self._attempted(batch)
            # Also when the lane is cancelled mid-batch (a stop past its budget): what went out
            # is recorded (the store's thread finishes the unit even so); the rest stays in
            # flight and is retried at start.
            if sent_ok:
                await self.store.run(self.outcomes.sent, sent_ok, sender, target, reply_to)
        await self._answered(sender)
        return 0.0

    def _failed(
        self,
        d: Delivery,
        e: DeliveryError,
        sender: Sender,
        policy: DispatchSettings,
        unsent: list[Delivery],
        spent: Spent | None,
    ) -> None:
        """On the store's thread: the failure recorded; a platform not answering is marked down
        from this moment (before the delivery's own record, which the release compares with)."""
        now = self.clock.now()
        self.outcomes.failed(d, e, sender, policy, unsent, spent)
        key = platform(sender)
        if e.failure in OUTAGE and key not in self._outages:
            self._outages[key] = _Outage(now, now + timedelta(seconds=policy.probe_every))
            log.warning(
                "channel.down",
                event_id=d.warning.event_id,
                target=d.target,
                platform=key,
                reason=e.failure.value,
                detail=f"its lanes retry one head every {policy.probe_every:g}s past their backoff until it answers",
            )

    async def _answered(self, sender: Sender) -> None:
        """A delivery went out: if its platform was down, every lane of it goes again now."""
        key = platform(sender)
        if key not in self._outages:
            return
        lanes = [t for t, s in self.senders().items() if platform(s) == key]
        moved = await self.store.run(self._recovered, key, lanes)
        for target in moved:
            if (e := self._lane_wake.get(target)) is not None:
                e.set()
        self._wake.set()

    def _recovered(self, key: str, lanes: list[str]) -> list[str]:
        """On the store's thread: the platform answers again; the lanes whose heads failed while
        it was down go at once, each most urgent first."""
        outage = self._outages.pop(key, None)
        if outage is None:
            return []
        now = self.clock.now()
        moved = self.outbox.retry_early(lanes, _OUTAGE_REASONS, outage.since, now)
        log.info(
            "channel.back",
            platform=key,
            down_s=round((now - outage.since).total_seconds(), 1),
            lanes_released=len(moved),
        )
        return moved

    def _claim(self, target: str) -> _Claimed | float | None:
        """On the store's thread: the lane's next delivery (with those batched after it)
        claimed for sending, or how long to wait (None: the lane is idle)."""
        now = self.clock.now()
        if self.cluster is not None and not self.cluster.claim_lane(target):
            return None  # another node works this lane (or this one cannot reach the store)
        d = self.outbox.head(target)
        if d is None:
            return None
        policy = self.policy()
        if (now - d.created_at).total_seconds() > policy.give_up_after:
            self.outcomes.give_up(d, now, policy)
            return 0.0
        sender = self.senders().get(target)
        if sender is None and Target(target).kind is TargetKind.WEBSUB:
            # A subscription this node has not read yet (verified on another node moments ago),
            # or one paused, expired or removed meanwhile (its pushes wait or were dropped):
            # the next sweep looks again. No notice: runtime.websub_pushes raises its own.
            return None
        if sender is None:
            if target not in self._reported:
                self._reported.add(target)
                log.error(
                    "delivery.no_channel",
                    target=target,
                    reason=NO_CHANNEL,
                    notice="operator action needed: deliveries wait for a channel that the configuration"
                    " no longer has (restore it, or `warnd outbox drop`)",
                )
            return None
        self._reported.discard(target)
        state = self.targets.get(target)
        if state.disabled_at is not None:
            return None
        reply_to: str | None = None
        if sender.replies:
            anchor = self.outbox.anchor(d.warning.event_id, d.warning.account, target)
            if anchor is not None and anchor.delivery_id != d.id:
                if anchor.state in (DeliveryState.PENDING, DeliveryState.RETRY):
                    # The post this one answers has not gone yet (it ranked lower): it goes first.
                    # (runtime.maps.in_post_order draws maps in this order: change both.)
                    first = self.outbox.get(anchor.delivery_id)
                    if first is not None:
                        d = first
                elif anchor.state is DeliveryState.IN_FLIGHT:
                    return REPLY_WAIT
                elif anchor.state is DeliveryState.SENT:
                    reply_to = anchor.remote_id
        if d.cap_pending and needs_cap(sender):
            # Its CAP document is being made (runtime.cap_fill), which wakes the lanes when it
            # is stored; the lane keeps its order meanwhile.
            return CAP_WAIT
        job = self._job(d, reply_to)

        waits = [state.hold_until]
        waits += [self.targets.get(k).hold_until for k in sender.hold_keys]
        cost = sender.cost(job)
        urgent = d.life_safety
        waits += [self.rates.wait_until(b.bucket, b.limit(urgent), b.window, cost, now) for b in sender.budgets]
        held = max((w for w in waits if w is not None), default=now)
        backoff = d.next_attempt_at
        outage: _Outage | None = None
        if d.reason in _OUTAGE_REASONS and backoff > now:
            key = platform(sender)
            outage = self._outages.get(key)
            if outage is None:
                # Down before this node saw it (a restart, a lane taken over from another node):
                # probed now rather than at the end of a backoff of up to retry_max.
                outage = self._outages[key] = _Outage(now - timedelta(seconds=policy.retry_max), now)
        if outage is not None and held <= now:
            # Its platform is down: one head of its lanes probes it every probe_every, whatever
            # its own backoff says; the first answer releases the others (_recovered).
            if now >= outage.probe_at:
                outage.probe_at = now + timedelta(seconds=policy.probe_every)
                backoff = now
            else:
                backoff = min(backoff, outage.probe_at)
        latest = max(held, backoff)
        if latest > now:
            return max(0.01, (latest - now).total_seconds())

        spent: Spent | None = None
        if sender.budgets:
            self.rates.add([b.bucket for b in sender.budgets], now, cost)
            spent = Spent(now, cost, 0)
        batch = [d]
        size = getattr(sender, "batch", 1)
        if size > 1 and reply_to is None and not sender.budgets:
            # A backlog goes out in batches: marked in flight together and recorded sent
            # together, two commits per batch instead of two per delivery.
            following = self.outbox.following(target, d, now, size - 1)
            batch += itertools.takewhile(lambda x: not (x.cap_pending and needs_cap(sender)), following)
        claimed = self.outbox.begin_many([x.id for x in batch], now)
        if d.id not in claimed:
            # Another node claimed it first: what this node did claim goes back, in order.
            self.outbox.release([x for x in batch if x.id in claimed])
            return 0.0
        return _Claimed([x for x in batch if x.id in claimed], sender, job, reply_to, policy, spent)

    def _job(self, d: Delivery, reply_to: str | None) -> Job:
        # Only the accounts' posts show a map.
        picture = self.pictures(d) if Target(d.target).kind is TargetKind.ACCOUNT else None
        return Job(d, reply_to, OutboxCheckpoint(self.outbox, d.id, self.store), picture=picture)

    def _alive(self) -> bool:
        return self.cluster is None or self.cluster.alive()

    def _sweep(self) -> list[str]:
        """On the store's thread: dead-letter what waited past the give-up time, whatever its
        lane is doing (held, disabled, no channel), forget old budget records; the lanes that
        have work."""
        now = self.clock.now()
        policy = self.policy()
        self.outcomes.record_late()
        if self.cluster is not None:
            if not self.cluster.alive():
                return self.outbox.lanes()
            self._outcome_unknown(self.outbox.recover_expired(now), "the node that claimed it")
            if not self.cluster.is_leader():
                return self.outbox.lanes()  # one node gives up on overdue deliveries and prunes, not each
        for d in self.outbox.overdue(now, policy.give_up_after):
            self.outcomes.give_up(d, now, policy)
        self.rates.prune(now)
        return self.outbox.lanes()


class _Claimed(NamedTuple):
    """Deliveries claimed for sending, in order, and what sending them needs."""

    batch: list[Delivery]
    sender: Sender
    job: Job
    reply_to: str | None
    policy: DispatchSettings
    # What the claim counted against the sender's budgets (None: it has none).
    spent: Spent | None
