"""How the cost of taking a document in grows: with the regions judged, the rules, the accounts,
and the size of a gauge document.

Each point is a fresh process (`python -m bench.growth <point.json>`), so that its peak resident
memory (VmHWM) is its own: it builds a configuration of that size, reads 200 quakes at random
places on land (10 documents of 20) through the daemon's ingest, and reports the time per quake
to the commit, the time to make their CAP documents after it (runtime.cap_fill), and its peak
memory. The gauge points read one document of N readings. The figures go to the table and, when
matplotlib is installed (`pip install -e '.[bench]'`), to docs/growth.png.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import REGIONS, ROOT, TEMPLATES, Row, national_config, provinces

NOW = datetime(2026, 11, 24, tzinfo=UTC)
PLOT = ROOT / "docs" / "growth.png"
LAYERS = {
    "provinsi": "provinces.geojson",
    "kabupaten-kota": "regencies.geojson",
    "kecamatan": "districts.geojson",
}
LEVEL = {"provinsi": "province", "kabupaten-kota": "regency", "kecamatan": "district"}
N_QUAKES = 200


# --- the configurations ------------------------------------------------------------------------


def regencies() -> list[str]:
    doc = json.loads((REGIONS / "regencies.geojson").read_text())
    return sorted(f["properties"]["code"] for f in doc["features"])


def config(folder: Path, layers: list[str], n_rules: int, n_accounts: int, by_regency: bool = False) -> Path:
    """`n_accounts` file accounts, each speaking for one province in turn (`by_regency`: for one
    regency, spread over the country: two accounts may not share an area); `n_rules` quake rules
    over the provinces in turn, at the finest layer given, each naming the accounts in its
    province."""
    provs = [code for code, _ in provinces()]
    regs = regencies() if by_regency else []
    by_prov: dict[str, list[str]] = {p: [] for p in provs}
    accounts = []
    for i in range(n_accounts):
        area = regs[i * len(regs) // n_accounts] if by_regency else provs[i % len(provs)]
        p = area.split(".")[0]
        name = f"a{i}-{area}"
        by_prov[p].append(name)
        accounts.append(
            f'  {name}: {{channel: file, name: "{name}", path: {folder}/out/{name}.jsonl, regions: ["{area}"]}}'
        )
    level = LEVEL[layers[-1]]
    rules = ["rules:"]
    for i in range(n_rules):
        p = provs[i % len(provs)]
        names = by_prov[p] or [accounts_of(by_prov)]
        # Distinct rules, as an office's would be: thresholds and reach differ from one to the next.
        mag = 3 + (i // len(provs)) * 0.1
        where = (
            f'regions: ["{p}"], level: {level}, intensity: ">= 3"'
            if i % 2 == 0
            else (f'regions: ["{p}"], level: {level}, within_km: {50 + i % 7 * 25}')
        )
        rules.append(
            f'  - id: r{i}\n    match: {{hazard: earthquake, magnitude: ">= {mag:.1f}"}}\n'
            f"    where: {{{where}}}\n    then: {{accounts: [{', '.join(names)}], template: earthquake}}"
        )
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "r.yaml").write_text("\n".join(rules) + "\n")
    layer_lines = "\n".join(f"  - {{name: {n}, path: {REGIONS}/{LAYERS[n]}}}" for n in layers)
    cfg = folder / "warnd.yaml"
    cfg.write_text(
        f"""state_dir: {folder}/state
replay: true
feeds:
  - {{id: q, format: bmkg-tews, url: 'http://127.0.0.1:1/q', interval: 60}}
regions:
{layer_lines}
district_points: {REGIONS}/district-points.csv
templates: {TEMPLATES}
rules:
  - rules/*.yaml
accounts:
{chr(10).join(accounts)}
"""
    )
    return cfg


def accounts_of(by_prov: dict[str, list[str]]) -> str:
    """An account for a rule whose province has none (fewer accounts than provinces)."""
    return next(names[0] for names in by_prov.values() if names)


# --- one point, in a process of its own --------------------------------------------------------


def vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def point(spec: dict[str, Any]) -> dict[str, Any]:
    from warnd.clock import FixedClock
    from warnd.model import ParseResult, Source
    from warnd.pipeline.issue import make_cap
    from warnd.pollers import bmkg, petabencana
    from warnd.runtime.build import build
    from warnd.runtime.ingest import Ingest, issue_desk
    from warnd.store.db import connect

    with tempfile.TemporaryDirectory(prefix="warnd-bench-") as tmp:
        folder = Path(tmp)
        if spec.get("gauges"):
            # The national configuration: six rules a province, flood rules among them.
            nat = national_config(
                folder,
                "  - {id: g, format: petabencana, url: 'http://127.0.0.1:1/g', interval: 60}",
                x_base="http://127.0.0.1:1",
            )
            os.environ.update(nat.env)
            cfg = nat.cfg
        else:
            cfg = config(folder, spec["layers"], spec["rules"], spec["accounts"], spec.get("by_regency", False))
        started = time.perf_counter()
        bundle = build(cfg, with_senders=False)
        built = time.perf_counter() - started
        rss_built = vmhwm_mb()
        conn = connect(folder / "g.db")
        clock = FixedClock(NOW)
        ingest = Ingest(conn, clock, lambda: bundle, explain=False, defer_cap=True, decisions=True)
        out: dict[str, Any] = {"build_s": built, "rss_built_mb": rss_built}
        if spec.get("gauges"):
            data = Path(spec["gauges"]).read_bytes()
            t0 = time.perf_counter()
            parsed = petabencana.parse(data, Source("g", NOW))
            report = ingest.handle("g", ParseResult(parsed.events, parsed.rejected))
            out |= {"seconds": time.perf_counter() - t0, "warnings": len(report.warnings)}
        else:
            doc = (ROOT / "feeds" / "samples" / "bmkg-tews" / "autogempa_2024-01-10_sumedang_aldii.json").read_bytes()
            base = bmkg.parse(doc, Source("bench", NOW)).events[0]
            events = [
                replace(base, id=f"q{i}", lat=lat, lon=lon, magnitude=5.5, time=base.time + timedelta(minutes=i))
                for i, (lat, lon) in enumerate(spec["points"])
            ]
            desk = issue_desk(bundle)
            ingest_s = cap_s = 0.0
            warnings = 0
            for i in range(0, len(events), 20):
                t0 = time.perf_counter()
                report = ingest.handle("q", ParseResult(tuple(events[i : i + 20])))
                t1 = time.perf_counter()
                for order in report.caps:
                    make_cap(order, desk)
                ingest_s += t1 - t0
                cap_s += time.perf_counter() - t1
                warnings += len(report.warnings)
            n = len(events)
            out |= {"ingest_ms": ingest_s / n * 1000, "cap_ms": cap_s / n * 1000, "warnings": warnings}
        out["rss_mb"] = vmhwm_mb()
        conn.close()
    return out


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.growth", f.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        shown = {k: v for k, v in spec.items() if k != "points"}
        raise RuntimeError(f"growth point {shown} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the section ------------------------------------------------------------------------------


def gauge_doc(n: int, path: Path) -> None:
    """A PetaBencana-style document of `n` gauges at random places near regencies' centres, about
    40 % of them at a Siaga level (bench.micro.gauge_storm's, at any size)."""
    import random

    import shapely

    doc = json.loads((REGIONS / "regencies.geojson").read_text())
    anchors = [shapely.geometry.shape(f["geometry"]).representative_point() for f in doc["features"]]
    rnd = random.Random(3)
    t = NOW - timedelta(minutes=30)
    feats = []
    for i, a in enumerate(rnd.choices(anchors, k=n)):
        level = rnd.choice([4, 4, 4, 3, 2])
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(a.x + rnd.uniform(-0.03, 0.03), 5), round(a.y + rnd.uniform(-0.03, 0.03), 5)],
                },
                "properties": {
                    "gaugeid": f"g{i}",
                    "gaugenameid": f"Pos {i}",
                    # A normal reading, then the level: a gauge's rise is confirmed by its history.
                    "observations": [
                        {"f1": (t - timedelta(minutes=10)).isoformat(), "f2": 100, "f3": 4},
                        {"f1": t.isoformat(), "f2": 120 + level, "f3": level},
                    ],
                },
            }
        )
    path.write_text(json.dumps({"statusCode": 200, "result": {"type": "FeatureCollection", "features": feats}}))


def growth() -> list[Row]:
    from bench.daemon import land_points

    points = land_points(N_QUAKES, seed=23)
    every = list(LAYERS)
    series: dict[str, list[tuple[int, dict[str, Any]]]] = {"regions": [], "rules": [], "accounts": []}
    for i in range(1, 4):
        layers = every[:i]
        got = run_point({"layers": layers, "rules": 38, "accounts": 38, "points": points})
        n = {1: 38, 2: 38 + 514, 3: 38 + 514 + 7285}[i]
        series["regions"].append((n, got | {"layers": layers}))
    for n in (10, 30, 100, 300, 1000):
        series["rules"].append((n, run_point({"layers": every, "rules": n, "accounts": 38, "points": points})))
    for n in (1, 10, 50, 150, 500):
        spec = {"layers": every, "rules": 38, "accounts": n, "points": points, "by_regency": True}
        series["accounts"].append((n, run_point(spec)))
    gauges: list[tuple[int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="warnd-bench-") as tmp:
        for n in (1_000, 10_000, 100_000):
            doc = Path(tmp) / f"g{n}.json"
            gauge_doc(n, doc)
            gauges.append((n, run_point({"layers": every, "gauges": str(doc)})))
    rows = []
    what = {
        "regions": "regions judged (provinces; + regencies; + districts), 38 rules, 38 accounts",
        "rules": "quake rules (every region layer, 38 accounts)",
        "accounts": "accounts, each for a regency (every region layer, 38 rules naming the accounts in their province)",
    }
    for key, pts in series.items():
        rows.append(
            Row(
                "growth",
                f"ingest per quake vs {what[key]} ({N_QUAKES} quakes on land, documents of 20)",
                "; ".join(
                    f"{n:,}: {g['ingest_ms']:.1f} ms + CAP {g['cap_ms']:.1f} ms, {g['rss_mb']:.0f} MB" for n, g in pts
                ),
                {"points": [{"n": n, **{k: v for k, v in g.items() if k != "points"}} for n, g in pts]},
            )
        )
    rows.append(
        Row(
            "growth",
            "gauge readings in one document (the national configuration: every region layer, 228 rules, 38"
            " accounts; about 40 % of gauges at a Siaga level): parse + ledger + rules + render + outbox",
            "; ".join(
                f"{n:,}: {g['seconds']:.1f} s ({g['seconds'] / n * 1e6:.0f} µs a reading), {g['rss_mb']:.0f} MB"
                for n, g in gauges
            ),
            {"points": [{"n": n, **g} for n, g in gauges]},
        )
    )
    plotted = plot(series, gauges)
    rows.append(Row("growth", "the plot", plotted, {"plot": plotted}))
    return rows


def plot(series: dict[str, list[tuple[int, dict[str, Any]]]], gauges: list[tuple[int, dict[str, Any]]]) -> str:
    try:
        # Looked up by name: the bench extra brings it, the test extra does not.
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return "not drawn: matplotlib is not installed (pip install -e '.[bench]')"
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), constrained_layout=True)
    titles = {"regions": "regions judged", "rules": "rules", "accounts": "accounts"}
    for col, (key, pts) in enumerate(series.items()):
        xs = [n for n, _ in pts]
        top, bottom = axes[0][col], axes[1][col]
        top.plot(xs, [g["ingest_ms"] for _, g in pts], "o-", label="to the commit")
        top.plot(xs, [g["cap_ms"] for _, g in pts], "s--", label="CAP after it")
        top.set_title(f"ms per quake vs {titles[key]}")
        bottom.plot(xs, [g["rss_mb"] for _, g in pts], "o-", color="C2")
        bottom.set_title(f"peak memory (MB) vs {titles[key]}")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.grid(True, alpha=0.3)
        top.legend()
    xs = [n for n, _ in gauges]
    axes[0][3].plot(xs, [g["seconds"] for _, g in gauges], "o-", label="measured")
    per = gauges[0][1]["seconds"] / gauges[0][0]
    axes[0][3].plot(xs, [per * n for n in xs], ":", label="linear from the first")
    axes[0][3].set_title("seconds vs gauge readings in a document")
    axes[0][3].legend()
    axes[1][3].plot(xs, [g["rss_mb"] for _, g in gauges], "o-", color="C2")
    axes[1][3].set_title("peak memory (MB) vs gauge readings")
    for ax in (axes[0][3], axes[1][3]):
        ax.set_xscale("log")
        ax.set_yscale("log") if ax is axes[0][3] else None
        ax.grid(True, alpha=0.3)
    fig.suptitle("warnd: cost of taking a document in, by size (bench/run.py --only growth)")
    fig.savefig(PLOT, dpi=80)
    plt.close(fig)
    return f"{PLOT.relative_to(ROOT)}" if PLOT.is_relative_to(ROOT) else str(PLOT)


if __name__ == "__main__":
    from warnd.obs import setup_logging

    setup_logging("warning")
    print(json.dumps(point(json.loads(Path(sys.argv[1]).read_text()))))
