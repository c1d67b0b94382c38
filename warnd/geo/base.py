"""Region codes and their time zones, distances on the sphere, and the error a region file or
table raises."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta, timezone

from warnd.model import Region

EARTH_RADIUS_KM = 6371.0088
# Share of the alert's area, or of the region's, that an overlap must reach to count.
MIN_OVERLAP = 0.01

# Province code -> legal time zone (Indonesian provinces follow one zone each).
_WITA = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
_WIT = {"81", "82", "91", "92", "93", "94", "95", "96", "97"}
ZONES = {
    "WIB": timezone(timedelta(hours=7), "WIB"),
    "WITA": timezone(timedelta(hours=8), "WITA"),
    "WIT": timezone(timedelta(hours=9), "WIT"),
}


def zone_name(code: str) -> str:
    """WIB / WITA / WIT for any region code (by its province)."""
    province = code.split(".")[0]
    if province in _WIT:
        return "WIT"
    if province in _WITA:
        return "WITA"
    return "WIB"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def covers(code: str, prefixes: Iterable[str]) -> bool:
    """'33.74' is covered by '33' and by '33.74', not by '33.7'."""
    return any(code == p or code.startswith(p + ".") for p in prefixes)


class RegionError(ValueError):
    pass


@dataclass(frozen=True)
class Hit:
    region: Region
    distance_km: float
    """0 when the point is inside."""


# The national district layer is 7 MB; a file many times that is a mistake (an unsimplified
# export), and reading it would hold the whole text, its parse and its geometries at once.
MAX_REGION_FILE_MB = 100
