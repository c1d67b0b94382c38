"""Map images of warnings (warnd.maps): render time and PNG size with the region layers of the
shipped national configuration (config/warnd.yaml), over random quakes on land, each warning a
provincial account's (the regencies of the epicentre's province within the quake's felt radius),
and the real tsunami, nowcast, gauge and felt-list warnings of the recorded documents."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import PYTHON, ROOT, SAMPLES, Row, fmt_ms, ms, scratch
from warnd.clock import FixedClock
from warnd.errors import FeedError
from warnd.geo import RegionIndex
from warnd.maps import render_map
from warnd.model import Hazard, HazardEvent, MsgType, Priority, Source, Status, Warning, WarningKind
from warnd.pollers.registry import detect
from warnd.runtime.build import Bundle, build
from warnd.runtime.ingest import Ingest
from warnd.runtime.maps import in_post_order, wanted
from warnd.runtime.simulate import Document, simulate
from warnd.shaking import felt_radius_km
from warnd.store import db

CONFIG = ROOT / "config" / "warnd.yaml"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
GOAL_MS = 150.0


def land_quakes(regions: RegionIndex, n: int, seed: int = 7) -> list[tuple[HazardEvent, Warning]]:
    rnd = random.Random(seed)
    out: list[tuple[HazardEvent, Warning]] = []
    while len(out) < n:
        lat, lon = rnd.uniform(-11, 6), rnd.uniform(95, 141)
        hits = regions.locate(lat, lon, "regency", 0.0)
        if not hits:
            continue
        mag, depth = rnd.uniform(4.5, 7.5), rnd.uniform(5, 150)
        province = hits[0].region.code.split(".")[0]
        radius = max(10.0, felt_radius_km(mag, depth, 3.0))
        near = [
            h.region for h in regions.within(lat, lon, "regency", radius) if h.region.code.startswith(province + ".")
        ]
        event = HazardEvent(
            id=f"bench-{len(out)}",
            feed="bmkg-autogempa",
            feed_format="bmkg-autogempa-json",
            hazard=Hazard.EARTHQUAKE,
            msg_type=MsgType.ALERT,
            status=Status.ACTUAL,
            time=NOW + timedelta(minutes=len(out)),
            lat=lat,
            lon=lon,
            magnitude=round(mag, 1),
            depth_km=round(depth),
            place=f"{hits[0].region.name}",
        )
        warning = Warning(
            id=f"w-{len(out)}",
            event_id=event.id,
            revision=event.revision,
            rule="gempa-dirasakan",
            account=f"gempa-{province}",
            kind=WarningKind.NEW,
            severity=None,
            priority=Priority.HIGH,
            regions=tuple(near or [hits[0].region]),
            lang="id",
            text="",
            status=Status.ACTUAL,
            created_at=event.time,
        )
        out.append((event, warning))
    return out


def recorded() -> list[tuple[HazardEvent, Warning]]:
    """The warnings the recorded documents make through the shipped configuration."""
    cases: list[tuple[list[Path], str, datetime | None]] = [
        (sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir()), "bmkg-inatews-last30tsunamievent", None),
        (
            [SAMPLES / "bmkg-inatews" / "datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json"],
            "bmkg-inatews-datagempa",
            None,
        ),
        ([SAMPLES / "bmkg-tews" / "gempadirasakan_2025-12-24_darcien.json"], "bmkg-gempadirasakan", None),
        (
            [SAMPLES / "bmkg-nowcast" / "nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"],
            "bmkg-nowcast",
            datetime(2026, 2, 16, 16, 45, tzinfo=UTC),
        ),
        ([SAMPLES / "gauges" / "dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"], "dsda-xmldata", None),
    ]
    out: list[tuple[HazardEvent, Warning]] = []
    for paths, feed, at in cases:
        now = at or datetime.now(UTC)
        docs = [Document(str(p), p.read_bytes(), feed) for p in paths]
        run = simulate(CONFIG, docs, [now], follow=at is None)
        events: dict[str, HazardEvent] = {}
        for d in docs:
            events.update({e.revision: e for e in detect(d.data, Source(d.feed, now, d.name))[1].events})
        out += [(events[w.revision], w) for w in run.warnings if w.revision in events]
    return out


def _import_cost() -> dict[str, float]:
    """What importing warnd.maps (Pillow) adds to a process that has the rest of the daemon."""
    code = (
        "import os, time, warnd.app\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20\n"
        "r0 = rss(); t = time.perf_counter(); import warnd.maps; dt = time.perf_counter() - t\n"
        "import json; print(json.dumps({'ms': dt * 1000, 'mb': rss() - r0}))"
    )
    runs: list[dict[str, float]] = [
        json.loads(subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout)
        for _ in range(5)
    ]
    runs.sort(key=lambda r: r["ms"])
    return runs[len(runs) // 2]


def maps(n: int = 100) -> list[Row]:
    bundle = build(CONFIG, with_senders=False)
    regions = bundle.regions
    quakes = land_quakes(regions, n)
    real = recorded()
    t = time.perf_counter()
    render_map(*quakes[0], regions, credit="BMKG")
    first = time.perf_counter() - t
    took: list[float] = []
    took_real: list[float] = []
    sizes: list[int] = []
    load = os.getloadavg()[0]
    cpu = time.process_time()
    for event, warning in quakes:
        t = time.perf_counter()
        png = render_map(event, warning, regions, credit="BMKG")
        took.append(time.perf_counter() - t)
        sizes.append(len(png))
    cpu_ms = (time.process_time() - cpu) / len(quakes) * 1000
    for event, warning in real:
        credit = bundle.renderer.credit(event)
        for _ in range(3):
            t = time.perf_counter()
            png = render_map(event, warning, regions, credit=credit)
            took_real.append(time.perf_counter() - t)
        sizes.append(len(png))
    every = ms(took + took_real)
    sizes.sort()
    kb = {"n": len(sizes), "p50": sizes[len(sizes) // 2] / 1024, "max": sizes[-1] / 1024}
    cost = _import_cost()
    return [
        Row(
            "maps",
            f"render a warning's map, national layers ({n} quakes on land, {len(real)} recorded warnings x 3)",
            f"{fmt_ms(every)}; CPU {cpu_ms:.0f} ms a quake's map (load average {load:.1f} when started)",
            {"all": every, "quakes": ms(took), "recorded": ms(took_real), "cpu_ms": cpu_ms, "load": load},
            f"p99 <= {GOAL_MS:.0f} ms",
            bool(every.get("p99", 1e9) <= GOAL_MS),
        ),
        Row("maps", "render: the recorded tsunami, nowcast, gauge and felt-list warnings", fmt_ms(ms(took_real))),
        Row(
            "maps",
            "PNG size (1200x675)",
            f"p50 {kb['p50']:.0f} kB, max {kb['max']:.0f} kB (n={kb['n']})",
            kb,
            "<= 1 MB",
            kb["max"] <= 1024,
        ),
        Row(
            "maps",
            "first map after a region load (outlines built once per load)",
            f"{first * 1000:.0f} ms",
            {"ms": first * 1000},
        ),
        Row(
            "maps",
            "import warnd.maps (Pillow) into the daemon's process",
            f"{cost['ms']:.0f} ms, +{cost['mb']:.1f} MB peak RSS",
            cost,
        ),
        _first_maps(bundle),
    ]


def _first_maps(bundle: Bundle) -> Row:
    """How many maps are drawn before each account's first one (its first post waits for it),
    over the recorded documents that warn more than one account: in the order the warnings were
    issued, and in the order the daemon draws them (runtime.maps.in_post_order)."""
    issued_order: list[int] = []
    post_order: list[int] = []
    documents = 0
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.suffix == ".md":
            continue
        try:
            _, result = detect(path.read_bytes(), Source(path.stem, NOW))
        except FeedError:  # SOURCES.md, a schema: no feed document
            continue
        if not result.events:
            continue
        with scratch() as tmp:
            conn = db.connect(Path(tmp) / "w.db")
            clock = FixedClock(max(e.sent or e.time for e in result.events))
            made = Ingest(conn, clock, lambda: bundle, replay=True).handle(path.stem, result).drawings
            conn.close()
        made = [d for d in made if wanted(d.warning)]
        if len({d.warning.account for d in made}) < 2:
            continue
        documents += 1
        for order, out in ((made, issued_order), (in_post_order(made), post_order)):
            seen: set[str] = set()
            for i, d in enumerate(order):
                if d.warning.account not in seen:
                    seen.add(d.warning.account)
                    out.append(i)

    def summed(xs: list[int]) -> dict[str, float]:
        xs = sorted(xs)
        return {"mean": sum(xs) / len(xs), "p90": xs[int(len(xs) * 0.9)], "max": xs[-1]}

    def said(xs: list[int]) -> str:
        f = summed(xs)
        return f"mean {f['mean']:.1f}, p90 {f['p90']:.0f}, max {f['max']:.0f}"

    return Row(
        "maps",
        f"maps drawn before an account's first map, {len(issued_order)} accounts of the {documents} recorded"
        " documents that warn several (as issued / as drawn)",
        f"{said(issued_order)} / {said(post_order)}",
        {
            "accounts": len(issued_order),
            "documents": documents,
            "issued": summed(issued_order),
            "drawn": summed(post_order),
        },
    )
