"""Operator rules turned into a RuleSet once per load: thresholds as comparisons, region
prefixes as tuples, so that matching an event does no parsing at all."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from warnd.config.schema import Rule
from warnd.model import Hazard, Priority, Status

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
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


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    tolerance_km: float


def compile_rules(rules: Sequence[Rule], tolerance_km: float, all_accounts: Sequence[str]) -> RuleSet:
    out = []
    for r in rules:
        if not r.enabled:
            continue
        thresholds = tuple(
            Threshold(name, op, value)
            for name, specs in (("magnitude", r.match.magnitude), ("depth_km", r.match.depth_km))
            for op, value in specs or ()
        )
        accounts = tuple(all_accounts) if "*" in r.then.accounts else tuple(r.then.accounts)
        out.append(
            CompiledRule(
                id=r.id,
                hazards=frozenset(r.match.hazard),
                feeds=frozenset(r.match.feeds) if r.match.feeds is not None else None,
                statuses=frozenset(r.match.status),
                thresholds=thresholds,
                regions=tuple(r.where.regions),
                within_km=r.where.within_km,
                level=r.where.level,
                accounts=accounts,
                template=r.then.template,
                priority=r.then.priority,
            )
        )
    return RuleSet(tuple(out), tolerance_km)
