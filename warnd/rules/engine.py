"""Which rules an event change fires, and for which regions. Pure: data in, data out."""

from __future__ import annotations

from dataclasses import dataclass

from warnd.geo import Hit, RegionIndex, covers
from warnd.model import ChangeKind, EventChange, Match, Reason
from warnd.rules.compiled import CompiledRule, RuleSet


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule that did not fire, and why (for logs and --explain)."""

    rule: str
    reason: Reason
    detail: str


def evaluate(ruleset: RuleSet, regions: RegionIndex, change: EventChange) -> tuple[list[Match], list[Skip]]:
    matches: list[Match] = []
    skips: list[Skip] = []
    if change.kind is ChangeKind.UNCHANGED:
        return matches, skips
    for rule in ruleset.rules:
        verdict = _evaluate_rule(rule, ruleset.tolerance_km, regions, change)
        if isinstance(verdict, Skip):
            skips.append(verdict)
        else:
            matches.append(verdict)
    return matches, skips


def _evaluate_rule(rule: CompiledRule, tolerance_km: float, index: RegionIndex, change: EventChange) -> Match | Skip:
    ev = change.event
    if ev.hazard not in rule.hazards:
        return Skip(rule.id, Reason.HAZARD_MISMATCH, f"hazard {ev.hazard} not in {sorted(rule.hazards)}")
    if rule.feeds is not None and ev.feed not in rule.feeds:
        return Skip(rule.id, Reason.FEED_MISMATCH, f"feed {ev.feed} not in {sorted(rule.feeds)}")
    if ev.status not in rule.statuses:
        return Skip(rule.id, Reason.STATUS_MISMATCH, f"status {ev.status} not in {sorted(rule.statuses)}")
    for t in rule.thresholds:
        actual = getattr(ev, t.field)
        if actual is None:
            return Skip(rule.id, Reason.BELOW_THRESHOLD, f"{t.field} unknown, rule needs {t}")
        if not t.test(actual):
            return Skip(rule.id, Reason.BELOW_THRESHOLD, f"{t.field} {actual:g} fails {t}")
    if ev.lat is None or ev.lon is None:
        return Skip(rule.id, Reason.NO_LOCATION, "event has no point location")
    hits = _hits(rule, tolerance_km, index, ev.lat, ev.lon)
    if rule.regions:
        hits = [h for h in hits if covers(h.region.code, rule.regions)]
    if not hits:
        where = f"within {rule.within_km:g} km of " if rule.within_km else ""
        scope = ", ".join(rule.regions) if rule.regions else "any loaded region"
        return Skip(rule.id, Reason.OUTSIDE_REGION, f"no {rule.level} of {scope} {where}{ev.lat},{ev.lon}")
    return Match(
        rule=rule.id,
        event=ev,
        change=change.kind,
        regions=tuple(h.region for h in hits),
        accounts=rule.accounts,
        template=rule.template,
        priority=rule.priority,
    )


def _hits(rule: CompiledRule, tolerance_km: float, index: RegionIndex, lat: float, lon: float) -> list[Hit]:
    hits = index.locate(lat, lon, rule.level, tolerance_km)
    if rule.within_km:
        seen = {h.region.code for h in hits}
        hits += [h for h in index.within(lat, lon, rule.level, rule.within_km) if h.region.code not in seen]
    # Nearest first: the region closest to the event is the one most likely to be hit hardest.
    return sorted(hits, key=lambda h: (h.distance_km, h.region.code))
