"""The daemon's poll path without the daemon: one feed polled from a loopback server by the real
Poller, ingested into a real SQLite store with a real configuration, metrics and notices kept,
for tests that read what a poll logged, counted, queued and raised."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import write_config
from warnd.clock import FixedClock
from warnd.config.outbound import Outbound
from warnd.metrics import Metrics
from warnd.pollers.fetch import Fetcher
from warnd.runtime.build import build
from warnd.runtime.conditions import Condition, Live, collect
from warnd.runtime.ingest import Ingest, IngestReport
from warnd.runtime.notices import NoticeBoard
from warnd.runtime.poll import Poller
from warnd.store.db import connect
from warnd.store.feedstate import FeedStates

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")


class RecordingIngest(Ingest):
    """The daemon's ingest, keeping the warnings it queued for the test to read."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.warnings: list[Any] = []

    def handle(self, feed: str, result: Any, **kw: Any) -> IngestReport:
        report = super().handle(feed, result, **kw)
        self.warnings += report.warnings
        return report


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        *,
        feed: str,
        fmt: str,
        url: str,
        rules: str,
        accounts: str,
        now: datetime,
        extra: str = "",
        feed_extra: str = "",
    ) -> None:
        """`feed_extra`: more keys of the feed's entry, one `key: value` a line."""
        self.feed = feed
        self.started = now
        feeds = f"  - id: {feed}\n    format: {fmt}\n    url: {url}\n    interval: 5s\n"
        feeds += "".join(f"    {line}\n" for line in feed_extra.splitlines())
        self.cfg = write_config(tmp_path, feeds=feeds, rules=rules, accounts=accounts, extra=extra)
        self.bundle = build(self.cfg, with_senders=False)
        self.conn = connect(tmp_path / "state.db")
        self.clock = FixedClock(now)
        self.metrics = Metrics()
        self.ingest = RecordingIngest(self.conn, self.clock, lambda: self.bundle, explain=False)
        self.board = NoticeBoard(self.conn, self.clock, self.metrics, lambda: [])

    def poll(self) -> None:
        async def go() -> None:
            fetcher = Fetcher("warnd-test", self.cfg.parent, DIRECT)
            states = FeedStates(self.conn)
            poller = Poller(fetcher, self.ingest, states, self.clock, lambda: self.bundle, lambda: None, self.metrics)
            try:
                await poller.poll(self.feed)
            finally:
                await fetcher.aclose()

        asyncio.run(go())

    @property
    def warnings(self) -> list[Any]:
        return self.ingest.warnings

    def counted(self, metric: str) -> float:
        return self.metrics.registry.get_sample_value(metric, {"feed": self.feed}) or 0.0

    def reconcile(self, kind: str) -> list[Condition]:
        found = collect(self.conn, self.bundle, self.clock.now(), Live(started=self.started))
        self.board.reconcile(found)
        return [c for c in found if c.kind == kind]
