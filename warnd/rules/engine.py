"""Which rules an event change fires, and for which regions. Pure: data in, data out.

Where an event is decides how regions are found:
- tsunami warning zones (InaTEWS wzarea): the regencies the zones name, each zone kept as a
  part of its regency with its level (a PD-4 that lists none ends the zones of the message
  before it); a zone whose name matches no regency is carried by the province BMKG named;
- an area (CAP polygons and circles): the regions it overlaps, largest overlap first, then the
  places its description names within its province (BMKG nowcast: rules/described.py);
- a point: the region containing it (or the nearest within the tolerance), plus those within
  `within_km`, or those whose predicted shaking meets `intensity`; nearest first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from warnd.geo import Hit, RegionIndex, covers
from warnd.model import ChangeKind, EventChange, HazardEvent, Match, Reason, Region, Zone, ZonePart
from warnd.rules.compiled import FIELDS, CompiledRule, RuleSet
from warnd.rules.described import described
from warnd.rules.felt import FeltMap, map_felt
from warnd.rules.gazetteer import regions_at
from warnd.rules.zones import ZoneMap
from warnd.shaking import felt_radius_km, predicted_mmi


def zone_map(index: RegionIndex) -> ZoneMap:
    """One ZoneMap per loaded region set."""
    return index.derived(ZoneMap)


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule that did not fire, and why (for logs and --explain). The detail of an event
    outside a rule's regions is written only when read: a quake passes over most rules."""

    rule: str
    reason: Reason
    why: str | Callable[[], str]

    @property
    def detail(self) -> str:
        return self.why if isinstance(self.why, str) else self.why()


class Places:
    """Where one point event is, asked once per level however many rules ask.

    Rules differ in level, distance and intensity, but the regions near a point do not: for each
    level the widest search any rule needs (its `within_km`, or the radius its intensity
    reaches for this quake) is made once, and each rule filters it by its own distance."""

    def __init__(self, index: RegionIndex, ruleset: RuleSet, ev: HazardEvent) -> None:
        self.index = index
        self.ruleset = ruleset
        self.ev = ev
        self.located: dict[str, list[Hit]] = {}
        self._near: dict[str, tuple[float, list[Hit]]] = {}
        self._by_province: dict[str, dict[str, list[Hit]]] = {}
        self._tops: dict[str, set[str]] = {}
        self._shaken: dict[str, tuple[float, list[Hit]]] = {}
        self._dist: npt.NDArray[np.float64] | None = None
        self._felt: FeltMap | None = None

    def felt(self) -> FeltMap:
        """The event's felt list as regions, read once however many rules ask."""
        if self._felt is None:
            self._felt = map_felt(self.index, self.ev.felt, self.ev.lat, self.ev.lon)
        return self._felt

    def point_distances(self) -> npt.NDArray[np.float64]:
        """Kilometres from the epicentre to every district point, measured once."""
        if self._dist is None:
            assert self.ev.lat is not None and self.ev.lon is not None
            self._dist = self.index.points.distances_km(self.ev.lat, self.ev.lon)
        return self._dist

    def distance_to(self, region: Region) -> float:
        """From the epicentre to the nearest district point of a region (0 if it has none)."""
        mine = self.index.points.under(region.code)
        return float(self.point_distances()[mine].min()) if len(mine) else 0.0

    def shaken(self, level: str, km: float, scope: tuple[str, ...] = ()) -> list[Hit]:
        """Regions of `level` with a district point within `km` of the epicentre, each at the
        distance of its nearest such point, nearest first. Predicted intensity falls with
        distance, so the nearest point of a region is its most shaken one."""
        done = self._shaken.get(level)
        if done is None or done[0] < km:
            assert self.ev.lat is not None and self.ev.lon is not None
            reach = max(km, self._reach(level)[1])
            dist = self.point_distances()
            nearest: dict[str, Hit] = {}
            for i in np.flatnonzero(dist <= reach)[np.argsort(dist[dist <= reach], kind="stable")].tolist():
                region = self._region_of(i, level)
                if region is not None and region.code not in nearest:
                    nearest[region.code] = Hit(region, float(dist[i]))
            done = self._shaken[level] = (reach, list(nearest.values()))
        return [h for h in _scoped(done[1], scope) if h.distance_km <= km]

    def _region_of(self, i: int, level: str) -> Region | None:
        points = self.index.points
        code = points.codes[i]
        region = self.index.region_at(code, level)
        if region is None and level == "district" and code.count(".") == 2:
            # District polygons need not be loaded for a district-level rule: the points name them.
            region = Region(code, points.names[i], "district", code.rsplit(".", 1)[0])
        return region

    def locate(self, level: str, scope: tuple[str, ...] = ()) -> list[Hit]:
        hits = self.located.get(level)
        if hits is None:
            assert self.ev.lat is not None and self.ev.lon is not None
            hits = self.located[level] = self.index.locate(self.ev.lat, self.ev.lon, level, self.ruleset.tolerance_km)
        return _scoped(hits, scope)

    def near(self, level: str, km: float, scope: tuple[str, ...] = ()) -> list[Hit]:
        """Regions of `level` within `km`, nearest first; only those under `scope` if given."""
        done = self._near.get(level)
        if done is None or done[0] < km:
            assert self.ev.lat is not None and self.ev.lon is not None
            reach = max(km, self._reach(level)[0])
            found = self.index.within(self.ev.lat, self.ev.lon, level, reach)
            done = self._near[level] = (reach, found)
            self._by_province[level] = _by_province(found)
        if not scope:
            return [h for h in done[1] if h.distance_km <= km]
        # A provincial rule looks only at its province's regions, not at every region near.
        groups = self._by_province[level]
        tops = {p.split(".", 1)[0] for p in scope}
        pool = (
            groups.get(next(iter(tops)), [])
            if len(tops) == 1
            else [h for h in done[1] if h.region.code.split(".", 1)[0] in tops]
        )
        return [h for h in _scoped(pool, scope) if h.distance_km <= km]

    def reaches(self, level: str, scope: tuple[str, ...]) -> bool:
        """Whether any rule's search at `level` can find a region under `scope` (by province):
        a provincial rule for the other side of the country is passed over at once."""
        tops = self._tops.get(level)
        if tops is None:
            tops = {h.region.code.split(".", 1)[0] for h in self.locate(level)}
            within, shaking = self._reach(level)
            if within > 0:
                tops |= {h.region.code.split(".", 1)[0] for h in self.near(level, within)}
            if shaking > 0:
                # The kecamatan points are far cheaper to measure than every polygon's edge.
                tops |= {h.region.code.split(".", 1)[0] for h in self.shaken(level, shaking)}
            if self.ev.felt and any(r.intensity is not None for r in self.ruleset.by_hazard.get(self.ev.hazard, ())):
                tops |= {p.place.region.code.split(".", 1)[0] for p in self.felt().mapped if p.place is not None}
            self._tops[level] = tops
        return any(p.split(".", 1)[0] in tops for p in scope)

    def _reach(self, level: str) -> tuple[float, float]:
        """The widest search any rule of the event's hazard needs at `level`: by distance to the
        polygons (`within_km`), and by shaking at the kecamatan points (`intensity`)."""
        within = shaking = 0.0
        for rule in self.ruleset.by_hazard.get(self.ev.hazard, ()):
            if rule.level != level:
                continue
            if rule.within_km:
                within = max(within, rule.within_km)
            if rule.intensity is not None and self.ev.magnitude is not None:
                shaking = max(shaking, felt_radius(self.ev.magnitude, self.ev.depth_km, rule.intensity.value))
        return within, shaking


def _scoped(hits: list[Hit], scope: tuple[str, ...]) -> list[Hit]:
    return [h for h in hits if covers(h.region.code, scope)] if scope else hits


def _by_province(hits: list[Hit]) -> dict[str, list[Hit]]:
    out: dict[str, list[Hit]] = {}
    for h in hits:
        out.setdefault(h.region.code.split(".", 1)[0], []).append(h)
    return out


@functools.lru_cache(maxsize=4096)
def felt_radius(magnitude: float, depth_km: float | None, mmi: float) -> float:
    return felt_radius_km(magnitude, depth_km, mmi)


def evaluate_many(
    ruleset: RuleSet, regions: RegionIndex, changes: Sequence[EventChange], explain: bool = True
) -> list[tuple[list[Match], list[Skip]]]:
    """`evaluate` for every change of one document: the point events are located together,
    level by level, in one pass through the index."""
    places = [
        Places(regions, ruleset, c.event)
        if c.kind is not ChangeKind.UNCHANGED and c.event.lat is not None and c.event.lon is not None
        else None
        for c in changes
    ]
    located = [p for p in places if p is not None]
    if located:
        hazards = {p.ev.hazard for p in located}
        for level in {r.level for h in hazards for r in ruleset.by_hazard.get(h, ())}:
            found = regions.locate_many(
                [(p.ev.lat, p.ev.lon) for p in located],  # type: ignore[misc]
                level,
                ruleset.tolerance_km,
            )
            for p, hits in zip(located, found, strict=True):
                p.located[level] = hits
    return [evaluate(ruleset, regions, c, p, explain) for c, p in zip(changes, places, strict=True)]


def evaluate(
    ruleset: RuleSet,
    regions: RegionIndex,
    change: EventChange,
    places: Places | None = None,
    explain: bool = True,
) -> tuple[list[Match], list[Skip]]:
    """The rules the change fires, and why the others did not. Without `explain`, the rules of
    other hazards are passed over unreported (the daemon's path: a quake meets 200 rules
    of which most are about weather, floods and tsunamis)."""
    matches: list[Match] = []
    skips: list[Skip] = []
    if change.kind is ChangeKind.UNCHANGED:
        return matches, skips
    ev = change.event
    if places is None and ev.lat is not None and ev.lon is not None:
        places = Places(regions, ruleset, ev)
    for rule in ruleset.rules if explain else ruleset.by_hazard.get(ev.hazard, ()):
        verdict = _evaluate_rule(rule, regions, change, places)
        if isinstance(verdict, Skip):
            skips.append(verdict)
        else:
            matches.append(verdict)
    return matches, skips


def _fields(rule: CompiledRule, ev: HazardEvent) -> Skip | None:
    if ev.hazard not in rule.hazards:
        return Skip(
            rule.id, Reason.HAZARD_MISMATCH, f"hazard {ev.hazard.value} not in {sorted(h.value for h in rule.hazards)}"
        )
    if rule.feeds is not None and ev.feed not in rule.feeds:
        return Skip(rule.id, Reason.FEED_MISMATCH, f"feed {ev.feed} not in {sorted(rule.feeds)}")
    if ev.status not in rule.statuses:
        return Skip(
            rule.id, Reason.STATUS_MISMATCH, f"status {ev.status.value} not in {sorted(s.value for s in rule.statuses)}"
        )
    for t in rule.thresholds:
        actual = FIELDS[t.field](ev)
        if actual is None:
            return Skip(rule.id, Reason.BELOW_THRESHOLD, f"{t.field} unknown, rule needs {t}")
        if not t.test(actual):
            return Skip(rule.id, Reason.BELOW_THRESHOLD, f"{t.field} {actual:g} fails {t}")
    cap_fields: tuple[tuple[str, frozenset[str] | None, str | None], ...] = (
        ("severity", rule.severities, ev.severity),
        ("urgency", rule.urgencies, ev.urgency),
        ("certainty", rule.certainties, ev.certainty),
    )
    for name, wanted, value in cap_fields:
        if wanted is not None and (value or "unknown") not in wanted:
            return Skip(rule.id, Reason.FIELD_MISMATCH, f"{name} {value} not in {sorted(wanted)}")
    if rule.words is not None:
        text = f"{ev.event_name or ''} {ev.headline or ''}".lower()
        if not any(w in text for w in rule.words):
            return Skip(rule.id, Reason.FIELD_MISMATCH, f"event {ev.event_name!r} mentions none of {list(rule.words)}")
    if rule.tsunami is not None and ev.tsunami is not rule.tsunami:
        return Skip(rule.id, Reason.FIELD_MISMATCH, f"tsunami {ev.tsunami} is not {rule.tsunami}")
    # Zones carry their own levels and are filtered one by one below; a PD-4 has none left.
    if rule.levels is not None and not ev.zones and not ev.ended and (ev.level or "") not in rule.levels:
        return Skip(rule.id, Reason.LEVEL_MISMATCH, f"level {ev.level} not in {sorted(rule.levels)}")
    return None


def _evaluate_rule(rule: CompiledRule, index: RegionIndex, change: EventChange, places: Places | None) -> Match | Skip:
    ev = change.event
    skip = _fields(rule, ev)
    if skip is not None:
        return skip
    notes: dict[str, str] = {}
    unmapped: list[str] = []
    unmapped_places: tuple[str, ...] = ()
    parts: list[ZonePart] = []
    zones = ev.zones or (change.previous.zones if ev.ended and change.previous else ())
    if zones:
        hits, parts, unmapped = _zone_hits(rule, index, ev, zones, notes)
        if unmapped and not hits:
            # Only without a province layer: nothing can stand in for the zones.
            return Skip(rule.id, Reason.UNMAPPED_ZONE, f"no region for warning zones {', '.join(unmapped)}")
    elif ev.area is not None:
        hits = index.intersecting(ev.area, rule.level)
        named = described(index, ev)
        if named is not None:
            # A nowcast's polygons are coarse; the kecamatan its text names are where it is meant.
            seen = {h.region.code for h in hits}
            hits += [Hit(r, 0.0) for r in named.regions(index, rule.level) if r.code not in seen]
            unmapped_places = named.unmapped
    elif places is not None:
        hits = _point_hits(rule, places, notes)
        if rule.intensity is not None and ev.felt:
            unmapped_places = tuple(f.place for f in places.felt().unmapped)
    else:
        return Skip(rule.id, Reason.NO_LOCATION, "event has no zones, area or point location")
    if rule.regions:
        hits = [h for h in hits if covers(h.region.code, rule.regions)]
    if not hits:
        return Skip(rule.id, Reason.OUTSIDE_REGION, functools.partial(_nowhere, rule, ev))
    kept = {h.region.code for h in hits}
    return Match(
        rule=rule.id,
        event=ev,
        change=change.kind,
        regions=tuple(h.region for h in hits),
        accounts=rule.accounts,
        template=rule.template,
        priority=rule.priority,
        region_notes=tuple((h.region.code, notes[h.region.code]) for h in hits if h.region.code in notes),
        cooldown=rule.cooldown,
        all_clear_after=rule.all_clear_after,
        unmapped=tuple(unmapped),
        previous=change.previous,
        unmapped_places=unmapped_places,
        zone_parts=tuple(p for p in parts if p.code in kept),
    )


# How far from the epicentre a zone is looked for when BMKG named its province by an abbreviation
# warnd does not know and its name matches no regency anywhere: the provinces whose coasts the
# wave reaches first. Further zones of the same message still reach their own provinces.
UNKNOWN_PROVINCE_KM = 300.0


def _zone_hits(
    rule: CompiledRule, index: RegionIndex, ev: HazardEvent, zones: Sequence[Zone], notes: dict[str, str]
) -> tuple[list[Hit], list[ZonePart], list[str]]:
    """The regions of the zones the rule's levels keep, each zone as a part of its region, and
    the zones (all levels) whose name matches no regency. Such a zone is never dropped: the
    province BMKG named stands in for it (every province split from it since), or, if the
    province is unknown too, the provinces nearest the epicentre."""
    hits: list[Hit] = []
    parts: list[ZonePart] = []
    unmapped: list[str] = []
    for zh in zone_map(index).resolve(zones):
        if zh.region is None:
            unmapped.append(zh.text)
        if rule.levels is not None and zh.zone.level not in rule.levels:
            continue
        places: list[tuple[Region, ZonePart]] = []
        if zh.region is not None:
            region = _at_level(index, zh.region, rule.level)
            if region is not None:
                # A province-level rule names the province: the part of a regency says nothing there.
                side = zh.part if region.code == zh.region.code else ""
                places.append((region, ZonePart(region.code, zh.zone.level, side)))
        else:
            for province in zh.provinces or _near_epicentre(index, ev):
                quoted = zh.zone.district if zh.provinces else zh.text
                places.append((province, ZonePart(province.code, zh.zone.level, quoted=quoted)))
        for region, part in places:
            if region.code not in notes:
                notes[region.code] = zh.zone.level  # zones come worst first
                hits.append(Hit(region, 0.0))
            if part not in parts:
                parts.append(part)
    return hits, parts, unmapped


def _near_epicentre(index: RegionIndex, ev: HazardEvent) -> list[Region]:
    """The provinces within UNKNOWN_PROVINCE_KM of the epicentre, or the nearest one; every
    province when the message has no epicentre (a national fallback: better too wide than silent)."""
    if ev.lat is None or ev.lon is None:
        return [r for r in index.regions if r.level == "province"]
    near = index.within(ev.lat, ev.lon, "province", UNKNOWN_PROVINCE_KM)
    if not near:
        near = index.within(ev.lat, ev.lon, "province", 40_000.0)[:1]
    return [h.region for h in near]


def _at_level(index: RegionIndex, region: Region, level: str) -> Region | None:
    if region.level == level:
        return region
    if level == "province":
        return index.by_code.get(region.code.split(".")[0])
    return region  # zones are regencies; a district-level rule names the regency


def _point_hits(rule: CompiledRule, places: Places, notes: dict[str, str]) -> list[Hit]:
    ev = places.ev
    scope = rule.regions
    if scope and not places.reaches(rule.level, scope):
        return []
    if not rule.within_km and rule.intensity is None:
        located = places.locate(rule.level, scope)
        return located if len(located) < 2 else sorted(located, key=lambda h: h.region.code)
    # The region containing the epicentre (or, offshore, the nearest within the tolerance) is
    # always named: whatever the predicted intensity, it is where the quake is.
    hits = list(places.locate(rule.level, scope))
    seen = {h.region.code for h in hits}
    if rule.within_km:
        hits += [h for h in places.near(rule.level, rule.within_km, scope) if h.region.code not in seen]
        seen = {h.region.code for h in hits}
    if rule.intensity is not None and ev.magnitude is not None:
        # Shaking is judged where people are (a point per district), not at a polygon's edge.
        radius = felt_radius(ev.magnitude, ev.depth_km, rule.intensity.value)
        for h in places.shaken(rule.level, radius, scope):
            mmi = predicted_mmi(ev.magnitude, ev.depth_km, h.distance_km)
            if rule.intensity.test(mmi):
                notes.setdefault(h.region.code, f"MMI {mmi:.0f}")
                if h.region.code not in seen:
                    seen.add(h.region.code)
                    hits.append(h)
    if rule.intensity is not None and ev.felt:
        # BMKG's own word on where it was felt outranks any prediction: every place of its felt
        # list is named, whatever the intensity predicted there.
        for p in places.felt().mapped:
            assert p.place is not None
            for region in regions_at(places.index, p.place.region, rule.level):
                if scope and not covers(region.code, scope):
                    continue
                notes[region.code] = f"dirasakan {p.felt.mmi}"
                if region.code not in seen:
                    seen.add(region.code)
                    hits.append(Hit(region, places.distance_to(region)))
    # Nearest first: the region closest to the event is the one most likely to be hit hardest.
    return sorted({h.region.code: h for h in hits}.values(), key=lambda h: (h.distance_km, h.region.code))


def _nowhere(rule: CompiledRule, ev: HazardEvent) -> str:
    scope = ", ".join(rule.regions) if rule.regions else "any loaded region"
    if ev.zones:
        return f"no {rule.level} of {scope} among the warning zones"
    if ev.area is not None:
        return f"the alert area overlaps no {rule.level} of {scope}"
    where = f"within {rule.within_km:g} km of " if rule.within_km else ""
    if rule.intensity is not None:
        where = f"with predicted {rule.intensity} near "
    return f"no {rule.level} of {scope} {where}{ev.lat},{ev.lon}"
