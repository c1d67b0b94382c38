"""When feeds are polled and health is checked: one APScheduler job per feed on its interval and
jitter, and the health round often enough to notice staleness and failing feeds in time.

Feeds of one group (`group:` in the catalogue: documents that carry the same events) are
staggered: the group's shortest interval T is cut into N phases, one per feed (in id order), and
each feed polls on its own interval from its phase of a grid anchored at the Unix epoch. The
group's polls then fall every T/N seconds, so a new quake, published into every document at
once, is seen within T/N rather than T; and the grid is the same after a restart or a reload.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

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


_SKIPPED = re.compile(r'job "feed:(\S+) \(.*maximum number of running instances')


class _QuietSkips(logging.Filter):
    """APScheduler warns each time a feed's run is skipped because its last poll still runs. A
    poll held back by its host's budget makes that the plan, not a fault: those skips are not
    logged (the deferral is, once, as host.budget_deferred); every other skip still is."""

    def __init__(self, expected: Callable[[str], bool]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        m = _SKIPPED.search(record.getMessage())
        return m is None or not self.expected(m.group(1))


def phases(feeds: Iterable[FeedSpec]) -> dict[str, float]:
    """Seconds after each multiple of its group's shortest interval at which a grouped feed polls."""
    groups: dict[str, list[FeedSpec]] = {}
    for spec in feeds:
        if spec.group is not None:
            groups.setdefault(spec.group, []).append(spec)
    out: dict[str, float] = {}
    for members in groups.values():
        period = min(m.interval for m in members)
        ordered = sorted(members, key=lambda m: m.id)
        for i, m in enumerate(ordered):
            out[m.id] = period * i / len(ordered)
    return out


def _trigger(spec: FeedSpec, phase: float | None) -> dict[str, Any]:
    """The interval trigger of a feed: a grouped one on its phase of the epoch grid, no jitter."""
    if phase is None:
        return {"seconds": spec.interval, "jitter": spec.jitter or None}
    return {"seconds": spec.interval, "start_date": datetime.fromtimestamp(phase, UTC)}


def _on_grid(now: datetime, interval: float, phase: float) -> datetime:
    """The first time at or after `now` that is `phase` seconds past a multiple of `interval`
    (from the epoch), computed from the system time given, never one APScheduler reads itself."""
    t = now.timestamp()
    return datetime.fromtimestamp(phase + math.ceil((t - phase) / interval) * interval, UTC)


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
        held_back: Callable[[str], bool] = lambda feed: False,
    ) -> None:
        """`system_now`: the system clock, steps included, on purpose: APScheduler compares the
        times it is given with the system's time (see follow_clock), not warnd's timeline.
        `held_back`: whether a feed's poll waits for its host's budget now."""
        self._poll = poll
        self._health = health
        self._system_now = system_now
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._quiet = _QuietSkips(held_back)
        logging.getLogger("apscheduler.scheduler").addFilter(self._quiet)
        self._triggers: dict[str, dict[str, Any]] = {}

    def feeds(self, feeds: Iterable[FeedSpec]) -> None:
        """One job per feed: feeds gone are removed, a changed interval, jitter or group is applied
        to the running job (a grouped feed moves to its new phase), a new feed is polled at once
        (a grouped one at its phase)."""
        specs = list(feeds)
        wanted = {f"{_FEED}{spec.id}": spec for spec in specs}
        phase = phases(specs)
        for job in self.scheduler.get_jobs():
            if job.id.startswith(_FEED) and job.id not in wanted:
                job.remove()
        now = self._system_now()
        for job_id, spec in wanted.items():
            trigger = _trigger(spec, phase.get(spec.id))
            existing = self.scheduler.get_job(job_id)
            if existing is not None:
                if self._triggers.get(job_id) != trigger:
                    self.scheduler.reschedule_job(job_id, trigger="interval", **trigger)
                    if spec.id in phase:
                        self.scheduler.modify_job(job_id, next_run_time=_on_grid(now, spec.interval, phase[spec.id]))
                    self._triggers[job_id] = trigger
                continue
            self._triggers[job_id] = trigger
            self.scheduler.add_job(
                self._poll,
                "interval",
                args=[spec.id],
                id=job_id,
                name=job_id,
                **trigger,
                # A feed of a group first polls at its phase (within its group's interval), so the
                # group starts staggered; any other feed at once.
                next_run_time=now if spec.id not in phase else _on_grid(now, spec.interval, phase[spec.id]),
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

    def health(self, feeds: Iterable[FeedSpec]) -> None:
        self.scheduler.add_job(
            self._health, "interval", id="health", seconds=health_every(feeds), coalesce=True, max_instances=1
        )

    def poll_all_now(self) -> None:
        """Every feed polled now, but a grouped one: it keeps its phase (a group polls every T/N
        seconds anyway, and moving all of them to now would poll them in lockstep from then on)."""
        now = self._system_now()
        for job in self.scheduler.get_jobs():
            if job.id.startswith(_FEED) and "start_date" not in self._triggers.get(job.id, {}):
                job.modify(next_run_time=now)

    def anew(self, feeds: Iterable[FeedSpec]) -> None:
        specs = list(feeds)
        self.scheduler.remove_all_jobs()
        self._triggers.clear()
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
        logging.getLogger("apscheduler.scheduler").removeFilter(self._quiet)
