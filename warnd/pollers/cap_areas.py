"""The areas of a CAP alert: <polygon> and <circle> ("lat,lon", CAP order) as one GeoJSON
geometry in lon,lat, its centre, and a point given as a parameter (EventLatLon)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from warnd.model import Reason
from warnd.pollers.common import ItemError, check_latlon

_CIRCLE_SIDES = 32


def _point(text: str, field: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ItemError(field, Reason.MALFORMED, f"{text!r} is not 'lat,lon'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ItemError(field, Reason.MALFORMED, f"{text!r} is not 'lat,lon'") from None
    return check_latlon(lat, lon, field)


def _ring(text: str) -> list[list[float]]:
    ring = []
    for pair in text.split():
        lat, lon = _point(pair, "polygon")
        ring.append([lon, lat])
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ItemError("polygon", Reason.MALFORMED, "a CAP polygon needs 4 or more points, first equal to last")
    return ring


def _circle(text: str) -> list[list[float]]:
    parts = text.split()
    if len(parts) != 2:
        raise ItemError("circle", Reason.MALFORMED, f"{text!r} is not 'lat,lon radius'")
    lat, lon = _point(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError:
        raise ItemError("circle", Reason.MALFORMED, f"radius {parts[1]!r} is not a number") from None
    if not 0 <= radius < 5000:
        raise ItemError("circle", Reason.OUT_OF_RANGE, f"radius {radius} km outside [0, 5000)")
    radius = max(radius, 0.1)
    dlat = radius / 111.32
    dlon = radius / (111.32 * max(math.cos(math.radians(lat)), 0.01))
    ring = [
        [
            lon + dlon * math.cos(2 * math.pi * k / _CIRCLE_SIDES),
            lat + dlat * math.sin(2 * math.pi * k / _CIRCLE_SIDES),
        ]
        for k in range(_CIRCLE_SIDES)
    ]
    return [*ring, ring[0]]


def area_geometry(polygons: Iterable[str], circles: Iterable[str]) -> dict[str, Any] | None:
    """CAP <polygon>s and <circle>s (lat,lon; a circle's radius in km) as one GeoJSON geometry
    in lon,lat; a circle becomes a polygon of _CIRCLE_SIDES sides."""
    rings = [[_ring(p)] for p in polygons] + [[_circle(c)] for c in circles]
    if not rings:
        return None
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def centre(geometry: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if geometry is None:
        return None, None
    rings = [geometry["coordinates"][0]] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    xs = [pt[0] for r in rings for pt in r]
    ys = [pt[1] for r in rings for pt in r]
    return round((min(ys) + max(ys)) / 2, 4), round((min(xs) + max(xs)) / 2, 4)


def param_point(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    try:
        return _point(text.split()[0], "EventLatLon")
    except (ItemError, IndexError):
        return None, None
