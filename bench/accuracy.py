"""Whom warnd warns, against whom BMKG says felt the quake.

    .venv/bin/python -m bench.accuracy            # table on stdout, figures in bench/accuracy.json

Every real felt quake under feeds/samples (gempadirasakan, autogempa with Dirasakan, InaTEWS felt
messages, the 2013 legacy lists) is replayed through the rule engine with its felt list
withheld, as the first automatic report would arrive. The regencies the rules name are compared
with the regencies BMKG later listed as having felt it (the felt list mapped by the gazetteer,
the same code the daemon uses):

- recall: felt regencies warned / felt regencies (over all quakes);
- warned per felt: regencies warned / felt regencies (how wide the net is);
- the misses, with magnitude, depth and the distance from the epicentre to the regency's
  nearest kecamatan point.

Rows: the starter rules (config/rules/gempa.yaml) and single-threshold variants (every quake of
M3.0 or more, intensity >= T), each with the intensity model as shipped and with the crustal
equation alone (to show what the intermediate-depth model changes). The tsunami zones of every
InaTEWS document are counted too (bench.zones). Nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import zones as zone_bench  # noqa: E402
from bench.common import machine  # noqa: E402
from warnd import shaking  # noqa: E402
from warnd.config.schema import Rule  # noqa: E402
from warnd.errors import FeedError  # noqa: E402
from warnd.geo import RegionIndex  # noqa: E402
from warnd.model import ChangeKind, EventChange, Hazard, HazardEvent, Source  # noqa: E402
from warnd.obs import setup_logging  # noqa: E402
from warnd.pollers.registry import detect  # noqa: E402
from warnd.rules import engine  # noqa: E402
from warnd.rules.compiled import RuleSet, compile_rules  # noqa: E402
from warnd.rules.felt import felt_regencies  # noqa: E402
from warnd.runtime.build import build  # noqa: E402

SAMPLES = ROOT / "feeds" / "samples"
CONFIG = ROOT / "config" / "warnd.yaml"
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0)
# Two reports of one quake (the same quake in several documents).
SAME_SECONDS = 3.0
SAME_DEGREES = 0.3


@dataclass
class Quake:
    event: HazardEvent
    documents: list[str]
    felt: dict[str, int]
    """Felt regency code -> highest MMI BMKG reported there."""
    unmapped: list[str]


@dataclass
class Outcome:
    rules: str
    model: str
    felt: int = 0
    hit: int = 0
    warned: int = 0
    quakes_silent: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    """Per quake: regencies warned / felt regencies."""

    @property
    def recall(self) -> float:
        return self.hit / self.felt if self.felt else 0.0

    @property
    def per_felt(self) -> float:
        return self.warned / self.felt if self.felt else 0.0

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 0.0


def felt_quakes(index: RegionIndex) -> list[Quake]:
    """Every quake with a felt list in the samples, once, with the longest felt list seen."""
    now = datetime.now(UTC)
    found: list[Quake] = []
    for path in sorted(SAMPLES.glob("bmkg-*/*")):
        if path.suffix not in (".json", ".xml"):
            continue
        try:
            _, result = detect(path.read_bytes(), Source("samples", now, path.name))
        except FeedError:
            continue
        for ev in result.events:
            if ev.hazard is not Hazard.EARTHQUAKE or not ev.felt or ev.lat is None or ev.lon is None:
                continue
            same = next((q for q in found if _same(q.event, ev)), None)
            if same is not None:
                same.documents.append(path.name)
                if len(ev.felt) <= len(same.event.felt):
                    continue
                found.remove(same)
            where = felt_regencies(index, ev)
            felt = {code: high for code, (_, high) in where.regencies.items()}
            # A place known only as a province ("Jakarta") is one felt unit, met by any regency of it.
            for code, (_, high) in where.provinces.items():
                if not any(c.startswith(code + ".") for c in felt):
                    felt[code] = high
            unmapped = [f.place for f in where.unmapped]
            found.append(Quake(ev, [path.name] if same is None else [*same.documents], felt, unmapped))
    return sorted(found, key=lambda q: q.event.time)


def _same(a: HazardEvent, b: HazardEvent) -> bool:
    assert a.lat is not None and a.lon is not None and b.lat is not None and b.lon is not None
    return (
        abs((a.time - b.time).total_seconds()) <= SAME_SECONDS
        and abs(a.lat - b.lat) <= SAME_DEGREES
        and abs(a.lon - b.lon) <= SAME_DEGREES
    )


def single_threshold(mmi: float, accounts: Sequence[str], tolerance_km: float) -> RuleSet:
    rule = Rule.model_validate(
        {
            "id": f"mmi-{mmi:g}",
            "match": {"hazard": "earthquake", "magnitude": ">= 3.0"},
            "where": {"intensity": f">= {mmi:g}", "level": "regency"},
            "then": {"accounts": ["*"]},
        }
    )
    return compile_rules([rule], tolerance_km, accounts)


@contextmanager
def crustal_only() -> Iterator[None]:
    """The rule engine with the crustal equation at every depth (the model before the
    intermediate-depth one): what the latter changes, measured on the same quakes."""
    saved = shaking.predicted_mmi
    # felt_radius_km bisects over shaking.predicted_mmi; the engine reads intensities through its own
    # import of it.
    for module in (shaking, engine):
        setattr(module, "predicted_mmi", shaking.crustal_mmi)  # noqa: B010
    engine.felt_radius.cache_clear()
    try:
        yield
    finally:
        for module in (shaking, engine):
            setattr(module, "predicted_mmi", saved)  # noqa: B010
        engine.felt_radius.cache_clear()


def replay(quakes: Sequence[Quake], ruleset: RuleSet, index: RegionIndex, rules: str, model: str) -> Outcome:
    out = Outcome(rules, model)
    for q in quakes:
        # The first automatic report carries no felt list: that is what the rules must judge.
        ev = replace(q.event, felt=())
        matches, _ = engine.evaluate(ruleset, index, EventChange(ChangeKind.NEW, ev), explain=False)
        warned = {r.code for m in matches for r in m.regions if r.level == "regency"}
        hit = {c for c in q.felt if c in warned or ("." not in c and any(w.startswith(c + ".") for w in warned))}
        out.felt += len(q.felt)
        out.warned += len(warned)
        out.hit += len(hit)
        out.quakes_silent += int(not warned)
        out.ratios.append(len(warned) / len(q.felt) if q.felt else 0.0)
        for code in sorted(q.felt.keys() - hit):
            out.misses.append(
                {
                    "time": ev.time.isoformat(),
                    "magnitude": ev.magnitude,
                    "depth_km": ev.depth_km,
                    "regency": code,
                    "name": index.by_code[code].name if code in index.by_code else code,
                    "felt_mmi": q.felt[code],
                    "distance_km": round(_nearest_point_km(index, ev, code), 1),
                }
            )
    return out


def _nearest_point_km(index: RegionIndex, ev: HazardEvent, code: str) -> float:
    assert ev.lat is not None and ev.lon is not None
    mine = index.points.under(code)
    return float(index.points.distances_km(ev.lat, ev.lon)[mine].min()) if len(mine) else float("nan")


def zones() -> dict[str, Any]:
    result: dict[str, Any] = zone_bench.measure()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "accuracy.json", help="where to write the figures")
    p.add_argument("--misses", type=int, default=40, help="how many misses of the starter rules to list")
    args = p.parse_args(argv)
    setup_logging("error")
    bundle = build(CONFIG, with_senders=False)
    index = bundle.regions
    quakes = felt_quakes(index)
    accounts = list(bundle.accounts)
    tolerance = bundle.ruleset.tolerance_km
    variants: list[tuple[str, Callable[[], RuleSet]]] = [("starter rules", lambda: bundle.ruleset)]
    variants += [
        (f"M>=3, MMI >= {t:g}", functools.partial(single_threshold, t, accounts, tolerance)) for t in THRESHOLDS
    ]
    outcomes: list[Outcome] = []
    for name, make in variants:
        outcomes.append(replay(quakes, make(), index, name, "shipped"))
        with crustal_only():
            outcomes.append(replay(quakes, make(), index, name, "crustal only"))

    n_felt = sum(len(q.felt) for q in quakes)
    n_places = sum(len(q.event.felt) for q in quakes)
    n_unmapped = sum(len(q.unmapped) for q in quakes)
    print(f"{len(quakes)} felt quakes, {n_places} felt places, {n_felt} felt regencies, {n_unmapped} places unmapped")
    print()
    print(
        "| rules | intensity model | recall of felt regencies | regencies warned / felt, all quakes"
        " | the same, median quake | quakes warning nobody |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for o in outcomes:
        print(
            f"| {o.rules} | {o.model} | {o.recall:.0%} ({o.hit}/{o.felt}) | {o.per_felt:.2f} "
            f"({o.warned}/{o.felt}) | {o.median_ratio:.2f} | {o.quakes_silent} |"
        )
    starter = outcomes[0]
    print()
    print(f"Misses of the starter rules ({len(starter.misses)}):")
    print()
    print("| quake (UTC) | M | depth km | regency | felt MMI | km to its nearest kecamatan |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for m in starter.misses[: args.misses]:
        print(
            f"| {m['time'][:16]} | {m['magnitude']} | {m['depth_km']} | {m['name']} | {m['felt_mmi']} |"
            f" {m['distance_km']} |"
        )
    unmapped = sorted({u for q in quakes for u in q.unmapped})
    if unmapped:
        print()
        print("Felt places the gazetteer could not map: " + ", ".join(unmapped))
    z = zones()
    print()
    print(f"Tsunami warning zones: {z.get('mapped')}/{z.get('zones')} mapped")
    figures = {
        "machine": machine(),
        "command": "python -m bench.accuracy",
        "quakes": [
            {
                "time": q.event.time.isoformat(),
                "magnitude": q.event.magnitude,
                "depth_km": q.event.depth_km,
                "documents": q.documents,
                "felt": q.felt,
                "unmapped": q.unmapped,
            }
            for q in quakes
        ],
        "outcomes": [
            {
                "rules": o.rules,
                "model": o.model,
                "recall": o.recall,
                "warned_per_felt": o.per_felt,
                "warned_per_felt_median_quake": o.median_ratio,
                "felt": o.felt,
                "hit": o.hit,
                "warned": o.warned,
                "quakes_silent": o.quakes_silent,
                "misses": o.misses,
            }
            for o in outcomes
        ],
        "zones": z,
    }
    args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
