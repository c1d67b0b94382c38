"""When feeds are polled and health is checked: one APScheduler job per feed on its interval and
jitter, and the health round often enough to notice staleness and failing feeds in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from warnd.clock import Clock, SystemClock, steady, system_now
from warnd.config.schema import FeedSpec
from warnd.obs import get_logger

log = get_logger("warnd")

# Staleness is checked often enough to notice within a quarter of the shortest stale_after, a
# failing feed within a tenth of its fail_after (60 s + 6 s for a critical feed).
HEALTH_EVERY_MAX = 10.0
HEALTH_EVERY_MIN = 1.0

_FEED = "feed:"


def health_every(feeds: Iterable[FeedSpec]) -> float:
    specs = list(feeds)
    limits = [f.stale_after / 4 for f in specs if f.stale_after] + [f.fail_limit / 10 for f in specs]
    return max(HEALTH_EVERY_MIN, min([HEALTH_EVERY_MAX, *limits]))


class Schedule:
    def __init__(
        self,
        poll: Callable[[str], Awaitable[None]],
        health: Callable[[], Awaitable[None]],
        system_now: Callable[[], datetime] = system_now,
    ) -> None:
        """`system_now`: the system clock, steps included, on purpose: APScheduler compares the
        times it is given with the system's time (see follow_clock), not warnd's timeline."""
        self._poll = poll
        self._health = health
        self._system_now = system_now
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def feeds(self, feeds: Iterable[FeedSpec]) -> None:
        """One job per feed: feeds gone are removed, a changed interval or jitter is applied to
        the running job (its next poll stays), a new feed is polled at once."""
        wanted = {f"{_FEED}{spec.id}": spec for spec in feeds}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(_FEED) and job.id not in wanted:
                job.remove()
        now = self._system_now()
        for job_id, spec in wanted.items():
            existing = self.scheduler.get_job(job_id)
            if existing is not None:
                trigger = existing.trigger
                if getattr(trigger, "interval_length", None) != spec.interval or getattr(trigger, "jitter", None) != (
                    spec.jitter or None
                ):
                    self.scheduler.reschedule_job(
                        job_id, trigger="interval", seconds=spec.interval, jitter=spec.jitter or None
                    )
                continue
            self.scheduler.add_job(
                self._poll,
                "interval",
                args=[spec.id],
                id=job_id,
                seconds=spec.interval,
                jitter=spec.jitter or None,
                next_run_time=now,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

    def health(self, feeds: Iterable[FeedSpec]) -> None:
        self.scheduler.add_job(
            self._health, "interval", id="health", seconds=health_every(feeds), coalesce=True, max_instances=1
        )

    def poll_all_now(self) -> None:
        now = self._system_now()
        for job in self.scheduler.get_jobs():
            if job.id.startswith(_FEED):
                job.modify(next_run_time=now)

    def anew(self, feeds: Iterable[FeedSpec]) -> None:
        specs = list(feeds)
        self.scheduler.remove_all_jobs()
        self.feeds(specs)
        self.health(specs)

    async def follow_clock(
        self, clock: Clock, feeds: Callable[[], Iterable[FeedSpec]], stepped: Callable[[], Awaitable[None]]
    ) -> None:
        """Notice a step of the system clock within a second (the loop sleeps on the monotonic
        clock, so this runs whatever the step) and schedule every job again: APScheduler keeps
        its triggers in system time, and a step back would otherwise stall every poll for as
        long as the step."""
        if not isinstance(clock, SystemClock):
            return
        while True:
            clock.now()
            for step in steady.steps():
                # Scheduled anew from the new system time: every feed polled now, then on its
                # interval (a poll still inside a backoff returns at once, on warnd's timeline).
                self.anew(feeds())
                log.error(
                    "clock.stepped",
                    step_s=round(step, 3),
                    offset_s=round(steady.offset, 3),
                    notice="the system clock jumped; warnd keeps its own timeline (cooldowns, retries,"
                    " polls unchanged) until it is restarted: check the time source, then restart warnd",
                )
                await stepped()
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self.scheduler.start()

    def pause(self) -> None:
        self.scheduler.pause()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
