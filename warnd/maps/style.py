"""What colour each warned region gets, and the legend that explains it.

One scale per kind of warning, as the agencies people follow draw them: InaTEWS' tsunami levels
(Awas red, Siaga orange, Waspada yellow), the Jakarta water gates' Siaga 1 (red) to Siaga 4, CAP
severities, and predicted shaking (MMI) on a yellow-to-red ramp that stays apart from the blue of
the sea. `shading` decides, for one warning, which scale applies and the level of every region;
the renderer colours by it and the alt text reads it, so the picture and the words agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import shapely

from warnd.geo import RegionIndex, haversine_km
from warnd.model import Hazard, HazardEvent, Warning
from warnd.shaking import predicted_mmi

RGB = tuple[int, int, int]

SEA: RGB = (170, 200, 222)
LAND: RGB = (239, 236, 226)
PROVINCE_BORDER: RGB = (120, 120, 118)
REGENCY_BORDER: RGB = (150, 148, 140)
WARNED_BORDER: RGB = (90, 60, 50)
TEXT: RGB = (25, 25, 25)
HALO: RGB = (255, 255, 255)
EPICENTRE: RGB = (12, 12, 12)
GAUGE: RGB = (30, 60, 160)
CAP_AREA: RGB = (110, 40, 140)
PANEL: RGB = (255, 255, 255)
# Used by nothing else on the map, so that an exercise is recognisable at a glance (and by test).
WATERMARK: RGB = (200, 0, 120)

_RED: RGB = (215, 25, 28)
_ORANGE: RGB = (253, 141, 60)
_YELLOW: RGB = (254, 217, 118)
_GREEN: RGB = (120, 198, 121)
_PALE: RGB = (255, 255, 178)
# A warned region whose level the warning does not say.
WARNED: RGB = (240, 110, 70)


class Scale(StrEnum):
    TSUNAMI = "tsunami"
    GAUGE = "gauge"
    SEVERITY = "severity"
    MMI = "mmi"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Level:
    """One entry of a scale: its key, its words in the legend, its colour; rank 0 is the worst."""

    key: str
    label: str
    colour: RGB
    rank: int


TITLES = {
    Scale.TSUNAMI: "Peringatan tsunami",
    Scale.GAUGE: "Status siaga",
    Scale.SEVERITY: "Tingkat bahaya",
    Scale.MMI: "Perkiraan guncangan (MMI)",
    Scale.PLAIN: "Wilayah",
}

_LEVELS: dict[Scale, tuple[Level, ...]] = {
    Scale.TSUNAMI: (
        Level("awas", "Awas", _RED, 0),
        Level("siaga", "Siaga", _ORANGE, 1),
        Level("waspada", "Waspada", _YELLOW, 2),
    ),
    Scale.GAUGE: (
        Level("siaga1", "Siaga 1", _RED, 0),
        Level("siaga2", "Siaga 2", _ORANGE, 1),
        Level("siaga3", "Siaga 3", _YELLOW, 2),
        Level("siaga4", "Siaga 4", _GREEN, 3),
    ),
    Scale.SEVERITY: (
        Level("extreme", "Ekstrem", _RED, 0),
        Level("severe", "Berat", _ORANGE, 1),
        Level("moderate", "Sedang", _YELLOW, 2),
        Level("minor", "Ringan", _PALE, 3),
    ),
    Scale.MMI: (
        Level("8", "VIII atau lebih", (165, 0, 38), 0),
        Level("7", "VII", _RED, 1),
        Level("6", "VI", (244, 109, 67), 2),
        Level("5", "V", _ORANGE, 3),
        Level("4", "IV", _YELLOW, 4),
        Level("3", "III atau kurang", _PALE, 5),
    ),
    Scale.PLAIN: (Level("warned", "Wilayah peringatan", WARNED, 0),),
}

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass(frozen=True, slots=True)
class Shading:
    """The scale of a warning and the level of each of its regions (by code)."""

    scale: Scale
    levels: Mapping[str, Level]

    @property
    def title(self) -> str:
        return TITLES[self.scale]

    def legend(self) -> list[Level]:
        """The levels the map shows, worst first: a legend names only what is drawn."""
        return sorted({lv.key: lv for lv in self.levels.values()}.values(), key=lambda lv: lv.rank)


def _by_key(scale: Scale, key: str | None) -> Level | None:
    k = (key or "").lower().replace(" ", "")
    return next((lv for lv in _LEVELS[scale] if lv.key == k), None)


def _mmi_level(mmi: float) -> Level:
    n = min(8, max(3, round(mmi)))
    found = _by_key(Scale.MMI, str(n))
    assert found is not None
    return found


def shading(
    event: HazardEvent, warning: Warning, regions: RegionIndex, notes: Mapping[str, str] | None = None
) -> Shading:
    """Which scale colours the warning's regions, and each region's level on it.

    Tsunami zones (`Warning.zone_parts`) give each region its worst zone's level; a gauge's or a
    tsunami message's own level applies to all its regions; a CAP alert's severity likewise; a
    quake's regions are shaded by the intensity the rules predicted for them (`notes`, the
    match's "MMI 5"), or else by the intensity predicted at the region's nearest point."""
    codes = [r.code for r in warning.regions]
    notes = notes or {}
    if warning.zone_parts:
        out: dict[str, Level] = {}
        for part in warning.zone_parts:
            lv = _by_key(Scale.TSUNAMI, part.level)
            if lv is not None and (part.code not in out or lv.rank < out[part.code].rank):
                out[part.code] = lv
        return Shading(Scale.TSUNAMI, out)
    for scale in (Scale.TSUNAMI, Scale.GAUGE):
        lv = _by_key(scale, warning.level or event.level)
        if lv is not None:
            return Shading(scale, dict.fromkeys(codes, lv))
    noted = {c: n for c, n in notes.items() if c in codes}
    if noted and all(n.upper().startswith("MMI") for n in noted.values()):
        return Shading(Scale.MMI, {c: _mmi_level(float(n.split()[-1])) for c, n in noted.items()})
    severity = _by_key(Scale.SEVERITY, warning.severity or event.severity)
    if severity is not None:
        return Shading(Scale.SEVERITY, dict.fromkeys(codes, severity))
    if event.hazard is Hazard.EARTHQUAKE and event.magnitude is not None and event.lat is not None:
        mmi = _predicted(event, regions, codes)
        return Shading(Scale.MMI, {c: _mmi_level(mmi.get(c, 0.0)) for c in codes})
    plain = _LEVELS[Scale.PLAIN][0]
    return Shading(Scale.PLAIN, dict.fromkeys(codes, plain))


def _predicted(event: HazardEvent, regions: RegionIndex, codes: list[str]) -> dict[str, float]:
    """Predicted MMI at the point of each region nearest the epicentre (the epicentre when it
    lies inside), in one pass over the regions' outlines."""
    assert event.magnitude is not None and event.lat is not None and event.lon is not None
    known = [(c, g) for c in codes if (g := regions.geometry(c)) is not None]
    if not known:
        return {}
    epicentre = shapely.Point(event.lon, event.lat)
    # The nearest point in degrees: near enough to the nearest on the sphere for a colour.
    lines = shapely.shortest_line(epicentre, np.array([g for _, g in known], dtype=object))
    ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)[:, 1]
    out: dict[str, float] = {}
    for (code, _), (lon, lat) in zip(known, ends.tolist(), strict=True):
        distance = haversine_km(event.lat, event.lon, lat, lon)
        out[code] = predicted_mmi(event.magnitude, event.depth_km, distance)
    return out


def roman(mmi: int) -> str:
    return ROMAN[min(len(ROMAN), max(1, mmi)) - 1]
