"""Where a quake was felt, by BMKG's own report: its felt list ("Dirasakan") as regions.

Each item of the list ("II-III Bengkulu Utara") is read by the gazetteer, judged by its nearness
to the epicentre where a name is ambiguous. A place that names nothing known is kept, with its
item, for the caller to log and count (warnd_felt_places_unmapped): it never vanishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from warnd.geo import RegionIndex
from warnd.model import Felt, HazardEvent, Region
from warnd.rules.gazetteer import Place, gazetteer


@dataclass(frozen=True, slots=True)
class FeltPlace:
    """One item of a felt list and what its place was read as (None: nothing known)."""

    felt: Felt
    place: Place | None

    @property
    def region(self) -> Region | None:
        return self.place.region if self.place else None


@dataclass(frozen=True, slots=True)
class FeltMap:
    """Every item of a felt list, in its order, each with its region or without one."""

    places: tuple[FeltPlace, ...]

    @property
    def mapped(self) -> tuple[FeltPlace, ...]:
        return tuple(p for p in self.places if p.place is not None)

    @property
    def unmapped(self) -> tuple[Felt, ...]:
        """The items whose place names no known region: to be logged and counted."""
        return tuple(p.felt for p in self.places if p.place is None)


def map_felt(index: RegionIndex, felt: Sequence[Felt], lat: float | None, lon: float | None) -> FeltMap:
    """The regions of a felt list. Pure: the event's position (when known) settles a name
    several places bear, in favour of the nearest to the epicentre."""
    g = gazetteer(index)
    near = g.near([(lat, lon)]) if lat is not None and lon is not None and felt else None
    return FeltMap(tuple(FeltPlace(f, g.lookup(f.place, near)) for f in felt))


@dataclass(frozen=True, slots=True)
class FeltRegencies:
    """Which regencies BMKG reported a quake felt in, each with its highest reported MMI range
    (highest lower bound, highest upper bound); places known only as a province (a felt list
    that says "Jakarta") by province; and the items that could not be placed."""

    regencies: dict[str, tuple[int, int]] = field(default_factory=dict)
    provinces: dict[str, tuple[int, int]] = field(default_factory=dict)
    unmapped: tuple[Felt, ...] = ()


def felt_regencies(index: RegionIndex, event: HazardEvent) -> FeltRegencies:
    """The regencies a quake was felt in, by its felt list: the ground truth to judge predicted
    shaking against. A kecamatan counts for its regency (the code's first two parts)."""
    fm = map_felt(index, event.felt, event.lat, event.lon)
    regencies: dict[str, tuple[int, int]] = {}
    provinces: dict[str, tuple[int, int]] = {}
    for p in fm.mapped:
        assert p.place is not None
        parts = p.place.region.code.split(".")
        target, code = (regencies, ".".join(parts[:2])) if len(parts) >= 2 else (provinces, parts[0])
        low, high = target.get(code, (0, 0))
        target[code] = (max(low, p.felt.mmi_min), max(high, p.felt.mmi_max))
    return FeltRegencies(regencies, provinces, fm.unmapped)
