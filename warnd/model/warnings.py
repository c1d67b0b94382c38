"""What warnd says about an event: the match of a rule, the warning an account posts, its kind
and priority, and the reason a warning was not made."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from warnd.model.events import ChangeKind, Hazard, HazardEvent, Region, Status, iso_utc


class WarningKind(StrEnum):
    NEW = "new"
    UPDATE = "update"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    # A gauge lowered to a Siaga level below the one last posted, still above normal: people who
    # were told Siaga 1 must hear that it eased, not only, hours later, that it is over.
    DEESCALATE = "deescalate"
    ALL_CLEAR = "all_clear"
    # More regions for a warning already posted (BMKG's felt list names a place the account has
    # not warned yet): an update, not a correction.
    EXTEND = "extend"


class Priority(StrEnum):
    LIFE_SAFETY = "life_safety"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 goes first."""
        return list(Priority).index(self)


@dataclass(frozen=True, slots=True)
class ZonePart:
    """What one warning zone says of one region of a match: the zone's level; the part of the
    region it covers, as BMKG wrote it ("BAGIAN UTARA", "PULAU TANABALA"; "" for all of it);
    and, when the region only stands in for a zone whose name matches no regency (the province
    BMKG named), the zone as written ("NTT/NAMA ZONA")."""

    code: str
    level: str
    part: str = ""
    quoted: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Which stretch of coast this is, whatever its level."""
        return (self.code, self.part, self.quoted)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "part": self.part, "quoted": self.quoted}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ZonePart:
        return cls(d["code"], d["level"], d.get("part", ""), d.get("quoted", ""))


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that fired for an event, and the regions it fired for (ordered by impact)."""

    rule: str
    event: HazardEvent
    change: ChangeKind
    regions: tuple[Region, ...]
    accounts: tuple[str, ...]
    template: str
    priority: Priority
    # Per region code, what the source or the prediction says about it: the tsunami zone level
    # ("awas") or the predicted intensity ("MMI 5"). Templates group regions by it.
    region_notes: tuple[tuple[str, str], ...] = ()
    # Rule options the per-account stage needs.
    cooldown: float | None = None
    all_clear_after: float = 3600.0
    # Tsunami warning zones that name no known region ("province/district"), to be reported.
    unmapped: tuple[str, ...] = ()
    # What the event said before this revision (None for a new event): whether the change is
    # material is the per-account stage's decision.
    previous: HazardEvent | None = None
    # Places the source names (a nowcast's description, a quake's felt list) that no known
    # region bears, to be reported.
    unmapped_places: tuple[str, ...] = ()
    # Tsunami warning zones one by one, worst level and earliest arrival first: several zones can
    # fall in one region, at different levels and parts of it.
    zone_parts: tuple[ZonePart, ...] = ()


@dataclass(frozen=True, slots=True)
class Warning:
    id: str
    event_id: str
    revision: str
    rule: str
    account: str
    kind: WarningKind
    severity: str | None
    priority: Priority
    regions: tuple[Region, ...]
    lang: str
    text: str
    status: Status
    created_at: datetime
    # The event's level when this was posted (gauge siaga level, tsunami zone level).
    level: str | None = None
    # The agency whose values the post shows (HazardEvent.agency); None in posts made before it
    # was recorded.
    agency: str | None = None
    # What each part of this warning's thread carries of its own post ("PD-3.3", "info ke-4"),
    # so no part repeats a part of another post of the account (X refuses a repeated text);
    # None: the account's first post about an event whose source gives no stage.
    thread_label: str | None = None
    # The tsunami zones this post named, each at its level: what the account's next post about
    # the event is compared with (a zone raised is an escalation). Empty for other hazards and
    # for posts made before it was recorded.
    zone_parts: tuple[ZonePart, ...] = ()

    @property
    def cap_identifier(self) -> str:
        """Its CAP alert's <identifier> (and the name of its file in the account's CAP feed),
        known from the warning alone: never read back from the rendered document."""
        return f"warnd.{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "revision": self.revision,
            "rule": self.rule,
            "account": self.account,
            "kind": self.kind.value,
            "severity": self.severity,
            "priority": self.priority.value,
            "regions": [{"code": r.code, "name": r.name, "level": r.level} for r in self.regions],
            "lang": self.lang,
            "text": self.text,
            "status": self.status.value,
            "created_at": iso_utc(self.created_at),
            "level": self.level,
            "agency": self.agency,
            "thread_label": self.thread_label,
            "zone_parts": [p.to_json() for p in self.zone_parts],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Warning:
        return cls(
            id=d["id"],
            event_id=d["event_id"],
            revision=d["revision"],
            rule=d["rule"],
            account=d["account"],
            kind=WarningKind(d["kind"]),
            severity=d.get("severity"),
            priority=Priority(d["priority"]),
            regions=tuple(Region(r["code"], r["name"], r.get("level", "")) for r in d["regions"]),
            lang=d["lang"],
            text=d["text"],
            status=Status(d["status"]),
            created_at=datetime.fromisoformat(d["created_at"].replace("Z", "+00:00")),
            level=d.get("level"),
            agency=d.get("agency"),
            thread_label=d.get("thread_label"),
            zone_parts=tuple(ZonePart.from_json(p) for p in d.get("zone_parts") or ()),
        )

    @staticmethod
    @functools.lru_cache(maxsize=32)
    def from_text(data: str) -> Warning:
        """A warning from its stored JSON text. The same few warnings are read again and again
        while an event is issued and delivered (each rule's plan reads the account's warnings
        about the event, each claim its delivery's warning), and a warning never changes once
        made: each text is parsed once (a national quake's warning names a hundred regions)."""
        return Warning.from_json(json.loads(data))


_SEVERITY_RANK = {"extreme": 0, "severe": 1, "moderate": 2, "minor": 3}


# The highest level of each Indonesian scale: Awas (tsunami zones, volcanoes) and Siaga 1 (the
# Jakarta water gates, whose scale runs Siaga 4 .. Siaga 1).
LIFE_SAFETY_LEVELS = frozenset({"awas", "siaga1"})


def life_safety(hazard: str | None, priority: Priority, levels: Iterable[str | None]) -> bool:
    """The one definition of life safety: a tsunami at any level, a post at Awas or Siaga 1, or
    a rule marked `priority: life_safety`. Such a post goes first in its lane, is never muted by
    a silence nor held by a cooldown, and may spend the reserve a posting budget keeps.

    `levels`: what the post says of its regions (the event's level, a tsunami zone's level)."""
    return (
        hazard == Hazard.TSUNAMI.value
        or priority is Priority.LIFE_SAFETY
        or any((level or "").lower() in LIFE_SAFETY_LEVELS for level in levels)
    )


def urgency_rank(warning: Warning, hazard: str | None) -> int:
    """Delivery order, smallest first: life safety before anything else, then the rule's
    priority, then severity. Age breaks ties."""
    base = (
        Priority.LIFE_SAFETY.rank if life_safety(hazard, warning.priority, (warning.level,)) else warning.priority.rank
    )
    return base * 10 + _SEVERITY_RANK.get((warning.severity or "").lower(), 4)
