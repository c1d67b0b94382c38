"""A warning's CAP document made after its commit (runtime.cap_fill): the text posts go first,
the deliveries that carry CAP wait for the document, and a document left behind by a node that
stopped between the two is made later, from the stored rows, byte for byte the one the issuing
node would have made. On the recorded InaTEWS sequence (new warnings, escalations, updates that
refer to earlier ones) with the shipped configuration, in a real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.test_tsunami_sequence import messages
from warnd.channels.base import Budget, Job, Sent
from warnd.clock import FixedClock
from warnd.config.schema import DispatchSettings
from warnd.metrics import Metrics
from warnd.model import Source, Target, TargetKind
from warnd.pollers.registry import detect
from warnd.runtime.build import build
from warnd.runtime.cap_fill import CapFill
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.ingest import Ingest
from warnd.store import db
from warnd.store.worker import StoreWorker

ROOT = Path(__file__).resolve().parents[2]
FEED = "last30tsunamievent"


class Recording:
    """A sender that keeps what it was given: `needs_cap` like a CAP feed or a CAP partner."""

    replies = False
    batch = 8
    channel = "file"
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(self, target: str, needs_cap: bool, log: list[tuple[str, str, str]]) -> None:
        self.target = Target(target)
        self.needs_cap = needs_cap
        self.log = log

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        self.log.append((str(self.target), job.delivery.warning.id, job.delivery.cap))
        return Sent(remote_id=None)

    async def aclose(self) -> None:
        return None


def ingest_all(path: Path, defer: bool):
    bundle = build(ROOT / "config" / "warnd.yaml", with_senders=False)
    conn = db.connect(path)
    clock = FixedClock(datetime(2026, 8, 15, 0, 0, tzinfo=UTC))
    ingest = Ingest(conn, clock, lambda: bundle, defer_cap=defer)
    orders = []
    for doc in messages():
        clock.set(clock.now() + timedelta(minutes=5))
        orders.append(ingest.handle(FEED, detect(doc, Source(FEED, clock.now()))[1]).caps)
    return conn, bundle, clock, orders


def caps(conn) -> dict[str, tuple[str, int]]:
    return {r["id"]: (r["cap"], r["cap_pending"]) for r in conn.execute("SELECT id, cap, cap_pending FROM warnings")}


def test_text_first_cap_after_and_a_left_behind_document_is_the_same_document(tmp_path):
    inline, _, _, none = ingest_all(tmp_path / "inline.db", defer=False)
    assert not any(none)
    reference = caps(inline)
    assert len(reference) >= 5 and all(c.startswith("<?xml") and p == 0 for c, p in reference.values())

    conn, bundle, clock, orders = ingest_all(tmp_path / "deferred.db", defer=True)
    waiting = caps(conn)
    assert waiting.keys() == reference.keys()
    # Committed without their documents, every one waiting for it.
    assert all(c == "" and p == 1 for c, p in waiting.values())
    assert sum(len(o) for o in orders) == len(reference)

    targets = sorted({r[0] for r in conn.execute("SELECT DISTINCT target FROM deliveries")})
    assert any(Target(t).kind is TargetKind.ACCOUNT for t in targets)
    assert any(Target(t).kind is TargetKind.FEED for t in targets)
    sent: list[tuple[str, str, str]] = []
    senders = {t: Recording(t, needs_cap=Target(t).kind is not TargetKind.ACCOUNT, log=sent) for t in targets}
    store = StoreWorker(threaded=False)
    fill = CapFill(conn, store, clock, lambda: bundle, Metrics(), lambda: None)

    async def run() -> None:
        policy = DispatchSettings()
        dispatcher = Dispatcher(conn, clock, lambda: senders, lambda: policy, store=store)
        # The text posts go while every document is still to be made; nothing that carries
        # CAP goes without it.
        assert not await dispatcher.drain(timeout=1.5)
        posted = {(t, w) for t, w, _ in sent}
        for t in targets:
            for (w,) in conn.execute("SELECT warning_id FROM deliveries WHERE target = ?", (t,)):
                assert ((t, w) in posted) == (Target(t).kind is TargetKind.ACCOUNT), (t, w)
        # The issuing node makes the first half right after their commits; it stops before the
        # rest, which the next start finds and makes from the rows.
        half = len(orders) // 2
        for o in orders[:half]:
            await fill.fill(o)
        made = caps(conn)
        first = {o.warning.id for batch in orders[:half] for o in batch}
        assert first and all(made[w] == (reference[w][0], 0) for w in first)
        assert all(made[w] == ("", 1) for w in made.keys() - first)
        await CapFill(conn, store, clock, lambda: bundle, Metrics(), lambda: None).round()
        assert await dispatcher.drain(timeout=5)

    asyncio.run(run())
    assert caps(conn) == reference
    # Each delivery went once; those that carry CAP carried the warning's document.
    assert len(sent) == len({(t, w) for t, w, _ in sent})
    for t, w, cap in sent:
        if Target(t).kind is not TargetKind.ACCOUNT:
            assert cap == reference[w][0], (t, w)
    # A warning left behind is made once: a second start finds nothing.
    assert conn.execute("SELECT count(*) FROM warnings WHERE cap_pending = 1").fetchone()[0] == 0


def test_the_documents_wait_for_the_text_posts_and_never_longer_than_their_bound(tmp_path):
    """The documents are made once each warning's account post was attempted, so that making
    polygons does not take the interpreter from the posting; a lane that never posts (its
    channel gone) holds them AFTER_TEXT seconds at most."""
    from warnd.runtime import cap_fill

    conn, bundle, clock, orders = ingest_all(tmp_path / "d.db", defer=True)
    first = next(o for o in orders if o)
    ids = {o.warning.id for o in first}
    targets = sorted({r[0] for r in conn.execute("SELECT DISTINCT target FROM deliveries")})
    steps: list[tuple[str, str]] = []

    class Slow(Recording):
        async def send(self, job: Job) -> Sent:
            await asyncio.sleep(0.05)
            steps.append(("post", job.delivery.warning.id))
            return await super().send(job)

    sent: list[tuple[str, str, str]] = []
    accounts = [t for t in targets if Target(t).kind is TargetKind.ACCOUNT]
    store = StoreWorker(threaded=False)

    async def run(senders: dict[str, Recording]) -> float:
        policy = DispatchSettings()
        dispatcher = Dispatcher(conn, clock, lambda: senders, lambda: policy, store=store)
        fill = CapFill(
            conn,
            store,
            clock,
            lambda: bundle,
            Metrics(),
            lambda: steps.append(("made", "")),
            after_text=dispatcher.posted,
        )
        lanes = asyncio.ensure_future(dispatcher.drain(timeout=1.6))
        t0 = asyncio.get_running_loop().time()
        await fill.fill(first)
        took = asyncio.get_running_loop().time() - t0
        dispatcher.stop()
        await lanes
        return took

    # Every account lane posts, slowly: the documents come after the posts of those warnings.
    senders = {t: Slow(t, needs_cap=Target(t).kind is not TargetKind.ACCOUNT, log=sent) for t in accounts}
    took = asyncio.run(run(senders))
    made_at = steps.index(("made", ""))
    posted_before = {w for kind, w in steps[:made_at] if kind == "post"}
    assert ids <= posted_before, (ids, steps)
    assert 0.05 <= took < cap_fill.AFTER_TEXT
    assert all(p == 0 for i, (_c, p) in caps(conn).items() if i in ids)

    # No account lane can post (no channel for any): the rest are made after the bound, not never.
    conn2, bundle, clock, orders = ingest_all(tmp_path / "e.db", defer=True)
    conn, first = conn2, next(o for o in orders if o)
    steps.clear()
    took = asyncio.run(run({}))
    assert cap_fill.AFTER_TEXT <= took < cap_fill.AFTER_TEXT + 2
    assert steps == [("made", "")]
