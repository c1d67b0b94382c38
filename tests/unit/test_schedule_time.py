"""The scheduler is told times on the system clock it is given, never on one it reads itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from warnd.config.schema import FeedSpec
from warnd.runtime.schedule import Schedule

# Far from today: a time read from the system instead of the one given cannot match it.
SYSTEM = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _nothing(*_: object) -> None:
    return None


def _next_runs(system_now: list[datetime]) -> tuple[datetime | None, datetime | None]:
    async def run() -> tuple[datetime | None, datetime | None]:
        schedule = Schedule(_nothing, _nothing, system_now=lambda: system_now[0])
        schedule.start()
        schedule.pause()  # nothing runs: only the times set are looked at
        try:
            schedule.feeds([FeedSpec(id="quakes", format="bmkg-tews", url="http://127.0.0.1:9/q.json", interval=600)])
            job = schedule.scheduler.get_job("feed:quakes")
            first = job.next_run_time if job else None
            system_now[0] += timedelta(hours=5)
            schedule.poll_all_now()
            job = schedule.scheduler.get_job("feed:quakes")
            return first, job.next_run_time if job else None
        finally:
            schedule.shutdown()

    return asyncio.run(run())


def test_a_new_feed_and_poll_all_now_use_the_system_time_given() -> None:
    first, after = _next_runs([SYSTEM])
    assert first == SYSTEM
    assert after == SYSTEM + timedelta(hours=5)
