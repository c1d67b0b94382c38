"""What an attempt to deliver leaves behind: its progress as the channel reports it (each part
of a thread, `OutboxCheckpoint`), then the outbox, the targets' holds and the metrics brought up
to date with the delivery sent, failed or given up (`Outcomes`).

A progress record that fails (another process holds the store's lock past BUSY_TIMEOUT) is kept
and written, in order, with the next one: the thread goes on, since the parts already on X are
known to the channel; failing the delivery instead would send the thread again and X would
refuse its parts as duplicates.

Failures are classified once, by the channel, into errors.Failure: rate limited (hold until the
announced reset), server error and network (exponential backoff with jitter), auth (the target is
disabled with an operator notice, its deliveries kept), bad request (dead-lettered with a notice).
Every method runs on the store's thread.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from warnd.channels.base import Sender, Sent
from warnd.clock import Clock
from warnd.config.schema import DispatchSettings
from warnd.errors import DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.model import GAVE_UP, Delivery
from warnd.obs import get_logger
from warnd.store.backend import DatabaseError
from warnd.store.outbox import Outbox
from warnd.store.targets import RateLog, Targets
from warnd.store.worker import StoreWorker

log = get_logger("warnd.dispatch")


@dataclass(frozen=True, slots=True)
class Spent:
    """What an attempt counted against its budgets before it went out: `cost` requests at `at`,
    of which `parts_out` went out (thread parts posted, or found on the platform)."""

    at: datetime
    cost: int
    parts_out: int


def backoff(attempts: int, policy: DispatchSettings) -> float:
    """retry_min, doubled per attempt up to retry_max, +-20 % so that many deliveries failing
    together do not come back together."""
    base = min(policy.retry_max, policy.retry_min * 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)


class OutboxCheckpoint:
    def __init__(self, outbox: Outbox, delivery_id: int, store: StoreWorker) -> None:
        self.outbox = outbox
        self.delivery_id = delivery_id
        self.store = store
        self._unwritten: list[Callable[[], None]] = []
        # Parts this attempt put on the platform (or found there): what it spent of a budget.
        self.parts_out = 0

    async def part_sent(self, remote_id: str | None) -> None:
        self.parts_out += 1
        await self._record(functools.partial(self.outbox.record_part, self.delivery_id, remote_id))

    async def part_unanswered(self, part: int) -> None:
        await self._record(functools.partial(self.outbox.record_unanswered, self.delivery_id, part))

    async def flush(self) -> None:
        """What could not be written yet, before the delivery's outcome is recorded."""
        if self._unwritten:
            await self._record(None)

    async def _record(self, step: Callable[[], None] | None) -> None:
        if step is not None:
            self._unwritten.append(step)
        try:
            await self.store.run(self._write)
        except DatabaseError as e:
            log.error(
                "delivery.progress_unrecorded",
                delivery_id=self.delivery_id,
                unwritten=len(self._unwritten),
                error=str(e),
                detail="the delivery goes on; its progress is recorded with the next step",
            )

    def _write(self) -> None:
        while self._unwritten:
            self._unwritten[0]()
            del self._unwritten[0]


class Outcomes:
    def __init__(
        self,
        outbox: Outbox,
        targets: Targets,
        clock: Clock,
        senders: Callable[[], Mapping[str, Sender]],
        metrics: Metrics,
        rates: RateLog,
    ) -> None:
        self.outbox = outbox
        self.targets = targets
        self.rates = rates
        self.clock = clock
        self.senders = senders
        self.metrics = metrics
        # Posted but not recorded (the store went away): recorded by `record_late`.
        self._unrecorded: list[tuple[int, str | None, datetime, str | None]] = []

    def record_late(self) -> None:
        """On the store's thread: what was posted while the store did not answer, recorded."""
        if self._unrecorded:
            self.outbox.sent_late(self._unrecorded)
            log.info("delivery.recorded_late", deliveries=len(self._unrecorded))
            self._unrecorded = []

    def sent(
        self, done: list[tuple[Delivery, Sent, datetime]], sender: Sender, target: str, reply_to: str | None = None
    ) -> None:
        """Deliveries that went out recorded sent, logged and counted; `done` is emptied."""
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

    def failed(
        self,
        d: Delivery,
        e: DeliveryError,
        sender: Sender,
        policy: DispatchSettings,
        unsent: list[Delivery],
        spent: Spent | None = None,
    ) -> None:
        """On the store's thread: the failure recorded, what the attempt did not spend given back
        to its budgets, and the rest of its batch released."""
        if spent is not None:
            self._give_back(d, e, sender, spent)
        outcome = self._record_failure(d, e, sender, policy)
        if outcome is not None:
            self.metrics.deliveries.labels(sender.channel, d.target, outcome).inc()
        self.outbox.release(unsent)

    def _give_back(self, d: Delivery, e: DeliveryError, sender: Sender, spent: Spent) -> None:
        """The budgets counted every part of the attempt before it went out (a crash mid-way
        must not under-count). A failed attempt keeps the parts it put out and the request that
        failed when the platform may have counted it (a timeout or a connection lost after
        sending); the parts never sent, and a request X never processed (no connection, a 5xx),
        are given back, so an outage's retries do not use up the posts its backlog needs."""
        kept = spent.parts_out + (1 if e.spent else 0)
        back = spent.cost - kept
        if back <= 0 or not sender.budgets:
            return
        self.rates.give_back([b.bucket for b in sender.budgets], spent.at, back)
        log.debug(
            "budget.given_back",
            event_id=d.warning.event_id,
            target=d.target,
            requests=back,
            reason=e.failure.value,
        )

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

    def give_up(self, d: Delivery, now: datetime, policy: DispatchSettings) -> None:
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
