"""One poll of one feed: fetch, parse, ingest, and keep the feed's health.

A failed poll changes nothing but the feed's health: the ledger keeps the last known state, so
an outage is never an all-clear.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from warnd.clock import Clock
from warnd.errors import FeedError
from warnd.model import Source
from warnd.obs import get_logger
from warnd.pollers.fetch import Fetcher, Validators
from warnd.runtime.build import Bundle
from warnd.runtime.ingest import Ingest
from warnd.store.feedstate import FeedStates

log = get_logger("warnd.poll")


class Poller:
    def __init__(
        self,
        fetcher: Fetcher,
        ingest: Ingest,
        states: FeedStates,
        clock: Clock,
        bundle: Callable[[], Bundle],
        on_warnings: Callable[[], None],
    ) -> None:
        self.fetcher = fetcher
        self.ingest = ingest
        self.states = states
        self.clock = clock
        self.bundle = bundle
        self.on_warnings = on_warnings
        self.in_flight: set[asyncio.Task[None]] = set()

    async def poll(self, feed_id: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            await self._poll(feed_id)
        finally:
            if task is not None:
                self.in_flight.discard(task)

    async def _poll(self, feed_id: str) -> None:
        b = self.bundle()
        loaded = next((f for f in b.config.feeds if f.spec.id == feed_id), None)
        parser = b.parsers.get(feed_id)
        if loaded is None or parser is None:
            return  # removed by a reload while this poll was queued
        spec = loaded.spec
        flog = log.bind(feed=feed_id)
        state = self.states.get(feed_id)
        try:
            outcome = await self.fetcher.fetch(
                feed_id,
                spec.url,
                timeout=spec.timeout,
                max_bytes=spec.max_bytes,
                validators=Validators(state.etag, state.last_modified),
            )
            now = self.clock.now()
            if outcome.not_modified:
                self.states.ok(
                    feed_id, now, etag=state.etag, last_modified=state.last_modified, body_hash=None, changed=False
                )
                flog.debug("feed.not_modified", elapsed_ms=round(outcome.elapsed * 1000, 1))
                return
            digest = hashlib.sha256(outcome.body).hexdigest()
            v = outcome.validators
            if digest == state.body_hash:
                self.states.ok(
                    feed_id, now, etag=v.etag, last_modified=v.last_modified, body_hash=digest, changed=False
                )
                flog.debug("feed.same_body", elapsed_ms=round(outcome.elapsed * 1000, 1))
                return
            result = parser(outcome.body, Source(feed_id, now, spec.url))
            report = self.ingest.handle(feed_id, result)
            # Validators are stored only after the document's events are committed: a crash in
            # between makes the next poll fetch and ingest the document again.
            self.states.ok(feed_id, now, etag=v.etag, last_modified=v.last_modified, body_hash=digest, changed=True)
            flog.info(
                "feed.polled",
                events=len(result.events),
                rejected=report.rejected,
                warnings=len(report.warnings),
                **report.changes,
                elapsed_ms=round(outcome.elapsed * 1000, 1),
            )
            if report.warnings:
                self.on_warnings()
        except FeedError as e:
            failures = self.states.failed(feed_id, self.clock.now(), e.message)
            flog.error("feed.failed", error=e.message, failures=failures)
