"""One poll of one feed: fetch, parse, follow links, ingest, and keep the feed's health.

A failed poll changes nothing but the feed's health: the ledger keeps the last known state, so
an outage is never an all-clear. Failures back off exponentially (with jitter, up to the feed's
`backoff_max`) and the first good poll clears them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from warnd.clock import WIB, Clock
from warnd.config.schema import FeedSpec, is_local
from warnd.errors import FeedError
from warnd.metrics import Metrics
from warnd.model import ParseResult, Reason, Source
from warnd.obs import get_logger
from warnd.pipeline.issue import CapOrder
from warnd.pollers.fetch import Fetcher, Validators, local_path
from warnd.pollers.registry import Parser
from warnd.redact import public_url, redact_url, scrub
from warnd.runtime.build import Bundle
from warnd.runtime.host_answers import HostAnswers
from warnd.runtime.host_budget import BudgetClosed, HostBudgets, host_of
from warnd.runtime.ingest import Ingest, IngestReport
from warnd.runtime.maps import Drawing
from warnd.runtime.membership import NotLeader
from warnd.store.backend import DatabaseError
from warnd.store.feedstate import FeedState, FeedStates
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.poll")


def backoff_delay(spec: FeedSpec, failures: int, rnd: random.Random) -> float:
    """Seconds until the next try after `failures` failures in a row: the interval doubled per
    failure, capped, and spread by +-20 % so that many feeds failing together (one upstream
    down) do not come back in lockstep."""
    base = spec.interval * (2 ** max(failures - 1, 0))
    return float(min(base, max(spec.backoff_max, spec.interval)) * rnd.uniform(0.8, 1.2))


class Poller:
    def __init__(
        self,
        fetcher: Fetcher,
        ingest: Ingest,
        states: FeedStates,
        clock: Clock,
        bundle: Callable[[], Bundle],
        on_warnings: Callable[[], None],
        metrics: Metrics | None = None,
        may_poll: Callable[[], bool] = lambda: True,
        store: StoreWorker | None = None,
        on_drawings: Callable[[list[Drawing]], None] = lambda drawings: None,
        budgets: HostBudgets | None = None,
        answers: HostAnswers | None = None,
        on_caps: Callable[[list[CapOrder]], None] = lambda orders: None,
        answered: dict[str, datetime] | None = None,
    ) -> None:
        """`may_poll`: whether this node polls now (the leader, when several share the store).
        `store`: where the feed's state and its documents are written (by default, in the caller).
        `on_drawings`: the committed warnings whose maps are to be drawn (runtime.maps).
        `on_caps`: the CAP documents of the committed warnings, made once the text posts are on
        their way (runtime.cap_fill; an ingest that defers them needs it).
        `budgets`: each request to a host takes a slot of its budget first. `answers`: what the
        hosts' answers teach (conditional requests honoured, a cache in front). `answered`: filled
        with each feed's latest good answer, for readers of the feeds' states (FeedStates)."""
        self.budgets = budgets
        self.answers = answers or HostAnswers()
        self.on_drawings = on_drawings
        self.on_caps = on_caps
        self.store = store or inline()
        # The feed's validators are read on the store's reading connection, when it has one: a
        # poll never waits behind a write that waits out another process's lock.
        self.reads = FeedStates(self.store.reader) if self.store.reader is not None else states
        # A poll that found nothing new records that without waiting: the latest such record
        # per feed, written in turn, so that a held lock slows the records, not the polls.
        self._unchanged: dict[str, dict[str, Any]] = {}
        self.answered = answered if answered is not None else {}
        self.may_poll = may_poll
        self.fetcher = fetcher
        self.ingest = ingest
        self.states = states
        self.clock = clock
        self.bundle = bundle
        self.on_warnings = on_warnings
        self.metrics = metrics or Metrics()
        self.in_flight: set[asyncio.Task[None]] = set()
        # Why the last poll could not write to the state database, until one can again.
        self.store_error: str | None = None
        self.rnd = random.Random()  # noqa: S311 -- spreading retries, not a secret

    async def poll(self, feed_id: str) -> None:
        if not self.may_poll():
            return
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
        try:
            state = await self.store.read(self.reads.get, feed_id)
        except DatabaseError as e:
            self.store_error = str(e)
            flog.error("store.failed", error=str(e), detail="not polled: the feed's state cannot be read")
            return
        now = self.clock.now()
        if state.next_poll_at and now < datetime.fromisoformat(state.next_poll_at.replace("Z", "+00:00")):
            flog.debug("feed.backing_off", until=state.next_poll_at, failures=state.failures)
            return
        # A URL from a credential may carry its secret anywhere in it: every message that could
        # quote it is scrubbed, and parsers only see it without userinfo or secret parameters.
        from_credential = spec.url is None
        url = ""
        try:
            url = b.feed_url(spec)
            target = expand_url(url, now)
            host = host_of(target)
            if host is not None and self.budgets is not None:
                await self.budgets.acquire(host, critical=spec.critical, feed=feed_id)
                target = self._cache_bust(host, target)
            outcome = await self.fetcher.fetch(
                feed_id,
                target,
                timeout=spec.timeout,
                max_bytes=spec.max_bytes,
                validators=Validators(state.etag, state.last_modified),
                sequence=spec.sequence,
            )
            now = self.clock.now()
            # Nothing new, a 304 (it carries the validators sent and no body) or the same body
            # again: recorded as such, never parsed.
            v = outcome.validators
            digest = None if outcome.not_modified else hashlib.sha256(outcome.body).hexdigest()
            if host is not None:
                self.answers.observe(
                    host,
                    feed_id,
                    conditional=bool(state.etag or state.last_modified),
                    not_modified=outcome.not_modified,
                    same_body=digest is not None and digest == state.body_hash,
                    age=outcome.age,
                    max_age=outcome.max_age,
                )
            if digest is None or digest == state.body_hash:
                self.answered[feed_id] = now
                if _worth_writing(spec, state, now, v, digest):
                    self._record_unchanged(
                        feed_id, flog, now=now, etag=v.etag, last_modified=v.last_modified, body_hash=digest
                    )
                flog.debug(
                    "feed.same_body" if digest else "feed.not_modified", elapsed_ms=round(outcome.elapsed * 1000, 1)
                )
                self.metrics.polls.labels(feed_id, "not_modified").inc()
                return
            started = time.perf_counter()
            # A sequence's document is the file read, for its parser and its relative links.
            read = url if outcome.document is None else str(local_path(url, self.fetcher.base) / outcome.document)
            result = _parse(parser, spec, outcome.body, Source(feed_id, now, public_url(read)))
            result, followed, complete = await self._follow(spec, parser, result, read)
            # A feed never polled successfully has no memory here (a first start, a lost state, a
            # feed just added): what it already holds is its baseline, not news. A replay of
            # recorded documents takes every document as current.
            baseline = state.last_ok is None and not b.config.file.replay
            # A record of an unchanged poll not yet handed over would land after this document's
            # and put back the validators of the one before.
            self._unchanged.pop(feed_id, None)
            # The feed's state (its validators) is written in the document's own transaction.
            record = functools.partial(self._ingested, feed_id, now, v, digest, result, followed, complete)
            report = await self.store.run(self.ingest.handle, feed_id, result, baseline=baseline, then=record)
            self.answered[feed_id] = now
            took = time.perf_counter() - started
            if report.warnings:
                # Committed: the dispatcher goes now, before anything else of this poll. The
                # maps are started first, so a sender asking for one finds it under way; the
                # dispatcher does not wait for them.
                self.on_drawings(report.drawings)
                self.on_warnings()
            self._count(feed_id, result, report)
            self._stored(flog)
            if baseline:
                flog.info(
                    "feed.baseline",
                    events=len(result.events),
                    held=report.too_old[Reason.BASELINE.value],
                    warnings=len(report.warnings),
                    detail="first poll of this feed: what it holds is recorded; only what is recent"
                    " enough (max_age) is posted",
                )
            flog.info(
                "feed.polled",
                events=len(result.events),
                rejected=report.rejected,
                warnings=len(report.warnings),
                links=len(followed),
                **({"document": outcome.document} if outcome.document else {}),
                **report.changes,
                elapsed_ms=round(outcome.elapsed * 1000, 1),
                ingest_ms=round(took * 1000, 1),
            )
            if report.caps:
                self.on_caps(report.caps)
        except BudgetClosed:
            flog.info("poll.abandoned", reason="stopping", detail="the poll was waiting for the host's budget")
        except NotLeader as e:
            # Another node took over while this one fetched: it polls from here on.
            flog.warning("poll.abandoned", reason=str(e), detail="nothing recorded; the leader polls this feed")
        except DatabaseError as e:
            # Disk full, a lock held too long: nothing of this document was recorded (one
            # transaction), so the next poll reads it again. Loud, and on /healthz as failing.
            self.store_error = str(e)
            flog.error(
                "store.failed",
                error=str(e),
                detail="nothing from this document was recorded; it is read again on the next poll",
            )
            self.metrics.polls.labels(feed_id, "error").inc()
        except FeedError as e:
            now = self.clock.now()
            error = scrub(e.message, url, from_credential=from_credential)
            try:
                failures = await self.store.run(self.states.failed, feed_id, now, error)
                delay = backoff_delay(spec, failures, self.rnd)
                await self.store.run(self.states.back_off, feed_id, now + timedelta(seconds=delay))
            except DatabaseError as se:
                self.store_error = str(se)
                failures, delay = 0, spec.interval
                flog.error("store.failed", error=str(se), detail="the feed's failure could not be recorded")
            flog.error("feed.failed", error=error, failures=failures, retry_in_s=round(delay, 1))
            self.metrics.polls.labels(feed_id, "error").inc()

    def _cache_bust(self, host: str, url: str) -> str:
        """Only where the operator asked for it (hosts.<host>.cache_bust): see runtime.host_answers."""
        assert self.budgets is not None
        settings = self.budgets.settings().get(host)
        if settings is None or not settings.cache_bust:
            return url
        return f"{url}{'&' if '?' in url else '?'}_warnd={int(self.clock.now().timestamp())}"

    def _record_unchanged(self, feed_id: str, flog: Any, **state: Any) -> None:
        if not self.store.threaded:
            self.states.ok(feed_id, changed=False, **state)
            self._stored(flog)
            return
        pending = feed_id in self._unchanged
        self._unchanged[feed_id] = state
        if pending:
            return  # the writer already running for this feed takes the newer record
        task = asyncio.ensure_future(self._write_unchanged(feed_id, flog))
        # Awaited at shutdown with the polls.
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _write_unchanged(self, feed_id: str, flog: Any) -> None:
        while (state := self._unchanged.get(feed_id)) is not None:
            try:
                await self.store.run(self.states.ok, feed_id, changed=False, **state)
            except DatabaseError as e:
                self.store_error = str(e)
                flog.error("store.failed", error=str(e), detail="the poll's outcome could not be recorded")
            else:
                self._stored(flog)
            if self._unchanged.get(feed_id) is state:
                del self._unchanged[feed_id]

    def _ingested(
        self,
        feed_id: str,
        now: datetime,
        v: Validators,
        digest: str,
        result: ParseResult,
        followed: list[str],
        complete: bool,
    ) -> None:
        """Validators are stored with the document's events, in its transaction: a crash before
        its commit makes the next poll fetch and ingest the document again. When a linked document
        could not be fetched, the index is read again next time too."""
        self.states.ok(feed_id, now, etag=v.etag, last_modified=v.last_modified, body_hash=digest, changed=True)
        for url in followed:
            self.states.follow(feed_id, url, now)
        if result.links:
            self.states.keep_links(feed_id, set(result.links))
        if not complete:
            self.states.forget_body(feed_id)

    def _stored(self, flog: Any) -> None:
        """A write went through: the store works again."""
        if self.store_error is not None:
            flog.info("store.recovered", error_was=self.store_error)
            self.store_error = None

    def _count(self, feed_id: str, result: ParseResult, report: IngestReport) -> None:
        # Counted after the document's transaction committed: a rolled-back document counts
        # when it is read again.
        m = self.metrics
        m.polls.labels(feed_id, "ok").inc()
        for change, n in report.changes.items():
            if n:
                m.events.labels(feed_id, change).inc(n)
        for r in result.rejected:
            m.rejected.labels(feed_id, r.reason.value).inc()
        for w in report.warnings:
            m.warnings.labels(w.kind.value).inc()
        if report.unmapped_places["felt"]:
            m.felt_unmapped.labels(feed_id).inc(report.unmapped_places["felt"])
        if report.unmapped_places["description"]:
            m.described_unmapped.labels(feed_id).inc(report.unmapped_places["description"])
        for reason, n in report.suppressed.items():
            m.suppressed.labels(reason).inc(n)
        if report.unmapped_zones:
            m.zones_unmapped.labels(feed_id).inc(len(report.unmapped_zones))

    async def _follow(
        self, spec: FeedSpec, parser: Parser, index: ParseResult, base: str
    ) -> tuple[ParseResult, list[str], bool]:
        """Fetch and parse the documents an index links to and has not been read before. `base`:
        the index's URL as fetched (relative links on its host are read with its credentials)."""
        if not index.links:
            return index, [], True
        done = await self.store.read(self.reads.followed, spec.id)
        todo = [u for u in index.links if u not in done]
        complete = len(todo) <= spec.max_links
        events = list(index.events)
        rejected = list(index.rejected)
        followed: list[str] = []
        for url in todo[: spec.max_links]:
            target = resolve(base, url, self.fetcher.base)
            host = host_of(target)
            if host is not None and self.budgets is not None:
                await self.budgets.acquire(host, critical=spec.critical, feed=spec.id)
            try:
                out = await self.fetcher.fetch(
                    spec.id, target, timeout=spec.timeout, max_bytes=spec.max_bytes, validators=Validators()
                )
                sub = _parse(parser, spec, out.body, Source(spec.id, self.clock.now(), public_url(target)))
            except FeedError as e:
                error = scrub(scrub(e.message, target), base, from_credential=spec.url is None)
                log.warning("feed.link_failed", feed=spec.id, url=redact_url(target), error=error)
                complete = False
                continue
            events.extend(sub.events)
            rejected.extend(sub.rejected)
            followed.append(url)
        return ParseResult(tuple(events), tuple(rejected), index.links), followed, complete


# How old the stored time of a feed's last good answer may grow before an unchanged answer is
# written: a 304 changes nothing else, and a write transaction a poll is work for nothing.
# The polling node's readers see every answer (FeedStates' `answered`); `warnd status` run
# beside it, and a node taking over, see the stored time, this much older at most.
ANSWER_REFRESH = 60.0


def answer_refresh(spec: FeedSpec) -> float:
    """Kept to a quarter of the feed's stale_after, so the stored time alone never makes it stale."""
    return ANSWER_REFRESH if spec.stale_after is None else min(ANSWER_REFRESH, spec.stale_after / 4)


def _worth_writing(spec: FeedSpec, state: FeedState, now: datetime, v: Validators, digest: str | None) -> bool:
    """Whether an unchanged answer changes the stored state: a recovery, new validators, or a
    stored answer time older than the feed's refresh."""
    if state.failures or state.next_poll_at or state.failing_since or state.last_ok is None:
        return True
    if (v.etag, v.last_modified) != (state.etag, state.last_modified):
        return True
    if digest is not None and digest != state.body_hash:
        return True
    stored = datetime.fromisoformat(state.last_ok.replace("Z", "+00:00"))
    return (now - stored).total_seconds() >= answer_refresh(spec)


def _parse(parser: Parser, spec: FeedSpec, body: bytes, src: Source) -> ParseResult:
    """A parser that fails in a way nobody foresaw fails its feed, loudly, like any bad document:
    the feed backs off and shows as failing, and the daemon and the other feeds go on."""
    try:
        return parser(body, src)
    except FeedError:
        raise
    except Exception as e:
        log.exception("parser.crashed", feed=spec.id, format=spec.format, url=redact_url(src.url))
        raise FeedError(spec.id, f"the {spec.format} parser failed on this document: {type(e).__name__}") from e


def expand_url(url: str, now: datetime) -> str:
    """Date placeholders for endpoints that want one (the DSDA history): {wib_date} is today's
    date in WIB as dd-mm-yyyy, {wib_date_yesterday} the day before."""
    if "{" not in url:
        return url
    today = now.astimezone(WIB)
    return url.replace("{wib_date}", f"{today:%d-%m-%Y}").replace(
        "{wib_date_yesterday}", f"{today - timedelta(days=1):%d-%m-%Y}"
    )


def resolve(base: str, link: str, root: Path) -> str:
    """A link as the fetcher can read it: relative to the index's URL or, for an index read
    from disk, to its folder."""
    if not is_local(base):
        return urljoin(base, link)
    if "://" in link or Path(link).is_absolute():
        return link
    return str(local_path(base, root).parent / link)
