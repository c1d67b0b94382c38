"""In-process figures: parsing, matching (points, CAP polygons, a gauge storm) and ingest.

Each rate is the median of 5 runs; events are random epicentres over Indonesia's bounding box
(land and sea) unless said otherwise."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import shapely

from bench.common import REGIONS, ROOT, SAMPLES, Row, national_config
from warnd.clock import FixedClock
from warnd.config.schema import Rule
from warnd.geo import RegionIndex, load_layers, read_points
from warnd.model import ChangeKind, EventChange, HazardEvent, ParseResult, Source
from warnd.pollers import bmkg, cap, petabencana
from warnd.rules.compiled import RuleSet, compile_rules
from warnd.rules.engine import evaluate, evaluate_many
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest
from warnd.store.db import connect

NOW = datetime(2026, 11, 24, tzinfo=UTC)
TEWS = SAMPLES / "bmkg-tews"


def rate(fn: Callable[[], int], seconds: float = 1.0) -> float:
    """Items per second, median of 5 runs of at least `seconds`/5 each."""
    runs = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            n += fn()
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def quakes(n: int, seed: int = 42) -> list[HazardEvent]:
    rnd = random.Random(seed)
    doc = (TEWS / "autogempa_2024-01-10_sumedang_aldii.json").read_bytes()
    base = bmkg.parse(doc, Source("bench", NOW)).events[0]
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
    doc = (SAMPLES / "bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml").read_bytes()
    (base,) = cap.parse(doc, Source("bench", datetime(2026, 2, 16, 16, 5, tzinfo=UTC))).events
    assert base.area is not None
    rnd = random.Random(7)
    out = []
    for i in range(n):
        dx, dy = rnd.uniform(-10, 30), rnd.uniform(-3, 5)
        polys = [[[[x + dx, y + dy] for x, y in ring] for ring in poly] for poly in base.area["coordinates"]]
        out.append(replace(base, id=f"c{i}", area={"type": "MultiPolygon", "coordinates": polys}))
    return out


def _parse_one(data: bytes) -> int:
    bmkg.parse(data, Source("b", NOW))
    return 1


def _one_by_one(rules: RuleSet, index: RegionIndex, events: Iterator[EventChange]) -> int:
    evaluate(rules, index, next(events))
    return 1


def _in_batch(rules: RuleSet, index: RegionIndex, events: list[EventChange]) -> int:
    evaluate_many(rules, index, events, False)
    return len(events)


def parsing() -> list[Row]:
    rows = []
    for name in ("gempadirasakan_2025-12-24_darcien.json", "legacy_gempaterkini_2013-11-08_rezanii.xml"):
        data = (TEWS / name).read_bytes()
        n = len(bmkg.parse(data, Source("b", NOW)).events)
        r = rate(functools.partial(_parse_one, data))
        rows.append(Row("parse", f"parse {name} ({n} quakes)", f"{r:,.0f} documents/s ({r * n:,.0f} quakes/s)"))
    return rows


def _rule(level: str, **where: object) -> Rule:
    return Rule.model_validate(
        {
            "id": "r",
            "match": {"hazard": "earthquake", "magnitude": ">= 3"},
            "where": {"level": level, **where},
            "then": {"accounts": ["a"]},
        }
    )


def matching() -> list[Row]:
    rows: list[Row] = []
    events = [EventChange(ChangeKind.NEW, e) for e in quakes(2000)]
    for layer, level in (("regencies", "regency"), ("districts", "district")):
        # Shaking is judged at the kecamatan points, as the shipped configuration does.
        index = load_layers([REGIONS / f"{layer}.geojson"], read_points(REGIONS / "district-points.csv"))
        n = f"{len(index.regions):,} {layer}"
        pip = compile_rules([_rule(level)], 2.0, ["a"])
        it = iter(events * 1000)
        one = rate(functools.partial(_one_by_one, pip, index, it))
        batch = rate(functools.partial(_in_batch, pip, index, events))
        goal = ">= 100,000 events/s" if level == "district" else None
        rows.append(Row("match", f"point in polygon (+2 km) vs {n}, one event at a time", f"{one:,.0f} events/s"))
        rows.append(
            Row(
                "match",
                f"point in polygon (+2 km) vs {n}, a document of 2,000 events",
                f"{batch:,.0f} events/s",
                {"events_per_s": batch},
                goal,
                batch >= 100_000 if goal else None,
            )
        )
        near = compile_rules([_rule(level, within_km=150)], 2.0, ["a"])
        r = rate(functools.partial(_one_by_one, near, index, it))
        rows.append(Row("match", f"within 150 km vs {n}", f"{r:,.0f} events/s"))
        mmi = compile_rules([_rule(level, intensity=">= 3")], 2.0, ["a"])
        r = rate(functools.partial(_one_by_one, mmi, index, it))
        rows.append(Row("match", f"predicted intensity >= III vs {n}", f"{r:,.0f} events/s"))
        if level == "regency":
            areas = [EventChange(ChangeKind.NEW, e) for e in cap_areas(500)]
            crs = compile_rules(
                [
                    Rule.model_validate(
                        {
                            "id": "c",
                            "match": {"hazard": "weather"},
                            "where": {"level": "regency"},
                            "then": {"accounts": ["a"]},
                        }
                    )
                ],
                2.0,
                ["a"],
            )
            it2 = iter(areas * 1000)
            r = rate(functools.partial(_one_by_one, crs, index, it2))
            rows.append(
                Row(
                    "match",
                    f"CAP alert polygons (BMKG nowcast, 2 polygons) vs {n}",
                    f"{r:,.0f} alerts/s",
                    {"alerts_per_s": r},
                    ">= 1,000 alerts/s",
                    r >= 1000,
                )
            )
    return rows


def gauge_storm(n: int = 10_000) -> list[Row]:
    """A PetaBencana-style document of `n` gauges over Indonesia, read and ingested under the
    national configuration (228 rules, every region layer): first as new stations, then with a
    new reading at every station."""
    doc = json.loads((REGIONS / "regencies.geojson").read_text())
    anchors = [shapely.geometry.shape(f["geometry"]).representative_point() for f in doc["features"]]
    rnd = random.Random(3)
    spots = [(a.x + rnd.uniform(-0.03, 0.03), a.y + rnd.uniform(-0.03, 0.03)) for a in rnd.choices(anchors, k=n)]

    def document(step: int) -> bytes:
        t = NOW - timedelta(minutes=30 - step * 10)
        feats = []
        for i, (x, y) in enumerate(spots):
            level = rnd.choice([4, 4, 4, 3, 2])
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [round(x, 5), round(y, 5)]},
                    "properties": {
                        "gaugeid": f"g{i}",
                        "gaugenameid": f"Pos {i}",
                        "observations": [
                            {"f1": (t - timedelta(minutes=10)).isoformat(), "f2": 100 + step, "f3": 4},
                            {"f1": t.isoformat(), "f2": 120 + level + step, "f3": level},
                        ],
                    },
                }
            )
        return json.dumps({"statusCode": 200, "result": {"type": "FeatureCollection", "features": feats}}).encode()

    rows = []
    with tempfile.TemporaryDirectory(prefix="warnd-bench-") as tmp:
        nat = national_config(
            Path(tmp),
            "  - {id: g, format: petabencana, url: 'http://127.0.0.1:1/g', interval: 60}",
            x_base="http://127.0.0.1:1",
        )
        os.environ.update(nat.env)
        bundle = build(nat.cfg, with_senders=False)
        conn = connect(Path(tmp) / "storm.db")
        clock = FixedClock(NOW)
        ingest = Ingest(conn, clock, lambda: bundle, explain=False, decisions=True)
        for step, label in ((0, "new stations"), (1, "a new reading at every station")):
            data = document(step)
            start = time.perf_counter()
            parsed = petabencana.parse(data, Source("g", NOW))
            parsed_at = time.perf_counter()
            report = ingest.handle("g", ParseResult(parsed.events, parsed.rejected))
            took = time.perf_counter() - start
            warnings = len(report.warnings)
            rows.append(
                Row(
                    "gauge storm",
                    f"{n:,} gauge readings in one document ({label}): parse + ledger + 228 rules + outbox",
                    f"{took:.2f} s ({n / took:,.0f} readings/s; parse {parsed_at - start:.2f} s;"
                    f" {warnings:,} warnings)",
                    {"seconds": took, "parse_s": parsed_at - start, "warnings": warnings},
                )
            )
        conn.close()
    return rows


def ingest_and_endpoint() -> list[Row]:
    """Quakes through ledger, the starter rules, render and the outbox into a real SQLite file;
    then the daemon's HTTP endpoint answering over the thousands of deliveries that left queued."""
    with tempfile.TemporaryDirectory(prefix="warnd-bench-") as tmp:
        bundle = build(ROOT / "config" / "demo.yaml", with_senders=False)
        conn = connect(Path(tmp) / "bench.db")
        ingest = Ingest(conn, FixedClock(NOW), lambda: bundle, explain=False, decisions=True)
        batch = quakes(4_000)
        start = time.perf_counter()
        for i in range(0, 4000, 20):
            ingest.handle("bench", ParseResult(tuple(batch[i : i + 20])))
        r = 4000 / (time.perf_counter() - start)
        queued = int(conn.execute("SELECT count(*) FROM warnings").fetchone()[0])
        rows = [
            Row(
                "ingest",
                "ledger + the 5 starter rules x 38 accounts + render + CAP + outbox (SQLite FULL sync),"
                " 20 quakes a document",
                f"{r:,.0f} new events/s ({queued:,} warnings queued for 4,000 events)",
                {"events_per_s": r},
            )
        ]
        rows += endpoint(conn, bundle)
        conn.close()
    return rows


def endpoint(conn: Any, bundle: Any) -> list[Row]:
    from warnd.cap import FeedInfo
    from warnd.clock import SystemClock
    from warnd.metrics import Metrics
    from warnd.runtime.cap_feeds import CapFeeds
    from warnd.runtime.conditions import Live
    from warnd.runtime.http import Endpoint
    from warnd.runtime.observe import Observer
    from warnd.store.outbox import Outbox

    # One account's CAP feed with its newest 50 alerts published, as partners poll it.
    feed = str(conn.execute("SELECT target FROM deliveries WHERE target LIKE 'feed:%' LIMIT 1").fetchone()[0])
    box = Outbox(conn)
    for i, row in enumerate(conn.execute("SELECT id FROM deliveries WHERE target = ? LIMIT 50", (feed,)).fetchall()):
        box.mark_sent(int(row[0]), f"20261124T0000{i:02d}Z-alert{i}.xml", datetime.now(UTC))
    account = feed.removeprefix("feed:")
    feeds = {account: FeedInfo(account, "bench", 50)}
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
        cap=CapFeeds(box, lambda: feeds),
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
        for path in ("/healthz", "/metrics", "/status", f"/cap/{account}/index.atom"):

            def one(path: str = path) -> int:
                assert client.get(path).status_code in (200, 503)
                return 1

            out.append(
                Row(
                    "endpoint",
                    f"GET {path} with {waiting:,} deliveries queued, 38 accounts"
                    + (" (50 alerts in the feed)" if path.startswith("/cap/") else ""),
                    f"{rate(one):,.0f} requests/s",
                )
            )
    asyncio.run_coroutine_threadsafe(ep.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    return out
