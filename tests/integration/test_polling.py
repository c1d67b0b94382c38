"""The poller against a real loopback server: backoff on failures, recovery, staleness notices,
and linked CAP documents followed once. A clock the test moves; everything else real."""

import asyncio
from datetime import UTC, datetime

from tests.conftest import RULES_ANY_QUAKE, sample, write_config
from warnd.clock import FixedClock
from warnd.config.outbound import Outbound
from warnd.pollers.fetch import Fetcher
from warnd.runtime import health
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest
from warnd.runtime.poll import ANSWER_REFRESH, Poller
from warnd.store.db import connect
from warnd.store.feedstate import FeedStates
from warnd.store.ledger import Ledger

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")

T0 = datetime(2026, 2, 16, 15, 0, tzinfo=UTC)


class Rig:
    def __init__(self, tmp_path, feeds):
        self.cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE)
        self.bundle = build(self.cfg, with_senders=False)
        self.conn = connect(tmp_path / "state.db")
        self.clock = FixedClock(T0)
        # The feeds' latest good answers as the polling daemon knows them (its readers see them).
        self.answered = {}
        self.states = FeedStates(self.conn, self.answered)
        # The store alone, as `warnd status` beside the daemon and a node taking over read it.
        self.stored = FeedStates(self.conn)
        self.ledger = Ledger(self.conn)
        self.fetcher = None

    def poller(self):
        self.fetcher = Fetcher("warnd-test", self.cfg.parent, DIRECT)
        ingest = Ingest(self.conn, self.clock, lambda: self.bundle)
        return Poller(
            self.fetcher, ingest, self.states, self.clock, lambda: self.bundle, lambda: None, answered=self.answered
        )

    def poll(self, feed):
        async def go():
            poller = self.poller()
            try:
                await poller.poll(feed)
            finally:
                await self.fetcher.aclose()

        asyncio.run(go())

    def until(self, feed):
        return datetime.fromisoformat(self.states.get(feed).next_poll_at.replace("Z", "+00:00"))

    def specs(self):
        return [f.spec for f in self.bundle.config.feeds]


def feed_yaml(url, fmt="bmkg-tews", **extra):
    fields = {"id": "f1", "format": fmt, "url": url, "interval": "10s", "timeout": "5s", **extra}
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"


def test_failures_back_off_exponentially_then_recover_keeping_state(tmp_path, feed_server):
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    url = feed_server.serve("/auto.json", doc)
    rig = Rig(tmp_path, feed_yaml(url, stale_after="60s", backoff_max="80s"))
    rig.poll("f1")
    assert rig.ledger.count() == 1

    feed_server.serve("/auto.json", b"upstream down", status=500)
    rig.clock.advance(10)
    delays = []
    for expected in (10, 20, 40, 80, 80):
        before = len(feed_server.hits("/auto.json"))
        rig.poll("f1")
        assert len(feed_server.hits("/auto.json")) == before + 1
        wait = (rig.until("f1") - rig.clock.now()).total_seconds()
        assert 0.8 * expected <= wait <= 1.2 * expected, (expected, wait)
        delays.append(wait)
        # A poll due by the schedule but inside the backoff does not touch the server.
        rig.clock.advance(wait / 2)
        rig.poll("f1")
        assert len(feed_server.hits("/auto.json")) == before + 1
        rig.clock.advance(wait / 2 + 0.01)
    state = rig.states.get("f1")
    assert state.failures == 5 and "HTTP 500" in state.last_error
    # The outage is not an all-clear: the quake is still known, untouched.
    assert rig.ledger.count() == 1

    feed_server.serve("/auto.json", doc)
    rig.poll("f1")
    state = rig.states.get("f1")
    assert state.failures == 0 and state.next_poll_at is None


def test_stale_notice_raised_while_failing_and_cleared_on_recovery(tmp_path, feed_server):
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    url = feed_server.serve("/auto.json", doc)
    rig = Rig(tmp_path, feed_yaml(url, stale_after="60s", backoff_max="20s"))
    started = rig.clock.now()
    rig.poll("f1")
    assert health.check(rig.states, rig.specs(), rig.clock.now(), started) == []

    feed_server.serve("/auto.json", b"", status=503)
    for _ in range(8):
        rig.clock.advance(25)
        rig.poll("f1")
    assert health.check(rig.states, rig.specs(), rig.clock.now(), started) == ["f1"]
    since = rig.states.get("f1").stale_since
    assert since is not None
    # Still stale a little later: the notice is raised once, not re-stamped.
    rig.clock.advance(10)
    assert health.check(rig.states, rig.specs(), rig.clock.now(), started) == ["f1"]
    assert rig.states.get("f1").stale_since == since

    feed_server.serve("/auto.json", doc + b"\n")  # a new document
    rig.clock.advance(25)
    rig.poll("f1")
    assert health.check(rig.states, rig.specs(), rig.clock.now(), started) == []
    assert rig.states.get("f1").stale_since is None


def test_a_feed_that_answers_but_never_changes_goes_stale(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"))
    rig = Rig(tmp_path, feed_yaml(url, stale_after="60s"))
    started = rig.clock.now()
    for _ in range(7):
        rig.poll("f1")
        rig.clock.advance(10)
    assert len(feed_server.hits("/auto.json")) == 7
    # Every poll after the first was a 304: healthy, and unchanged for 70 s.
    assert rig.states.get("f1").failures == 0
    assert health.check(rig.states, rig.specs(), rig.clock.now(), started) == ["f1"]


def test_a_304_and_the_same_body_again_are_both_recorded_unchanged(tmp_path, feed_server):
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    tagged = feed_server.serve("/tagged.json", doc)
    bare = feed_server.serve("/bare.json", doc, etag=False)
    feeds = feed_yaml(tagged) + feed_yaml(bare).replace("id: f1", "id: f2")
    rig = Rig(tmp_path, feeds)
    rig.poll("f1")
    rig.poll("f2")
    first = {f: rig.states.get(f) for f in ("f1", "f2")}
    assert first["f1"].etag and first["f2"].etag is None
    rig.clock.advance(10)
    rig.poll("f1")
    rig.poll("f2")
    assert [h.get("If-None-Match") for h in feed_server.hits("/tagged.json")] == [None, first["f1"].etag]
    for f in ("f1", "f2"):
        state = rig.states.get(f)
        # The answer is taken as good (last_ok moves), but not as a change; the validators and
        # the body's hash stay those of the document read first.
        assert state.last_ok != first[f].last_ok and state.last_change == first[f].last_change
        assert (state.etag, state.body_hash) == (first[f].etag, first[f].body_hash)
        # Nothing else changed, so nothing was written: the store keeps the first answer's time
        # until it is a refresh old.
        assert rig.stored.get(f) == first[f]
    rig.clock.advance(ANSWER_REFRESH)
    rig.poll("f1")
    rig.poll("f2")
    for f in ("f1", "f2"):
        stored = rig.stored.get(f)
        assert stored.last_ok == rig.states.get(f).last_ok != first[f].last_ok
        assert (stored.etag, stored.body_hash, stored.last_change) == (
            first[f].etag,
            first[f].body_hash,
            first[f].last_change,
        )
    assert rig.ledger.count() == 1


def test_an_unchanged_answer_is_written_when_it_ends_a_failure_or_brings_new_validators(tmp_path, feed_server):
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    url = feed_server.serve("/auto.json", doc)
    rig = Rig(tmp_path, feed_yaml(url))
    rig.poll("f1")
    first = rig.stored.get("f1")
    feed_server.serve("/auto.json", b"upstream down", status=500)
    rig.clock.advance(10)
    rig.poll("f1")
    assert rig.stored.get("f1").failures == 1
    feed_server.serve("/auto.json", doc)
    rig.clock.advance(30)
    rig.poll("f1")  # the same body, 40 s after the last stored answer: the recovery is written
    recovered = rig.stored.get("f1")
    assert recovered.failures == 0 and recovered.failing_since is None and recovered.last_ok != first.last_ok
    assert recovered.body_hash == first.body_hash


RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>a</title><link>alerts/a.xml</link><guid>a</guid></item>
<item><title>b</title><link>{b}</link><guid>b</guid></item>
</channel></rss>"""


def test_linked_cap_documents_are_followed_once(tmp_path, feed_server):
    cap_doc = sample("bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml")
    other = cap_doc.replace(b"2.49.0.1.360.0.2026.02.16.16.36.004", b"2.49.0.1.360.0.2026.02.16.16.36.999")
    feed_server.serve("/nowcast/alerts/a.xml", cap_doc)
    feed_server.serve("/nowcast/alerts/b.xml", other, status=500)
    index = feed_server.serve("/nowcast/rss.xml", RSS.format(b="/nowcast/alerts/b.xml").encode())
    rig = Rig(tmp_path, feed_yaml(index, fmt="cap"))
    rig.clock = FixedClock(datetime(2026, 2, 16, 16, 10, tzinfo=UTC))

    rig.poll("f1")
    assert rig.ledger.count() == 1  # a.xml read; b.xml failed
    assert rig.states.get("f1").failures == 0

    feed_server.serve("/nowcast/alerts/b.xml", other)
    rig.clock.advance(10)
    rig.poll("f1")  # same index body, but it is read again because b.xml was missing
    assert rig.ledger.count() == 2
    assert len(feed_server.hits("/nowcast/alerts/a.xml")) == 1
    assert len(feed_server.hits("/nowcast/alerts/b.xml")) == 2

    rig.clock.advance(10)
    rig.poll("f1")
    assert len(feed_server.hits("/nowcast/alerts/a.xml")) == 1
    assert len(feed_server.hits("/nowcast/alerts/b.xml")) == 2


def test_slow_feed_does_not_delay_another(tmp_path, feed_server):
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    slow = feed_server.serve("/slow.json", doc, drip=0.05)
    fast = feed_server.serve("/fast.json", doc)
    feeds = feed_yaml(slow, timeout="2s") + feed_yaml(fast, id="f2")
    rig = Rig(tmp_path, feeds)
    finished = {}

    async def go():
        poller = rig.poller()
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(feed):
            await poller.poll(feed)
            finished[feed] = loop.time() - t0

        await asyncio.gather(one("f1"), one("f2"))
        await rig.fetcher.aclose()

    asyncio.run(go())
    assert finished["f2"] < finished["f1"]
    assert "no complete answer within 2 s" in rig.states.get("f1").last_error
    assert rig.states.get("f2").failures == 0 and rig.ledger.count() == 1
