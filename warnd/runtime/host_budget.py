"""Requests per host in a sliding minute, kept under each host's budget by holding polls back.

Every request to a host (a feed poll, a document an index links to) first takes a slot here. A
host with a budget (`hosts:` in the config; data.bmkg.go.id allows 60 a minute per address and
warnd keeps to 50) gives a slot only while fewer requests than its budget went to it in the
last 60 seconds; otherwise the poll waits for the oldest request to leave the window. It is
deferred, never dropped, and critical feeds (tsunami, earthquakes) get the freed slots first.

The window outlives the process: the times of the requests of the last minute to a host with a
budget are written to the state database (the `meta` table) as they are taken (at most the
budget's count of writes a minute), and read back at start, so a restart
(which polls every feed at once) cannot spend a minute's budget a second time. A reload keeps
the same keeper, so it keeps the window too.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from warnd.clock import Clock
from warnd.config.schema import HostSettings
from warnd.obs import get_logger

log = get_logger("warnd.hosts")

WINDOW = 60.0
# A request leaves the window a second after its minute: the host sees it some milliseconds
# after warnd took the slot (a connection, a TLS handshake), and its own minute must hold too.
MARGIN = 1.0
STATE_KEY = "host_requests"


class BudgetClosed(Exception):
    """The daemon is stopping: a poll still waiting for a slot is not made (the next start polls)."""


def host_of(url: str) -> str | None:
    """The host a request goes to (lower case, without port or credentials); None for a file."""
    if "://" not in url or url.startswith("file://"):
        return None
    return (urlparse(url).hostname or "").lower() or None


@dataclass
class _Host:
    times: deque[float] = field(default_factory=deque)
    # (0 critical | 1 other, arrival): the waiting polls, best first.
    queue: list[tuple[int, int]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    requests: int = 0
    deferred: int = 0
    deferred_s: float = 0.0
    most_in_window: int = 0

    def prune(self, now: float, window: float) -> None:
        while self.times and self.times[0] <= now - window:
            self.times.popleft()


class HostBudgets:
    def __init__(
        self,
        clock: Clock,
        settings: Callable[[], Mapping[str, HostSettings]],
        persist: Callable[[str], Awaitable[None]] | None = None,
        window: float = WINDOW,
        margin: float = MARGIN,
    ) -> None:
        """`settings`: the running config's hosts (read at each request, so a reload applies at
        once). `persist`: writes the window's JSON to the store. `window`: seconds (tests shorten it)."""
        self.clock = clock
        self.settings = settings
        self.persist = persist
        self.window = window + margin
        self.hosts: dict[str, _Host] = {}
        self._arrivals = itertools.count()
        self._closed = False
        # Feeds whose poll waits for a slot now: their runs skipped meanwhile are expected.
        self.waiting_feeds: set[str] = set()
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None

    def limit(self, host: str) -> int | None:
        s = self.settings().get(host)
        return s.per_minute if s is not None else None

    def _host(self, host: str) -> _Host:
        h = self.hosts.get(host)
        if h is None:
            h = self.hosts[host] = _Host()
        return h

    async def acquire(self, host: str, *, critical: bool, feed: str) -> float:
        """Take a slot for one request to `host`; returns the seconds the request was held back."""
        if self._closed:
            raise BudgetClosed(host)
        h = self._host(host)
        ticket = (0 if critical else 1, next(self._arrivals))
        heapq.heappush(h.queue, ticket)
        started = self.clock.now().timestamp()
        deferred = False
        try:
            while True:
                if self._closed:
                    raise BudgetClosed(host)
                now = self.clock.now().timestamp()
                h.prune(now, self.window)
                limit = self.limit(host)
                free = limit is None or len(h.times) < limit
                if free and h.queue[0] == ticket:
                    heapq.heappop(h.queue)
                    self._take(h, now, budgeted=limit is not None)
                    waited = now - started
                    if deferred:
                        h.deferred_s += waited
                        log.info("host.budget_granted", host=host, feed=feed, waited_s=round(waited, 2))
                    return waited
                if not deferred:
                    deferred = True
                    self.waiting_feeds.add(feed)
                    h.deferred += 1
                    log.info(
                        "host.budget_deferred",
                        host=host,
                        feed=feed,
                        budget_per_minute=limit,
                        in_window=len(h.times),
                        detail="the poll waits for a free slot in the host's request budget",
                    )
                timeout = None
                if not free and h.times:
                    timeout = max(0.001, h.times[0] + self.window - now)
                h.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(h.wake.wait(), timeout)
        finally:
            if deferred:
                self.waiting_feeds.discard(feed)
            if ticket in h.queue:
                h.queue.remove(ticket)
                heapq.heapify(h.queue)
            # The next in line looks again: a slot may be free for it now.
            h.wake.set()

    def _take(self, h: _Host, now: float, *, budgeted: bool) -> None:
        h.times.append(now)
        h.requests += 1
        h.most_in_window = max(h.most_in_window, len(h.times))
        if not budgeted:
            # Only a budget needs the window after a restart: a host without one is not written
            # for (it was a write a request, for nothing a restart needs). Its times
            # go with the next budgeted host's write.
            return
        self._dirty = True
        if self.persist is not None and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        # One write at a time, the latest window: a held store slows the records, not the polls.
        while self._dirty and self.persist is not None:
            self._dirty = False
            try:
                await self.persist(self.dump())
            except Exception as e:  # the store logs and counts its own failures
                log.error(
                    "host.budget_store_failed", error=str(e), detail="a restart may not know this minute's requests"
                )
                return

    async def flush(self) -> None:
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=5.0)
        if self._dirty and self.persist is not None:
            self._dirty = False
            await self.persist(self.dump())

    def dump(self) -> str:
        now = self.clock.now().timestamp()
        out: dict[str, list[float]] = {}
        for name, h in self.hosts.items():
            h.prune(now, self.window)
            if h.times:
                out[name] = [round(t, 3) for t in h.times]
        return json.dumps(out, sort_keys=True)

    def load(self, saved: str | None) -> None:
        """The requests of the last minute before a restart count against this minute's budget."""
        if not saved:
            return
        try:
            data = json.loads(saved)
        except ValueError:
            log.error("host.budget_unreadable", detail="the saved request times are not JSON; starting from none")
            return
        now = self.clock.now().timestamp()
        if not isinstance(data, dict):
            return
        for name, times in data.items():
            if not isinstance(times, list):
                continue
            h = self._host(str(name))
            # A time ahead of now (the clock stepped back) counts as now: conservative.
            saved_times = Counter(
                min(round(float(t), 3), now) for t in times if isinstance(t, (int, float)) and t > now - self.window
            )
            # A node taking over reads what the last leader wrote, maybe its own requests among
            # them: each time counts as often as the larger of the two records has it.
            merged = saved_times | Counter(round(t, 3) for t in h.times)
            h.times = deque(sorted(merged.elements()))

    def close(self) -> None:
        """Stopping: polls waiting for a slot give up (a restart polls every feed anyway)."""
        self._closed = True
        for h in self.hosts.values():
            h.wake.set()

    def snapshot(self) -> list[dict[str, Any]]:
        """Per host: its budget, the requests in the last minute, the polls held back."""
        now = self.clock.now().timestamp()
        hosts = sorted(set(self.hosts) | {h for h, s in self.settings().items() if s.per_minute is not None})
        rows = []
        for name in hosts:
            h = self._host(name)
            h.prune(now, self.window)
            rows.append(
                {
                    "host": name,
                    "budget_per_minute": self.limit(name),
                    "requests_last_minute": len(h.times),
                    "most_in_a_minute": h.most_in_window,
                    "requests": h.requests,
                    "deferred": h.deferred,
                    "deferred_s": round(h.deferred_s, 1),
                    "waiting": len(h.queue),
                }
            )
        return rows

    # --- prometheus_client Collector -----------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        budget = GaugeMetricFamily(
            "warnd_host_budget_per_minute", "Requests allowed per sliding minute, per host.", labels=["host"]
        )
        last = GaugeMetricFamily(
            "warnd_host_requests_last_minute", "Requests made to the host in the last 60 s.", labels=["host"]
        )
        waiting = GaugeMetricFamily("warnd_host_waiting", "Polls waiting now for a slot of the host.", labels=["host"])
        total = CounterMetricFamily("warnd_host_requests", "Requests made to the host.", labels=["host"])
        deferred = CounterMetricFamily(
            "warnd_host_deferred", "Polls held back because the host's budget was spent.", labels=["host"]
        )
        for row in self.snapshot():
            if row["budget_per_minute"] is not None:
                budget.add_metric([row["host"]], row["budget_per_minute"])
            last.add_metric([row["host"]], row["requests_last_minute"])
            waiting.add_metric([row["host"]], row["waiting"])
            total.add_metric([row["host"]], row["requests"])
            deferred.add_metric([row["host"]], row["deferred"])
        yield from (budget, last, waiting, total, deferred)
