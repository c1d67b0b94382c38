"""Where a warning goes besides its account: the partners subscribed to that account whose
filters it passes, and the account's CAP feed.

A partner that was given a warning about an event keeps getting that account's later warnings
about it (update, cancel, all-clear) even when they fall outside its filters: a newsroom that
aired an Awas must hear that it was lowered or cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from warnd.config.schema import Partner
from warnd.model import Target, Warning, WarningKind


def targets(
    warning: Warning,
    hazard: str,
    partners: Mapping[str, Partner],
    already: Callable[[Target], bool],
) -> list[Target]:
    """`already(target)`: whether that target got an earlier warning of this event."""
    out = [Target.account(warning.account), Target.feed(warning.account)]
    for name, p in sorted(partners.items()):
        if warning.account not in p.accounts:
            continue
        target = Target.partner(name)
        if wants(p, warning, hazard) or (warning.kind is not WarningKind.NEW and already(target)):
            out.append(target)
    return out


def wants(p: Partner, w: Warning, hazard: str) -> bool:
    if p.hazards is not None and hazard not in p.hazards:
        return False
    if p.levels is not None and (w.level or "").lower() not in p.levels:
        return False
    if p.severities is not None and (w.severity or "unknown").lower() not in p.severities:
        return False
    if p.regions is not None:
        codes = [r.code for r in w.regions]
        if not any(_overlap(c, want) for c in codes for want in p.regions):
            return False
    return True


def _overlap(code: str, want: str) -> bool:
    """A region inside the wanted one, or containing it (a province-wide warning covers it)."""
    return code == want or code.startswith(want + ".") or want.startswith(code + ".")
