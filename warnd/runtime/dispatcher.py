"""Delivering what the outbox holds: life safety first, retry with backoff, dead-letter with an
operator notice when a delivery cannot succeed. A delivery is marked only after its channel
answered, so a crash between the two re-sends rather than loses (and channels that can tell,
like X's duplicate refusal, count the re-send as delivered)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable
from datetime import timedelta

from warnd.channels.base import Sender
from warnd.clock import Clock
from warnd.errors import DeliveryError
from warnd.model import Delivery
from warnd.obs import get_logger
from warnd.store.outbox import Outbox

log = get_logger("warnd.dispatch")

IDLE_WAIT = 5.0
MAX_BACKOFF = 600.0


def backoff(attempts: int) -> float:
    """Seconds before the next try: 2, 4, 8 ... up to 10 minutes, with jitter so that many
    deliveries failing together do not retry together."""
    base = min(MAX_BACKOFF, 2.0 ** max(1, attempts))
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)


class Dispatcher:
    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock,
        senders: Callable[[], dict[str, Sender]],
        max_attempts: Callable[[], int],
    ) -> None:
        self.outbox = Outbox(conn)
        self.clock = clock
        self.senders = senders
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = False
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            did = await self.run_once()
            if did:
                continue
            self._wake.clear()
            wait = IDLE_WAIT
            nxt = self.outbox.next_due_at()
            if nxt is not None:
                wait = max(0.05, min(IDLE_WAIT, (nxt - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def run_once(self) -> int:
        """Try every delivery that is due now; returns how many were tried."""
        due = self.outbox.due(self.clock.now())
        for d in due:
            if self._stopping:
                break
            await self._deliver(d)
        return len(due)

    async def _deliver(self, d: Delivery) -> None:
        w = d.warning
        dlog = log.bind(event_id=w.event_id, warning_id=w.id, target=d.target, attempt=d.attempts + 1)
        kind, _, name = d.target.partition(":")
        sender = self.senders().get(name) if kind == "account" else None
        if sender is None:
            # The account was removed by a reload: keep the delivery, an operator may restore it.
            self.outbox.mark_retry(
                d.id, f"no channel for {d.target}", self.clock.now() + timedelta(seconds=MAX_BACKOFF)
            )
            dlog.error("delivery.no_channel", reason="no_channel")
            return
        try:
            remote = await sender.send(w)
        except DeliveryError as e:
            self.failed += 1
            if not e.retryable or d.attempts + 1 >= self.max_attempts():
                self.outbox.mark_dead(d.id, str(e))
                dlog.error(
                    "delivery.dead",
                    reason="permanent_failure" if not e.retryable else "retry_exhausted",
                    error=str(e),
                    notice="operator action needed: warning was not delivered",
                )
                return
            delay = backoff(d.attempts + 1)
            self.outbox.mark_retry(d.id, str(e), self.clock.now() + timedelta(seconds=delay))
            dlog.warning("delivery.retry", error=str(e), retry_in_s=round(delay, 1))
            return
        self.outbox.mark_sent(d.id, remote, self.clock.now())
        self.sent += 1
        dlog.info("warning.issued", account=w.account, kind=w.kind.value, remote_id=remote, text=w.text)
