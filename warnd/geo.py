"""Regions and where a point falls among them.

Geometry is kept as x = lon, y = lat (GeoJSON order). Distances are in kilometres on the sphere:
the search for nearby polygons happens in a local equirectangular frame around the point (good
to well under 1 % within a few hundred km of it), and the distance to the nearest vertex found
there is then measured with the haversine formula.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from warnd.model import Region

EARTH_RADIUS_KM = 6371.0088
# Share of the alert's area, or of the region's, that an overlap must reach to count.
MIN_OVERLAP = 0.01
_KM_PER_DEG_LAT = 110.574

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


class RegionIndex:
    """Every loaded region, with one STRtree per level, built once per load."""

    def __init__(self, regions: Sequence[Region], geoms: Sequence[BaseGeometry]) -> None:
        self.regions = list(regions)
        self.by_code = {r.code: r for r in self.regions}
        self._levels: dict[str, tuple[list[int], STRtree]] = {}
        self._geoms = list(geoms)
        for level in {r.level for r in self.regions}:
            idx = [i for i, r in enumerate(self.regions) if r.level == level]
            self._levels[level] = (idx, STRtree([self._geoms[i] for i in idx]))
        shapely.prepare(self._geoms)

    @property
    def levels(self) -> list[str]:
        return sorted(self._levels)

    def locate(self, lat: float, lon: float, level: str, tolerance_km: float) -> list[Hit]:
        """Regions of `level` containing the point; if none does, the nearest one within the
        tolerance (a point in a gap between polygons, or on a small island drawn as a triangle)."""
        inside = self.within(lat, lon, level, 0.0)
        if inside or tolerance_km <= 0:
            return inside
        near = self.within(lat, lon, level, tolerance_km)
        return near[:1]

    def within(self, lat: float, lon: float, level: str, km: float) -> list[Hit]:
        """Regions of `level` at most `km` from the point, nearest first (inside = 0 km)."""
        entry = self._levels.get(level)
        if entry is None:
            return []
        idx, tree = entry
        point = shapely.Point(lon, lat)
        hits: list[Hit] = []
        if km <= 0:
            for j in tree.query(point, predicate="intersects"):
                hits.append(Hit(self.regions[idx[int(j)]], 0.0))
            return hits
        dlat = km / _KM_PER_DEG_LAT
        dlon = km / max(1e-6, _KM_PER_DEG_LAT * math.cos(math.radians(lat)))
        box = shapely.box(lon - dlon * 1.01, lat - dlat * 1.01, lon + dlon * 1.01, lat + dlat * 1.01)
        for j in tree.query(box):
            i = idx[int(j)]
            geom = self._geoms[i]
            if shapely.intersects(geom, point):
                hits.append(Hit(self.regions[i], 0.0))
                continue
            d = _distance_km(geom, lat, lon)
            if d <= km:
                hits.append(Hit(self.regions[i], d))
        hits.sort(key=lambda h: (h.distance_km, h.region.code))
        return hits

    def intersecting(self, geometry: dict[str, Any], level: str) -> list[Hit]:
        """Regions of `level` that a GeoJSON area (a CAP polygon) overlaps, largest overlap first."""
        entry = self._levels.get(level)
        if entry is None:
            return []
        try:
            area = shapely.make_valid(shape(geometry))
        except (TypeError, ValueError, AttributeError, KeyError):
            return []
        idx, tree = entry
        hits: list[tuple[float, Region]] = []
        for j in tree.query(area, predicate="intersects"):
            i = idx[int(j)]
            geom = self._geoms[i]
            overlap = shapely.intersection(geom, area).area
            # A sliver along a border (coarse alert polygons) does not put a region in the alert.
            if overlap >= MIN_OVERLAP * area.area or overlap >= MIN_OVERLAP * geom.area:
                hits.append((overlap, self.regions[i]))
        hits.sort(key=lambda h: (-h[0], h[1].code))
        return [Hit(r, 0.0) for _, r in hits]

    def children(self, code: str, level: str) -> list[Region]:
        return [r for r in self.regions if r.level == level and covers(r.code, [code])]

    def name_path(self, code: str) -> list[Region]:
        """The region and its parents, outermost first."""
        parts = code.split(".")
        out = []
        for n in range(1, len(parts) + 1):
            r = self.by_code.get(".".join(parts[:n]))
            if r is not None:
                out.append(r)
        return out


def _distance_km(geom: BaseGeometry, lat: float, lon: float) -> float:
    # Scale longitudes so that the frame is locally isometric, find the nearest point there,
    # then measure the true great-circle distance to it.
    k = math.cos(math.radians(lat))
    local = shapely.transform(geom, lambda xy: _to_local(xy, lat, lon, k))
    line = shapely.shortest_line(shapely.Point(0.0, 0.0), local)
    nx, ny = shapely.get_coordinates(line)[1]
    nlon = float(nx) / k + lon if k > 1e-9 else lon
    return haversine_km(lat, lon, float(ny) + lat, nlon)


def _to_local(xy: Any, lat0: float, lon0: float, k: float) -> Any:
    out = xy.copy()
    out[:, 0] = (xy[:, 0] - lon0) * k
    out[:, 1] = xy[:, 1] - lat0
    return out


def load_layers(paths: Iterable[Path]) -> RegionIndex:
    regions: list[Region] = []
    geoms: list[BaseGeometry] = []
    seen: set[str] = set()
    for path in paths:
        for region, geom in read_geojson(path):
            if region.code in seen:
                raise RegionError(f"{path}: region code {region.code!r} appears twice")
            seen.add(region.code)
            regions.append(region)
            geoms.append(geom)
    return RegionIndex(regions, geoms)


def read_geojson(path: Path) -> list[tuple[Region, BaseGeometry]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable GeoJSON file: {e}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise RegionError(f"{path}: not a GeoJSON FeatureCollection")
    out: list[tuple[Region, BaseGeometry]] = []
    for n, feat in enumerate(features):
        props = feat.get("properties") or {} if isinstance(feat, dict) else {}
        code, name = props.get("code"), props.get("name")
        if not isinstance(code, str) or not code or not isinstance(name, str):
            raise RegionError(f"{path}: features[{n}]: needs string properties 'code' and 'name'")
        level = props.get("level") or (
            "province" if "." not in code else "regency" if code.count(".") == 1 else "district"
        )
        try:
            geom = shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RegionError(f"{path}: features[{n}] ({code}): bad geometry: {e}") from None
        if geom.is_empty or not geom.is_valid:
            raise RegionError(f"{path}: features[{n}] ({code}): geometry is empty or invalid")
        out.append((Region(code, name, str(level), props.get("parent_code")), geom))
    return out


# --- predicted shaking ----------------------------------------------------------------------

# Atkinson, G.M., Worden, C.B. and Wald, D.J. (2014). Intensity prediction equations for North
# America. Bull. Seismol. Soc. Am. 104(6), 3084-3093, doi:10.1785/0120140178: the form for active
# crustal regions (no eastern North America correction), as USGS DYFI uses it. MMI from moment
# magnitude and hypocentral distance; no site term. Indonesia has no published national IPE in
# open form; this one is used as a screening estimate, which is what a warning rule needs.
_AWW14 = (0.309, 1.864, -1.672, -0.00219, 1.77, -0.383)


def predicted_mmi(magnitude: float, depth_km: float | None, distance_km: float) -> float:
    """Expected Modified Mercalli intensity at `distance_km` (epicentral) from a quake."""
    c1, c2, c3, c4, c5, c6 = _AWW14
    hypo = math.hypot(distance_km, depth_km or 0.0)
    r = math.hypot(hypo, 14.0)
    log_r = math.log10(r)
    b = max(0.0, math.log10(r / 50.0))
    return c1 + c2 * magnitude + c3 * log_r + c4 * r + c5 * b + c6 * magnitude * log_r


def felt_radius_km(magnitude: float, depth_km: float | None, mmi: float) -> float:
    """The epicentral distance out to which `predicted_mmi` stays at or above `mmi` (0 if not
    even at the epicentre). Intensity falls monotonically with distance, so bisection works."""
    if predicted_mmi(magnitude, depth_km, 0.0) < mmi:
        return 0.0
    lo, hi = 0.0, 2000.0
    if predicted_mmi(magnitude, depth_km, hi) >= mmi:
        return hi
    for _ in range(40):
        mid = (lo + hi) / 2
        if predicted_mmi(magnitude, depth_km, mid) >= mmi:
            lo = mid
        else:
            hi = mid
    return lo
