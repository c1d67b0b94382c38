"""A host's request budget: a sliding window, polls held back (never dropped), critical feeds
first, the window carried over a restart; and the phases of a group of feeds."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from warnd.clock import SystemClock
from warnd.config.schema import DEFAULT_HOSTS, FeedSpec, HostSettings
from warnd.runtime.host_budget import BudgetClosed, HostBudgets, host_of
from warnd.runtime.schedule import Schedule, phases

HOST = "data.bmkg.go.id"


def _budgets(per_minute: int | None, window: float = 0.6) -> HostBudgets:
    return HostBudgets(SystemClock(), lambda: {HOST: HostSettings(per_minute=per_minute)}, window=window, margin=0.0)


def test_a_request_over_the_budget_waits_for_the_oldest_to_leave_the_window() -> None:
    async def run() -> list[float]:
        b = _budgets(3)
        started = time.monotonic()
        done: list[float] = []

        async def one(i: int) -> None:
            await b.acquire(HOST, critical=False, feed=f"f{i}")
            done.append(time.monotonic() - started)

        await asyncio.gather(*(one(i) for i in range(5)))
        snap = b.snapshot()[0]
        assert snap["deferred"] == 2 and snap["requests"] == 5 and snap["most_in_a_minute"] == 3
        return sorted(done)

    done = asyncio.run(run())
    assert all(t < 0.1 for t in done[:3]), done
    assert all(0.55 <= t < 0.9 for t in done[3:]), done


def test_critical_feeds_get_the_freed_slot_first() -> None:
    async def run() -> list[str]:
        b = _budgets(1)
        await b.acquire(HOST, critical=False, feed="first")
        order: list[str] = []

        async def one(feed: str, critical: bool) -> None:
            await b.acquire(HOST, critical=critical, feed=feed)
            order.append(feed)

        # The ordinary poll asked first; the tsunami feed still goes first.
        t1 = asyncio.ensure_future(one("gauges", False))
        await asyncio.sleep(0.05)
        t2 = asyncio.ensure_future(one("tsunami", True))
        await asyncio.gather(t1, t2)
        return order

    assert asyncio.run(run()) == ["tsunami", "gauges"]


def test_the_window_is_carried_over_a_restart() -> None:
    async def run() -> tuple[float, float]:
        saved: list[str] = []

        async def persist(window: str) -> None:
            saved.append(window)

        first = HostBudgets(
            SystemClock(), lambda: {HOST: HostSettings(per_minute=2)}, persist=persist, window=0.6, margin=0.0
        )
        for _ in range(2):
            await first.acquire(HOST, critical=True, feed="a")
        await first.flush()
        assert len(json.loads(saved[-1])[HOST]) == 2
        # The next process reads what the last one wrote: its first request waits.
        second = HostBudgets(SystemClock(), lambda: {HOST: HostSettings(per_minute=2)}, window=0.6, margin=0.0)
        second.load(saved[-1])
        waited = await second.acquire(HOST, critical=True, feed="a")
        fresh = _budgets(2)
        return waited, await fresh.acquire(HOST, critical=True, feed="a")

    waited, fresh = asyncio.run(run())
    assert waited >= 0.5 and fresh < 0.05


def test_only_a_host_with_a_budget_is_written_for() -> None:
    async def run() -> list[str]:
        saved: list[str] = []

        async def persist(window: str) -> None:
            saved.append(window)

        other = "example.org"
        b = HostBudgets(
            SystemClock(),
            lambda: {HOST: HostSettings(per_minute=50), other: HostSettings(per_minute=None)},
            persist=persist,
        )
        for _ in range(5):
            await b.acquire(other, critical=False, feed="a")
        await b.flush()
        assert saved == []  # nothing a restart needs
        await b.acquire(HOST, critical=False, feed="b")
        await b.flush()
        return saved

    saved = asyncio.run(run())
    # The budgeted host's request is written, and the other host's times go with it.
    assert len(saved) == 1 and set(json.loads(saved[0])) == {HOST, "example.org"}


def test_no_budget_counts_without_holding_back_and_closing_releases_waiters() -> None:
    async def run() -> None:
        free = _budgets(None)
        for _ in range(20):
            assert await free.acquire(HOST, critical=False, feed="a") < 0.05
        assert free.snapshot()[0]["requests_last_minute"] == 20
        b = _budgets(1, window=60.0)
        await b.acquire(HOST, critical=False, feed="a")
        waiting = asyncio.ensure_future(b.acquire(HOST, critical=False, feed="b"))
        await asyncio.sleep(0.05)
        assert b.snapshot()[0]["waiting"] == 1
        b.close()
        try:
            await asyncio.wait_for(waiting, 1.0)
        except BudgetClosed:
            pass
        else:
            raise AssertionError("a waiting poll went ahead after close")

    asyncio.run(run())


def test_hosts_and_defaults() -> None:
    assert host_of("https://user:pw@Data.BMKG.go.id:443/x.json") == HOST
    assert host_of("/var/lib/feeds/x.json") is None and host_of("file:///x") is None
    assert DEFAULT_HOSTS[HOST].per_minute == 50


def _spec(fid: str, interval: float, group: str | None = "q") -> FeedSpec:
    return FeedSpec(id=fid, format="bmkg-tews", url=f"http://127.0.0.1:9/{fid}", interval=interval, group=group)


def test_a_group_is_spread_over_its_shortest_interval_in_id_order() -> None:
    specs = [_spec("d", 5), _spec("a", 5), _spec("c", 10), _spec("b", 5), _spec("alone", 5, None)]
    assert phases(specs) == {"a": 0.0, "b": 1.25, "c": 2.5, "d": 3.75}


def test_grouped_jobs_run_on_their_phase_and_poll_all_now_keeps_it() -> None:
    now = datetime(2031, 1, 2, 3, 4, 5, 300_000, tzinfo=UTC)

    async def _nothing(*_: object) -> None:
        return None

    async def run() -> dict[str, float]:
        schedule = Schedule(_nothing, _nothing, system_now=lambda: now)
        schedule.start()
        schedule.pause()
        try:
            schedule.feeds([_spec("a", 4), _spec("b", 4), _spec("alone", 4, None)])
            schedule.poll_all_now()
            out = {}
            for fid in ("a", "b", "alone"):
                job = schedule.scheduler.get_job(f"feed:{fid}")
                assert job is not None and job.next_run_time is not None
                out[fid] = job.next_run_time.timestamp()
            return out
        finally:
            schedule.shutdown()

    got = asyncio.run(run())
    assert got["a"] % 4 == 0.0 and got["b"] % 4 == 2.0
    assert 0 <= got["a"] - now.timestamp() < 4 and 0 <= got["b"] - now.timestamp() < 4
    assert got["alone"] == now.timestamp()


def test_a_window_read_twice_counts_each_request_once_and_requests_of_one_instant_each() -> None:
    now = time.time()
    saved = json.dumps({HOST: [now - 10, now - 5, now - 5, now - 120]})
    b = _budgets(10, window=60.0)
    b.load(saved)
    b.load(saved)  # a node elected again reads what it wrote itself
    # Two requests of one millisecond are two; the one of two minutes ago is gone.
    assert b.snapshot()[0]["requests_last_minute"] == 3
