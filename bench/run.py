"""warnd benchmarks: one command, a markdown table on stdout. Not part of the tests.

    .venv/bin/python bench/run.py

Measures, on the shipped regions and the recorded BMKG samples:
- parse: BMKG TEWS documents per second (JSON list of 15, XML list of 60);
- match: earthquake events per second through the rules engine (150 km, point in polygon,
  predicted intensity) against the 514 regencies and the 7,285 districts, and CAP alert
  polygons against the regencies;
- ingest: events per second through ledger + rules + render + outbox into a real SQLite file;
- deliver: deliveries per second from the durable outbox (SQLite, FULL sync, every state change
  committed) through the real channels to the fake X API and a partner webhook sink on loopback;
- endpoint: /healthz, /metrics and /status answered per second by the daemon's HTTP endpoint over
  the state the ingest left (thousands of deliveries queued), from a client on loopback.
"""

from __future__ import annotations

import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warnd.clock import FixedClock  # noqa: E402
from warnd.config.schema import Rule  # noqa: E402
from warnd.geo import load_layers  # noqa: E402
from warnd.model import ChangeKind, EventChange, HazardEvent, ParseResult, Source  # noqa: E402
from warnd.obs import setup_logging  # noqa: E402
from warnd.pollers import bmkg  # noqa: E402
from warnd.rules.compiled import compile_rules  # noqa: E402
from warnd.rules.engine import evaluate  # noqa: E402
from warnd.runtime.build import build  # noqa: E402
from warnd.runtime.ingest import Ingest  # noqa: E402
from warnd.store.db import connect  # noqa: E402

NOW = datetime(2026, 11, 24, tzinfo=UTC)
SAMPLES = ROOT / "feeds" / "samples" / "bmkg-tews"
REGIONS = ROOT / "config" / "regions"


def rate(fn: Callable[[], int], seconds: float = 2.0) -> float:
    """Items per second, median of 5 runs of at least `seconds`/5 each."""
    runs = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            n += fn()
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def quakes(n: int) -> list[HazardEvent]:
    """Random epicentres over Indonesia's bounding box (land and sea), M3-M8."""
    rnd = random.Random(42)
    base = bmkg.parse((SAMPLES / "autogempa_2024-01-10_sumedang_aldii.json").read_bytes(), Source("bench", NOW)).events[
        0
    ]
    return [
        replace(
            base,
            id=f"q{i}",
            lat=rnd.uniform(-11, 6),
            lon=rnd.uniform(95, 141),
            magnitude=rnd.uniform(3, 8),
            time=base.time + timedelta(minutes=i),
        )
        for i in range(n)
    ]


def cap_areas(n: int) -> list[HazardEvent]:
    """The BMKG nowcast for Banten (two polygons), moved to random places over Indonesia."""
    from warnd.pollers import cap

    doc = (ROOT / "feeds/samples/bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml").read_bytes()
    (base,) = cap.parse(doc, Source("bench", datetime(2026, 2, 16, 16, 5, tzinfo=UTC))).events
    assert base.area is not None
    rnd = random.Random(7)
    out = []
    for i in range(n):
        dx, dy = rnd.uniform(-10, 30), rnd.uniform(-3, 5)
        polys = [[[[x + dx, y + dy] for x, y in ring] for ring in poly] for poly in base.area["coordinates"]]
        out.append(replace(base, id=f"c{i}", area={"type": "MultiPolygon", "coordinates": polys}))
    return out


def main() -> None:
    setup_logging("warning")
    rows: list[tuple[str, str]] = []
    for name in ("gempadirasakan_2025-12-24_darcien.json", "legacy_gempaterkini_2013-11-08_rezanii.xml"):
        data = (SAMPLES / name).read_bytes()
        n = len(bmkg.parse(data, Source("b", NOW)).events)
        r = rate(lambda data=data: (bmkg.parse(data, Source("b", NOW)), 1)[1])
        rows.append((f"parse {name} ({n} quakes)", f"{r:,.0f} documents/s ({r * n:,.0f} quakes/s)"))

    rule = Rule.model_validate(
        {
            "id": "r",
            "match": {"hazard": "earthquake", "magnitude": ">= 3"},
            "where": {"within_km": 150, "level": "regency"},
            "then": {"accounts": ["a"]},
        }
    )
    events = [EventChange(ChangeKind.NEW, e) for e in quakes(2000)]
    for layer, level in (("regencies", "regency"), ("districts", "district")):
        index = load_layers([REGIONS / f"{layer}.geojson"])
        rs = compile_rules(
            [rule.model_copy(update={"where": rule.where.model_copy(update={"level": level})})], 2.0, ["a"]
        )
        it = iter(events * 1000)
        r = rate(lambda rs=rs, index=index, it=it: (evaluate(rs, index, next(it)), 1)[1])
        pip = compile_rules(
            [rule.model_copy(update={"where": rule.where.model_copy(update={"level": level, "within_km": None})})],
            2.0,
            ["a"],
        )
        r2 = rate(lambda pip=pip, index=index, it=it: (evaluate(pip, index, next(it)), 1)[1])
        mmi = compile_rules(
            [
                rule.model_copy(
                    update={
                        "where": rule.where.model_copy(
                            update={"level": level, "within_km": None, "intensity": (">=", 3.0)}
                        )
                    }
                )
            ],
            2.0,
            ["a"],
        )
        r3 = rate(lambda mmi=mmi, index=index, it=it: (evaluate(mmi, index, next(it)), 1)[1])
        rows.append((f"match vs {len(index.regions):,} {layer}, within 150 km", f"{r:,.0f} events/s"))
        rows.append((f"match vs {len(index.regions):,} {layer}, point in polygon (+2 km)", f"{r2:,.0f} events/s"))
        rows.append((f"match vs {len(index.regions):,} {layer}, predicted intensity >= III", f"{r3:,.0f} events/s"))
        if level == "regency":
            areas = [EventChange(ChangeKind.NEW, e) for e in cap_areas(500)]
            cap_rule = Rule.model_validate(
                {"id": "c", "match": {"hazard": "weather"}, "where": {"level": "regency"}, "then": {"accounts": ["a"]}}
            )
            crs = compile_rules([cap_rule], 2.0, ["a"])
            it2 = iter(areas * 1000)
            r4 = rate(lambda crs=crs, index=index, it2=it2: (evaluate(crs, index, next(it2)), 1)[1])
            rows.append((f"match CAP alert polygons vs {len(index.regions):,} {layer}", f"{r4:,.0f} alerts/s"))

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build(ROOT / "config" / "demo.yaml", with_senders=False)
        conn = connect(Path(tmp) / "bench.db")
        ingest = Ingest(conn, FixedClock(NOW), lambda: bundle)
        batch = quakes(4_000)
        start = time.perf_counter()
        done = 0
        for chunk in [tuple(batch[i : i + 20]) for i in range(0, 4000, 20)]:
            ingest.handle("bench", ParseResult(chunk))
            done += len(chunk)
        r = done / (time.perf_counter() - start)
        queued = int(conn.execute("SELECT count(*) FROM warnings").fetchone()[0])
        rows.append(
            (
                "ingest (ledger + the 5 starter rules x 38 accounts + render + outbox, SQLite FULL sync)",
                f"{r:,.0f} new events/s ({queued:,} warnings queued for {done:,} events)",
            )
        )
        rows.extend(endpoint(conn, bundle))

    rows.extend(deliveries())

    print(
        f"warnd bench on {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {sys.platform}\n"
    )
    print("| what | result |\n| --- | --- |")
    for what, result in rows:
        print(f"| {what} | {result} |")


def deliveries() -> list[tuple[str, str]]:
    import asyncio

    from warnd.channels.base import Sender
    from warnd.channels.webhook import WebhookSender
    from warnd.channels.x import XSender
    from warnd.clock import SystemClock
    from warnd.config.schema import DispatchSettings
    from warnd.config.secrets import Secret
    from warnd.model import Priority, Region, Status, Warning, WarningKind
    from warnd.runtime.dispatcher import Dispatcher
    from warnd.store.db import transaction
    from warnd.store.outbox import Outbox
    from warnd.testing.fake_x import FakeX
    from warnd.testing.webhook_sink import WebhookSink

    accounts = [f"acct{i}" for i in range(5)]
    partners = ["radio", "tv", "koran"]
    n = 300  # warnings per account

    def run(targets_for: Callable[[str], list[str]], senders: dict[str, Sender]) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            conn = connect(Path(tmp) / "bench.db")
            box = Outbox(conn)
            now = datetime.now(UTC)
            with transaction(conn):
                for i in range(n):
                    for a in accounts:
                        w = Warning(
                            id=f"w-{a}-{i}",
                            event_id=f"e-{i}",
                            revision="r",
                            rule="bench",
                            account=a,
                            kind=WarningKind.NEW,
                            severity="moderate",
                            priority=Priority.NORMAL,
                            regions=(Region("11", "Aceh", "province"),),
                            lang="id",
                            text=f"Gempa M5.{i % 10} nomor {i} untuk {a}",
                            status=Status.ACTUAL,
                            created_at=now,
                        )
                        box.enqueue(w, targets_for(a), now, event={"hazard": "earthquake"})
            total = sum(box.counts().values())
            policy = DispatchSettings()

            async def go() -> float:
                d = Dispatcher(conn, SystemClock(), lambda: senders, lambda: policy)
                start = time.perf_counter()
                assert await d.drain(timeout=600)
                took = time.perf_counter() - start
                for sender in senders.values():
                    await sender.aclose()
                return took

            took = asyncio.run(go())
            assert box.counts()["sent"] == total
            conn.close()
            return total / took, total

    out = []
    users = {f"tok-{a}": (f"sec-{a}", a) for a in accounts}
    fake = FakeX(consumer_key="k", consumer_secret="s", users=users, user_limit=(10**6, 900), app_limit=(10**6, 900))
    fake.start()
    try:
        x = {
            f"account:{a}": XSender(
                a,
                consumer_key=Secret("k"),
                consumer_secret=Secret("s"),
                access_token=Secret(f"tok-{a}"),
                access_token_secret=Secret(f"sec-{a}"),
                api_base=fake.base,
                connect_timeout=3.0,
                read_timeout=10.0,
                account_budget=(10**6, 900.0),
                app_budget=(10**6, 86400.0),
            )
            for a in accounts
        }
        r, total = run(lambda a: [f"account:{a}"], dict(x))
        out.append((f"deliver to the fake X API, 5 accounts in parallel ({total:,} posts)", f"{r:,.0f} posts/s"))
    finally:
        fake.stop()
    sink = WebhookSink({p: f"{p}-secret" for p in partners})
    sink.start()
    try:
        hooks: dict[str, Sender] = {
            f"partner:{p}": WebhookSender(
                p, url=sink.url(p), secret=Secret(f"{p}-secret"), fmt="json", timeout=10.0, user_agent="bench"
            )
            for p in partners
        }
        r, total = run(lambda a: [f"partner:{p}" for p in partners], hooks)
        out.append((f"deliver signed webhooks to 3 partners in parallel ({total:,} POSTs)", f"{r:,.0f} deliveries/s"))
    finally:
        sink.stop()
    return out


def endpoint(conn: Any, bundle: Any) -> list[tuple[str, str]]:
    import asyncio
    import threading

    import httpx

    from warnd.clock import SystemClock
    from warnd.metrics import Metrics
    from warnd.runtime.conditions import Live
    from warnd.runtime.http import Endpoint
    from warnd.runtime.observe import Observer

    waiting = int(conn.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()[0])
    metrics = Metrics()
    observer = Observer(conn, SystemClock(), lambda: bundle, lambda: Live(datetime.now(UTC)), lambda: 1)
    metrics.registry.register(observer)
    ep = Endpoint(
        "127.0.0.1",
        0,
        health=observer.health,
        status=lambda: observer.status("bench"),
        registry=metrics.registry,
        cap_root=lambda: Path("/nonexistent"),
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    bound: list[tuple[str, int]] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        bound.append(loop.run_until_complete(ep.start()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(30)
    host, port = bound[0]
    out = []
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client:
        for path in ("/healthz", "/metrics", "/status"):

            def one(path: str = path) -> int:
                assert client.get(path).status_code in (200, 503)
                return 1

            out.append((f"GET {path} with {waiting:,} deliveries queued, 38 accounts", f"{rate(one):,.0f} requests/s"))
    asyncio.run_coroutine_threadsafe(ep.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    return out


if __name__ == "__main__":
    main()
