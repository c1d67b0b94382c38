"""The words a map and its alt text share: the event's time in the warned regions' own zone
(WIB, WITA or WIT, chosen as the post's text chooses it), the heading of each hazard, and the
names of the regions by level."""

from __future__ import annotations

import re
from datetime import datetime

from warnd.geo import ZONES, RegionIndex, zone_name
from warnd.maps.style import Shading
from warnd.model import Hazard, HazardEvent, Status, Warning, WarningKind

_BULAN = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]

_HAZARD = {
    Hazard.EARTHQUAKE: "Gempa bumi",
    Hazard.TSUNAMI: "Peringatan dini tsunami",
    Hazard.FLOOD: "Tinggi muka air",
    Hazard.WEATHER: "Peringatan cuaca",
    Hazard.OTHER: "Peringatan",
}


def zone_of(event: HazardEvent, warning: Warning, regions: RegionIndex) -> str:
    """The zone the post's text gives its times in: its first region's; without regions, the
    province the event lies in; else WIB."""
    if warning.regions:
        return zone_name(warning.regions[0].code)
    if event.lat is not None and event.lon is not None:
        hits = regions.locate(event.lat, event.lon, "province", 50.0)
        if hits:
            return zone_name(hits[0].region.code)
    return "WIB"


def local_time(t: datetime, zone: str) -> str:
    """ "10 Jan 2024 14:35:12 WIB", as the posts write it."""
    local = t.astimezone(ZONES[zone])
    return f"{local.day:02d} {_BULAN[local.month - 1]} {local.year} {local:%H:%M:%S} {zone}"


def exercise(event: HazardEvent, warning: Warning) -> bool:
    return event.status is not Status.ACTUAL or warning.status is not Status.ACTUAL


def magnitude(event: HazardEvent) -> str | None:
    return f"M {event.magnitude:.1f}" if event.magnitude is not None else None


def depth(event: HazardEvent) -> str | None:
    return f"kedalaman {event.depth_km:g} km" if event.depth_km is not None else None


def heading(event: HazardEvent, warning: Warning) -> str:
    """The first line: what happened, how strong."""
    name = _HAZARD.get(event.hazard, "Peringatan")
    if event.hazard is Hazard.WEATHER and event.event_name:
        name = event.event_name
    bits = [name]
    if event.hazard is Hazard.TSUNAMI and event.stage:
        bits[0] = f"{name} ({event.stage})"
    if event.hazard in (Hazard.EARTHQUAKE, Hazard.TSUNAMI):
        bits += [b for b in (magnitude(event), depth(event)) if b]
    level = warning.level or event.level
    if event.hazard is Hazard.FLOOD and level:
        bits.append(re.sub(r"^siaga\s*(\d)$", r"Siaga \1", level, flags=re.IGNORECASE))
    if event.hazard is Hazard.FLOOD and event.value is not None:
        bits.append(f"{event.value:g} {event.unit or ''}".strip())
    if warning.kind is WarningKind.ALL_CLEAR or event.ended:
        bits.insert(0, "BERAKHIR")
    return " · ".join(bits)


def groups(shade: Shading, warning: Warning) -> list[tuple[str, list[str]]]:
    """The warned regions' names by level, worst level first, in the warning's order."""
    out: dict[str, list[str]] = {}
    for level in shade.legend():
        out[level.label] = [r.name for r in warning.regions if shade.levels.get(r.code) == level]
    return [(label, names) for label, names in out.items() if names]
