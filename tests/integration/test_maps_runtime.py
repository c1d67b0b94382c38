"""Each warning's map as the daemon makes it: drawn after the commit on a thread of its own,
stored, handed to the senders of accounts' posts within their wait, drawn again after a restart
when the store has none, and never a failure of the post when it cannot be drawn. Served on the
listener from the store."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import structlog
from PIL import Image
from prometheus_client import CollectorRegistry

from tests.conftest import ROOT
from tests.integration.test_tsunami_sequence import messages
from warnd.channels.base import Job, Sent
from warnd.clock import FixedClock
from warnd.config.schema import DispatchSettings, MapsSettings
from warnd.maps import HEIGHT, WIDTH
from warnd.metrics import Metrics
from warnd.model import Delivery, DeliveryState, Priority, Source, Target, WarningKind, urgency_rank
from warnd.pollers.registry import detect
from warnd.runtime.build import Bundle, build
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.http import Endpoint
from warnd.runtime.ingest import Ingest
from warnd.runtime.maps import Drawing, MapMaker, in_post_order, wanted
from warnd.store import db
from warnd.store.backend import DatabaseError
from warnd.store.maps import Maps
from warnd.store.outbox import Outbox

T0 = datetime(2026, 8, 15, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build(ROOT / "config" / "warnd.yaml", with_senders=False)


def drawings(bundle: Bundle, conn) -> list[Drawing]:
    clock = FixedClock(T0)
    ingest = Ingest(conn, clock, lambda: bundle)
    out: list[Drawing] = []
    for doc in messages():
        clock.set(clock.now() + timedelta(minutes=5))
        out += ingest.handle("last30tsunamievent", detect(doc, Source("last30tsunamievent", clock.now()))[1]).drawings
    out = [d for d in out if d.warning.kind not in (WarningKind.CANCEL, WarningKind.ALL_CLEAR)]
    assert len(out) >= 2
    return out


def maker(bundle: Bundle, conn, metrics: Metrics, settings: MapsSettings | None = None) -> MapMaker:
    return MapMaker(
        conn,
        FixedClock(T0),
        lambda: settings or MapsSettings(),
        lambda: bundle.regions,
        lambda: bundle.renderer,
        metrics,
    )


def delivery(d: Drawing, target: str = "account:ntt") -> Delivery:
    return Delivery(1, d.warning, target, DeliveryState.PENDING, 0, T0, T0, event=d.event)


def test_a_committed_warning_map_is_drawn_stored_and_handed_to_the_sender(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    first = drawings(bundle, conn)[0]
    metrics = Metrics()
    m = maker(bundle, conn, metrics)

    async def scenario():
        m.make([first])
        pictures = m.pictures(delivery(first))
        assert pictures is not None
        got = await pictures.wait(30)
        await m.stop()
        return got

    picture = asyncio.run(scenario())
    assert picture is not None
    assert Image.open(io.BytesIO(picture.png)).size == (WIDTH, HEIGHT) == (1200, 675)
    assert picture.alt.startswith("Peta ")
    stored = Maps(conn).get(first.warning.id)
    assert stored is not None and (stored.png, stored.alt) == (picture.png, picture.alt)
    assert metrics.maps_made._value.get() == 1
    assert metrics.map_seconds._sum.get() > 0


def test_after_a_restart_a_stored_map_is_read_and_a_missing_one_drawn(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    a, b = drawings(bundle, conn)[:2]
    Maps(conn).put(a.warning.id, b"stored png", "stored alt", T0)
    m = maker(bundle, conn, Metrics())

    async def scenario():
        # Nothing was started on this process: the maker reads the store, and draws what it lacks.
        pa, pb = m.pictures(delivery(a)), m.pictures(delivery(b))
        assert pa is not None and pb is not None
        got = (await pa.wait(5), await pb.wait(30))
        await m.stop()
        return got

    got_a, got_b = asyncio.run(scenario())
    assert got_a is not None and (got_a.png, got_a.alt) == (b"stored png", "stored alt")
    assert got_b is not None and got_b.png.startswith(b"\x89PNG")
    assert Maps(conn).has(b.warning.id)


def test_a_map_not_ready_in_time_is_none_and_the_wait_is_bounded(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    first = drawings(bundle, conn)[0]
    m = maker(bundle, conn, Metrics())

    async def scenario():
        m.make([first])
        pictures = m.pictures(delivery(first))
        assert pictures is not None
        started = asyncio.get_running_loop().time()
        got = await pictures.wait(0)
        took = asyncio.get_running_loop().time() - started
        later = await pictures.wait(30)
        await m.stop()
        return got, took, later

    got, took, later = asyncio.run(scenario())
    assert got is None and took < 0.05
    assert later is not None


@pytest.mark.parametrize("wait", [0.0, 2.0])
def test_with_wait_0_the_drawing_waits_for_the_text_post_and_otherwise_starts_at_once(bundle, tmp_path, wait):
    conn = db.connect(tmp_path / "w.db")
    first = drawings(bundle, conn)[0]
    metrics = Metrics()
    asked: list[tuple[set[str], float]] = []

    async def scenario():
        posted = asyncio.Event()

        async def after_text(ids: set[str], within: float) -> None:
            asked.append((set(ids), within))
            await posted.wait()

        m = MapMaker(
            conn,
            FixedClock(T0),
            lambda: MapsSettings(wait=wait),
            lambda: bundle.regions,
            lambda: bundle.renderer,
            metrics,
            after_text=after_text,
        )
        m.make([first])
        pictures = m.pictures(delivery(first))
        assert pictures is not None
        early = await pictures.wait(1.5)  # time enough to draw it when nothing holds it back
        posted.set()
        later = await pictures.wait(30)
        await m.stop()
        return early, later

    early, later = asyncio.run(scenario())
    assert later is not None and metrics.maps_made._value.get() == 1
    if wait == 0:
        assert early is None and asked == [({first.warning.id}, 1.0)]
    else:
        assert early is not None and asked == []


def test_a_map_that_cannot_be_drawn_is_logged_counted_and_the_post_goes_without(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    first = drawings(bundle, conn)[0]
    metrics = Metrics()

    def broken():
        raise RuntimeError("no outlines")

    m = MapMaker(conn, FixedClock(T0), MapsSettings, broken, lambda: bundle.renderer, metrics)

    async def scenario():
        m.make([first])
        pictures = m.pictures(delivery(first))
        assert pictures is not None
        got = await pictures.wait(10)
        await m.stop()
        return got

    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(scenario()) is None
    failed = [e for e in logs if e["event"] == "map.failed"]
    assert failed and failed[0]["warning_id"] == first.warning.id and failed[0]["event_id"] == first.event.id
    assert "no outlines" in failed[0]["error"]
    assert metrics.maps_failed.labels("render")._value.get() == 1
    assert not Maps(conn).has(first.warning.id)


def test_cancels_disabled_maps_and_partners_get_no_picture(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    first = drawings(bundle, conn)[0]
    m = maker(bundle, conn, Metrics())
    cancel = Drawing(dataclasses.replace(first.warning, kind=WarningKind.CANCEL), first.event)
    assert m.pictures(delivery(cancel)) is None
    off = maker(bundle, conn, Metrics(), MapsSettings(enabled=False))
    assert off.pictures(delivery(first)) is None
    dispatcher = Dispatcher(conn, FixedClock(T0), dict, lambda: None, pictures=m.pictures)  # type: ignore[arg-type]
    assert dispatcher._job(delivery(first), None).picture is not None
    assert dispatcher._job(delivery(first, "partner:radio"), None).picture is None
    assert dispatcher._job(delivery(first, "feed:ntt"), None).picture is None


def test_the_listener_serves_a_stored_map_with_etag_and_304(tmp_path):
    conn = db.connect(tmp_path / "w.db")
    png = b"\x89PNG\r\n\x1a\nmap"
    Maps(conn).put("w-abc", png, "alt", T0)
    reads = db.connect(tmp_path / "w.db")
    state = {"down": False}

    def get(warning_id: str):
        if state["down"]:
            raise DatabaseError("gone")
        return Maps(reads).get(warning_id)

    feeds = CapFeeds(Outbox(reads), dict)
    ep = Endpoint(
        "127.0.0.1", 0, health=lambda: {"status": "ok"}, status=dict, registry=CollectorRegistry(), cap=feeds, maps=get
    )

    async def scenario() -> dict[str, httpx.Response]:
        host, port = await ep.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
                got = {"map": await client.get("/maps/w-abc.png")}
                etag = got["map"].headers["etag"]
                got["again"] = await client.get("/maps/w-abc.png", headers={"If-None-Match": etag})
                got["unknown"] = await client.get("/maps/w-none.png")
                got["odd"] = await client.get("/maps/..%2Fw-abc.png")
                got["nopng"] = await client.get("/maps/w-abc")
                state["down"] = True
                got["down"] = await client.get("/maps/w-abc.png")
                return got
        finally:
            await ep.stop()

    got = asyncio.run(scenario())
    assert got["map"].status_code == 200 and got["map"].content == png
    assert got["map"].headers["content-type"] == "image/png"
    assert got["again"].status_code == 304 and not got["again"].content
    assert got["unknown"].status_code == 404
    assert got["odd"].status_code == 404 and got["nopng"].status_code == 404
    assert got["down"].status_code == 503


def gauge_drawings(bundle: Bundle, conn) -> list[Drawing]:
    """The warnings a real DSDA gauge document makes through the shipped configuration, judged
    at the document's own time: several for one account, one for another, in the order issued."""
    doc = (ROOT / "feeds/samples/gauges/dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml").read_bytes()
    _, result = detect(doc, Source("dsda-xmldata", T0))
    # As `warnd simulate` reads a recorded document: the clock at its newest time.
    clock = FixedClock(max(e.sent or e.time for e in result.events))
    issued = Ingest(conn, clock, lambda: bundle, replay=True).handle("dsda-xmldata", result).drawings
    return [d for d in issued if wanted(d.warning)]


def test_maps_are_drawn_in_the_order_the_accounts_posts_need_them(bundle, tmp_path):
    conn = db.connect(tmp_path / "w.db")
    issued = gauge_drawings(bundle, conn)
    accounts = [d.warning.account for d in issued]
    # The document is what makes the order matter: one account's only warning issued after
    # another account's first and second.
    lonely = next(a for a in accounts if accounts.count(a) == 1)
    assert accounts.index(lonely) >= 2, accounts
    m = maker(bundle, conn, Metrics())

    async def scenario():
        m.make(issued)
        for d in issued:
            pictures = m.pictures(delivery(d, f"account:{d.warning.account}"))
            assert pictures is not None and await pictures.wait(60) is not None
        await m.stop()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(scenario())
    drawn = [e["warning_id"] for e in logs if e["event"] == "map.made"]
    assert sorted(drawn) == sorted(d.warning.id for d in issued)
    by_id = {d.warning.id: d for d in issued}
    order = [by_id[w].warning.account for w in drawn]
    # Every account's first map before any account's second: the lonely account's is second.
    firsts = list(dict.fromkeys(order))
    assert order[: len(firsts)] == firsts and set(firsts) == set(accounts)
    # Within an account, its lane's order: most urgent first, then as issued (each warning here
    # is about another gauge, so none answers another).
    for account in firsts:
        mine = [by_id[w] for w in drawn if by_id[w].warning.account == account]
        lane = sorted(
            (d for d in issued if d.warning.account == account),
            key=lambda d: urgency_rank(d.warning, d.event.hazard.value),
        )
        assert [d.warning.id for d in mine] == [d.warning.id for d in lane]


class Recording:
    """An account's sender that answers threads and records what it was given, in order: the
    dispatcher's own lane order, which the maps' order must follow."""

    channel = "x"
    budgets = ()
    hold_keys = ()
    replies = True
    batch = 1

    def __init__(self, target: str, sent: list[str]) -> None:
        self.target = Target(target)
        self.sent = sent

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        self.sent.append(job.delivery.warning.id)
        return Sent(f"post-{job.delivery.warning.id}")

    async def aclose(self) -> None:
        pass


def _changed(d: Drawing, **changes: object) -> Drawing:
    return dataclasses.replace(d, warning=dataclasses.replace(d.warning, **changes))


def test_each_accounts_maps_are_drawn_in_the_order_its_lane_posts_them(bundle, tmp_path):
    issued = gauge_drawings(bundle, db.connect(tmp_path / "issued.db"))
    accounts = [d.warning.account for d in issued]
    busy = max(accounts, key=accounts.count)
    mine = [i for i, a in enumerate(accounts) if a == busy]
    assert len(mine) >= 6, accounts
    first = issued[mine[0]]
    # The busy account's lane made hard: a life-safety warning about another gauge; a thread of
    # three on the first gauge, whose second reply is life-safety (so its first post is pulled
    # ahead) and whose first reply is not; a cancel, which needs no map.
    about_first = {"event_id": first.warning.event_id, "kind": WarningKind.UPDATE}
    changes = {
        mine[1]: {"priority": Priority.LIFE_SAFETY},
        mine[2]: about_first,
        mine[3]: {**about_first, "priority": Priority.LIFE_SAFETY},
        mine[4]: {"kind": WarningKind.CANCEL},
    }
    made = [_changed(d, **changes[i]) if i in changes else d for i, d in enumerate(issued)]
    conn = db.connect(tmp_path / "w.db")
    with conn.transaction():
        for d in made:
            assert Outbox(conn).enqueue(d.warning, [f"account:{d.warning.account}"], T0, event=d.event)
    sent: dict[str, list[str]] = {a: [] for a in set(accounts)}
    senders = {f"account:{a}": Recording(f"account:{a}", sent[a]) for a in sent}

    async def drain() -> bool:
        return await Dispatcher(conn, FixedClock(T0), lambda: senders, DispatchSettings).drain(timeout=20)

    assert asyncio.run(drain())
    order = in_post_order(made)
    # What needs no map (the cancel) comes last, and is never drawn (MapMaker skips it).
    assert [wanted(d.warning) for d in order] == sorted((wanted(d.warning) for d in made), reverse=True)
    by_id = {d.warning.id: d for d in made}
    with_map = {a: [w for w in posted if wanted(by_id[w].warning)] for a, posted in sent.items()}
    drawn = [d for d in order if wanted(d.warning)]
    for account, posted in with_map.items():
        assert [d.warning.id for d in drawn if d.warning.account == account] == posted, account
    assert sent[busy][0] == made[mine[1]].warning.id  # the life-safety warning went first
    # Turn by turn: every account's n-th map before any account's (n+1)-th.
    turns = [with_map[d.warning.account].index(d.warning.id) for d in drawn]
    assert turns == sorted(turns)
