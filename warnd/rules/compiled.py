"""Operator rules turned into a RuleSet once per load: thresholds as comparisons, region
prefixes and groups as tuples, so that matching an event does no parsing at all."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from warnd.config.schema import Rule
from warnd.model import Hazard, HazardEvent, Priority, Status

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


def _max_height(ev: HazardEvent) -> float | None:
    heights = [o.height_m for o in ev.observations if o.height_m is not None]
    return max(heights) if heights else None


# What a threshold's field reads from an event.
FIELDS: dict[str, Callable[[HazardEvent], float | None]] = {
    "magnitude": lambda ev: ev.magnitude,
    "depth_km": lambda ev: ev.depth_km,
    "height_m": _max_height,
    "value_cm": lambda ev: ev.value,
}


@dataclass(frozen=True, slots=True)
class Threshold:
    field: str
    op: str
    value: float

    def test(self, actual: float) -> bool:
        return _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    hazards: frozenset[Hazard]
    feeds: frozenset[str] | None
    statuses: frozenset[Status]
    thresholds: tuple[Threshold, ...]
    regions: tuple[str, ...]
    within_km: float | None
    level: str
    accounts: tuple[str, ...]
    template: str
    priority: Priority
    levels: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    urgencies: frozenset[str] | None = None
    certainties: frozenset[str] | None = None
    words: tuple[str, ...] | None = None
    tsunami: bool | None = None
    intensity: Threshold | None = None
    cooldown: float | None = None
    all_clear_after: float = 3600.0


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    tolerance_km: float
    by_hazard: Mapping[Hazard, tuple[CompiledRule, ...]] = field(default_factory=dict)
    """The rules for each hazard, in file order: an event meets only its own hazard's rules."""

    def __post_init__(self) -> None:
        if not self.by_hazard:
            groups = {h: tuple(r for r in self.rules if h in r.hazards) for h in Hazard}
            object.__setattr__(self, "by_hazard", groups)


def _set(values: Sequence[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


def compile_rules(
    rules: Sequence[Rule],
    tolerance_km: float,
    all_accounts: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> RuleSet:
    out = []
    for r in rules:
        if not r.enabled:
            continue
        m = r.match
        thresholds = tuple(
            Threshold(name, op, value)
            for name, specs in (
                ("magnitude", m.magnitude),
                ("depth_km", m.depth_km),
                ("height_m", m.height_m),
                ("value_cm", m.value_cm),
            )
            for op, value in specs or ()
        )
        accounts = tuple(all_accounts) if "*" in r.then.accounts else tuple(r.then.accounts)
        regions = list(r.where.regions)
        for g in r.where.groups:
            regions.extend((groups or {}).get(g, ()))
        out.append(
            CompiledRule(
                id=r.id,
                hazards=frozenset(m.hazard),
                feeds=frozenset(m.feeds) if m.feeds is not None else None,
                statuses=frozenset(m.status),
                thresholds=thresholds,
                regions=tuple(dict.fromkeys(regions)),
                within_km=r.where.within_km,
                level=r.where.level,
                accounts=accounts,
                template=r.then.template,
                priority=r.then.priority,
                levels=_set(m.level),
                severities=_set(m.severity),
                urgencies=_set(m.urgency),
                certainties=_set(m.certainty),
                words=tuple(m.event) if m.event is not None else None,
                tsunami=m.tsunami,
                intensity=Threshold("intensity", *r.where.intensity) if r.where.intensity else None,
                cooldown=r.then.cooldown,
                all_clear_after=r.then.all_clear_after,
            )
        )
    return RuleSet(tuple(out), tolerance_km)
