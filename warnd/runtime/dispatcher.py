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
after. A crash in between leaves an unknown outcome, retried on restart (X's duplicate refusal
and the partners' idempotency key make the repeat harmless).

Failures are classified once, by the channel, into errors.Failure: rate limited (hold until the
announced reset), server error and network (exponential backoff with jitter), auth (the target is
disabled with an operator notice, its deliveries kept), bad request (dead-lettered with a notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from warnd.channels.base import Job, Sender, Sent
from warnd.clock import Clock
from warnd.config.schema import DispatchSettings
from warnd.errors import DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.model import GAVE_UP, NO_CHANNEL, Delivery, DeliveryState
from warnd.obs import get_logger
from warnd.runtime.checkpoint import OutboxCheckpoint
from warnd.runtime.membership import Membership
from warnd.store.backend import Database, DatabaseError
from warnd.store.outbox import Outbox
from warnd.store.targets import RateLog, Targets
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.dispatch")

# How often the dispatcher looks for new lanes and overdue deliveries when nothing wakes it.
SWEEP_EVERY = 2.0
# A reply waits for the post it answers; checked this often.
REPLY_WAIT = 0.5


def backoff(attempts: int, policy: DispatchSettings) -> float:
    """retry_min, doubled per attempt up to retry_max, +-20 % so that many deliveries failing
    together do not come back together."""
    base = min(policy.retry_max, policy.retry_min * 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)


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
    ) -> None:
        """`cluster`: this node's membership when several nodes share the store; each lane is
        then worked by the node holding it, and attempts are claimed in this node's name.
        `store`: where the outbox is read and written (by default, in the caller); only the
        sending itself runs on the event loop."""
        self.store = store or inline()
        self.cluster = cluster
        self.outbox = Outbox(conn, cluster.name, cluster.lease) if cluster else Outbox(conn)
        self.metrics = metrics or Metrics()
        self.targets = Targets(conn)
        self.rates = RateLog(conn)
        self.clock = clock
        self.senders = senders
        self.policy = policy
        self._wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._lane_wake: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._reported: set[str] = set()
        self._unrecorded: list[tuple[int, str | None, datetime, str | None]] = []

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
        batch, sender, job, reply_to, policy = claimed
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
                    await self.store.run(self._record_sent, sent_ok, sender, target)
                    if isinstance(job.checkpoint, OutboxCheckpoint):
                        # The parts that did go out are known before the retry reads them.
                        await job.checkpoint.flush()
                    await self.store.run(self._failed, bd, e, sender, policy, batch[i + 1 :])
                    return 0.0
                sent_ok.append((bd, sent, self.clock.now()))
        finally:
            # Also when the lane is cancelled mid-batch (a stop past its budget): what went out
            # is recorded (the store's thread finishes the unit even so); the rest stays in
            # flight and is retried at start.
            if sent_ok:
                await self.store.run(self._record_sent, sent_ok, sender, target, reply_to)
        return 0.0

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
            self._give_up(d, now, policy)
            return 0.0
        sender = self.senders().get(target)
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
                    first = self.outbox.get(anchor.delivery_id)
                    if first is not None:
                        d = first
                elif anchor.state is DeliveryState.IN_FLIGHT:
                    return REPLY_WAIT
                elif anchor.state is DeliveryState.SENT:
                    reply_to = anchor.remote_id
        job = self._job(d, reply_to)

        waits = [d.next_attempt_at, state.hold_until]
        waits += [self.targets.get(k).hold_until for k in sender.hold_keys]
        cost = sender.cost(job)
        urgent = d.life_safety
        waits += [self.rates.wait_until(b.bucket, b.limit(urgent), b.window, cost, now) for b in sender.budgets]
        latest = max((w for w in waits if w is not None), default=now)
        if latest > now:
            return max(0.01, (latest - now).total_seconds())

        if sender.budgets:
            self.rates.add([b.bucket for b in sender.budgets], now, cost)
        batch = [d]
        size = getattr(sender, "batch", 1)
        if size > 1 and reply_to is None and not sender.budgets:
            # A backlog goes out in batches: marked in flight together and recorded sent
            # together, two commits per batch instead of two per delivery.
            batch += self.outbox.following(target, d, now, size - 1)
        claimed = self.outbox.begin_many([x.id for x in batch], now)
        if d.id not in claimed:
            # Another node claimed it first: what this node did claim goes back, in order.
            self.outbox.release([x for x in batch if x.id in claimed])
            return 0.0
        return _Claimed([x for x in batch if x.id in claimed], sender, job, reply_to, policy)

    def _job(self, d: Delivery, reply_to: str | None) -> Job:
        return Job(d, reply_to, OutboxCheckpoint(self.outbox, d.id, self.store))

    def _alive(self) -> bool:
        return self.cluster is None or self.cluster.alive()

    def _record_sent(
        self, done: list[tuple[Delivery, Sent, datetime]], sender: Sender, target: str, reply_to: str | None = None
    ) -> None:
        if not done:
            return
        records = [(d.id, s.remote_id, at, Failure.DUPLICATE.value if s.duplicate else None) for d, s, at in done]
        try:
            self.outbox.sent_many(records)
        except DatabaseError as e:
            # Posted but not recorded (the store went away mid-batch): kept here and recorded
            # once it answers, unless another node has taken the attempt up meanwhile.
            self._unrecorded += records
            log.error(
                "delivery.unrecorded",
                target=target,
                event_ids=sorted({d.warning.event_id for d, _s, _at in done}),
                error=str(e),
                detail="posted; recorded as soon as the store answers",
            )
        for d, sent, at in done:
            log.info(
                "warning.delivered",
                event_id=d.warning.event_id,
                warning_id=d.warning.id,
                target=target,
                kind=d.warning.kind.value,
                attempt=d.attempts + 1,
                remote_id=sent.remote_id,
                duplicate=sent.duplicate,
                reply_to=reply_to,
                latency_s=round((at - d.created_at).total_seconds(), 3),
            )
            self._count_sent(d, sender.channel, "duplicate" if sent.duplicate else "sent", at)
        done.clear()

    def _count_sent(self, d: Delivery, channel: str, outcome: str, done: datetime) -> None:
        m = self.metrics
        m.deliveries.labels(channel, d.target, outcome).inc()
        m.feed_to_post.labels(channel).observe(max(0.0, (done - d.created_at).total_seconds()))
        origin = d.event.time if d.event else None
        if d.warning.kind.value == "new" and origin is not None:
            m.event_to_post.labels(channel).observe(max(0.0, (done - origin).total_seconds()))

    # --- outcomes -------------------------------------------------------------------------

    def _failed(
        self, d: Delivery, e: DeliveryError, sender: Sender, policy: DispatchSettings, unsent: list[Delivery]
    ) -> None:
        """On the store's thread: the failure recorded, and the rest of its batch released."""
        outcome = self._record_failure(d, e, sender, policy)
        if outcome is not None:
            self.metrics.deliveries.labels(sender.channel, d.target, outcome).inc()
        self.outbox.release(unsent)

    def _record_failure(self, d: Delivery, e: DeliveryError, sender: Sender, policy: DispatchSettings) -> str | None:
        """Record the failure; returns its outcome for the metrics (None: counted as sent)."""
        now = self.clock.now()
        dlog = log.bind(
            event_id=d.warning.event_id,
            warning_id=d.warning.id,
            target=d.target,
            attempt=d.attempts + 1,
            reason=e.failure.value,
            error=str(e),
        )
        if e.failure is Failure.DUPLICATE:
            # A partner's 409 on the idempotency key: an earlier attempt got through. (X's
            # duplicate refusal is judged by the X channel, part by part, against the outbox.)
            self.outbox.mark_sent(d.id, None, now, Failure.DUPLICATE.value)
            dlog.info("warning.delivered", duplicate=True)
            self._count_sent(d, sender.channel, "duplicate", now)
            return None
        if e.failure is Failure.AUTH:
            self.targets.disable(d.target, now, e.failure.value, str(e))
            self.outbox.mark_retry(d.id, e.failure.value, str(e), now, now)
            dlog.error(
                "target.disabled",
                notice=f"operator action needed: {d.target} was refused ({e}); its warnings are kept and"
                f" go out after `warnd outbox retry --target {d.target}` once the credential is fixed",
            )
            return "disabled"
        if not e.retryable:
            self.outbox.mark_dead(d.id, e.failure.value, str(e), now, attempted=True)
            dlog.error("delivery.dead", notice=f"operator action needed: {d.target} will not get this warning")
            return "dead"
        next_at = now + timedelta(seconds=backoff(d.attempts + 1, policy))
        if e.hold_until is not None:
            self.targets.hold(d.target, e.hold_until, e.failure.value, str(e))
            next_at = max(next_at, e.hold_until)
        if e.app_hold_until is not None:
            held = [self.targets.get(k).hold_until for k in sender.hold_keys]
            if e.notice and not any(h is not None and h > now for h in held):
                dlog.error("delivery.app_held", hold_until=e.app_hold_until.isoformat(), notice=e.notice)
            for key in sender.hold_keys:
                self.targets.hold(key, e.app_hold_until, e.failure.value, str(e))
            next_at = max(next_at, e.app_hold_until)
        self.outbox.mark_retry(d.id, e.failure.value, str(e), next_at, now)
        dlog.warning("delivery.retry", retry_at=next_at.isoformat(), hold=e.hold_until is not None)
        return "rate_limited" if e.failure is Failure.RATE_LIMITED else "retry"

    def _give_up(self, d: Delivery, now: datetime, policy: DispatchSettings) -> None:
        why = f"not delivered within {policy.give_up_after:.0f}s" + (f" (last: {d.last_error})" if d.last_error else "")
        self.outbox.mark_dead(d.id, GAVE_UP, why, now, attempted=False)
        channel = getattr(self.senders().get(d.target), "channel", "none")
        self.metrics.deliveries.labels(channel, d.target, GAVE_UP).inc()
        log.error(
            "delivery.dead",
            event_id=d.warning.event_id,
            warning_id=d.warning.id,
            target=d.target,
            reason=GAVE_UP,
            attempts=d.attempts,
            error=why,
            notice=f"operator action needed: {d.target} did not get this warning",
        )

    def _sweep(self) -> list[str]:
        """On the store's thread: dead-letter what waited past the give-up time, whatever its
        lane is doing (held, disabled, no channel), forget old budget records; the lanes that
        have work."""
        now = self.clock.now()
        policy = self.policy()
        if self._unrecorded:
            self.outbox.sent_late(self._unrecorded)
            log.info("delivery.recorded_late", deliveries=len(self._unrecorded))
            self._unrecorded = []
        if self.cluster is not None:
            if not self.cluster.alive():
                return self.outbox.lanes()
            self._outcome_unknown(self.outbox.recover_expired(now), "the node that claimed it")
            if not self.cluster.is_leader():
                return self.outbox.lanes()  # one node gives up on overdue deliveries and prunes, not each
        for d in self.outbox.overdue(now, policy.give_up_after):
            self._give_up(d, now, policy)
        self.rates.prune(now)
        return self.outbox.lanes()


class _Claimed(NamedTuple):
    """Deliveries claimed for sending, in order, and what sending them needs."""

    batch: list[Delivery]
    sender: Sender
    job: Job
    reply_to: str | None
    policy: DispatchSettings
