"""Regions and where a point falls among them.

Geometry is kept as x = lon, y = lat (GeoJSON order). Distances are in kilometres on the sphere:
the search for nearby polygons happens in a local equirectangular frame around the point (good
to well under 1 % within a few hundred km of it), and the distance to the nearest vertex found
there is then measured with the haversine formula."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from warnd.geo.aliases import PlaceAlias
from warnd.geo.layers import RegionError, read_geojson
from warnd.geo.points import Points, representative_point
from warnd.geo.sphere import EARTH_RADIUS_KM
from warnd.model import Region

T = TypeVar("T")

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


def covers(code: str, prefixes: Iterable[str]) -> bool:
    """'33.74' is covered by '33' and by '33.74', not by '33.7'."""
    return any(code == p or code.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True)
class Hit:
    region: Region
    distance_km: float
    """0 when the point is inside."""


class RegionIndex:
    """Every loaded region, with one STRtree per level, built once per load."""

    def __init__(
        self,
        regions: Sequence[Region],
        geoms: Sequence[BaseGeometry],
        points: Points | None = None,
        aliases: Sequence[PlaceAlias] = (),
    ) -> None:
        self._points = points
        self._derived: dict[object, Any] = {}
        # Town names that are neither a kecamatan nor a regency (config `place_aliases`): read by
        # the gazetteer that maps BMKG's place names to regions.
        self.aliases = tuple(aliases)
        self.regions = list(regions)
        self.by_code = {r.code: r for r in self.regions}
        self._geom_of = {r.code: i for i, r in enumerate(self.regions)}
        self._levels: dict[str, _Level] = {}
        self._geoms = list(geoms)
        shapely.prepare(self._geoms)
        for level in {r.level for r in self.regions}:
            idx = [i for i, r in enumerate(self.regions) if r.level == level]
            members = np.array([self._geoms[i] for i in idx], dtype=object)
            self._levels[level] = _Level([self.regions[i] for i in idx], members, STRtree(members))

    @property
    def levels(self) -> list[str]:
        return sorted(self._levels)

    def derived(self, make: Callable[[RegionIndex], T]) -> T:
        """What rules build from this region set (a zone map, a gazetteer): built on first use,
        once, and dropped with the set when a reload replaces it."""
        if make not in self._derived:
            self._derived[make] = make(self)
        value: T = self._derived[make]
        return value

    @property
    def points(self) -> Points:
        """Where shaking is evaluated: the configured points file, or else one representative
        point per polygon of the finest level loaded (coarser: a regency is then one point)."""
        if self._points is None:
            finest = max(self._levels, key=lambda lv: _DEPTH.get(lv, 0))
            entry = self._levels[finest]
            rows = [(r.code, r.name, *representative_point(g)) for r, g in zip(entry.regions, entry.geoms, strict=True)]
            self._points = Points(
                tuple(c for c, _, _, _ in rows),
                tuple(n for _, n, _, _ in rows),
                np.array([la for _, _, la, _ in rows]),
                np.array([lo for _, _, _, lo in rows]),
                f"{finest} polygons",
            )
        return self._points

    def geometry(self, code: str) -> BaseGeometry | None:
        """The loaded outline of a region (x = lon, y = lat), None for a code not loaded."""
        i = self._geom_of.get(code)
        return self._geoms[i] if i is not None else None

    def region_at(self, code: str, level: str) -> Region | None:
        """The region of `level` that contains the region `code` by its code ('33.74.01' at
        regency is '33.74'), or None when it is coarser than `level` or not loaded."""
        depth = _DEPTH.get(level)
        parts = code.split(".")
        if depth is None or len(parts) < depth:
            return None
        return self.by_code.get(".".join(parts[:depth]))

    def locate(self, lat: float, lon: float, level: str, tolerance_km: float) -> list[Hit]:
        """Regions of `level` containing the point; if none does, the nearest one within the
        tolerance (a point in a gap between polygons, or on a small island drawn as a triangle)."""
        return self.locate_many([(lat, lon)], level, tolerance_km)[0]

    def locate_many(self, points: Sequence[tuple[float, float]], level: str, tolerance_km: float) -> list[list[Hit]]:
        """`locate` for many (lat, lon) points in one pass through the index: a document of
        quakes or a gauge storm costs one tree query, not one per point."""
        out: list[list[Hit]] = [[] for _ in points]
        entry = self._levels.get(level)
        if entry is None or not points:
            return out
        xy = np.asarray(points, dtype=float)
        where = shapely.points(xy[:, 1], xy[:, 0])
        p, r = entry.tree.query(where, predicate="intersects")
        for pi, ri in zip(p.tolist(), r.tolist(), strict=True):
            out[pi].append(Hit(entry.regions[ri], 0.0))
        if tolerance_km > 0:
            outside = [i for i, hits in enumerate(out) if not hits]
            if outside:
                # Most points outside every region are at sea, far from any coast: one query
                # finds the few with a region near enough to be worth measuring.
                lat = np.abs(xy[outside, 0]) + tolerance_km / 100.0
                reach = tolerance_km / (_KM_PER_DEG_LAT * np.cos(np.radians(np.minimum(89.0, lat)))) * 1.02
                p, _ = entry.tree.query(where[outside], predicate="dwithin", distance=reach)
                for k in sorted(set(p.tolist())):
                    i = outside[k]
                    out[i] = self.within(points[i][0], points[i][1], level, tolerance_km)[:1]
        return out

    def within(self, lat: float, lon: float, level: str, km: float) -> list[Hit]:
        """Regions of `level` at most `km` from the point, nearest first (inside = 0 km)."""
        entry = self._levels.get(level)
        if entry is None:
            return []
        point = shapely.Point(lon, lat)
        if km <= 0:
            return [Hit(entry.regions[int(j)], 0.0) for j in entry.tree.query(point, predicate="intersects")]
        # In degrees a kilometre east-west is longer than north-south away from the equator, so
        # the east-west extent bounds the search; the exact distance then decides.
        reach = km / max(1e-6, _KM_PER_DEG_LAT * math.cos(math.radians(min(89.0, abs(lat) + km / 100.0))))
        found = entry.tree.query(point, predicate="dwithin", distance=reach * 1.02)
        if len(found) == 0:
            return []
        geoms = entry.geoms[found]
        dist = np.zeros(len(found))
        # A region the point is inside is 0 km away: no need to measure (a province is big).
        outside = ~shapely.intersects(geoms, point)
        if outside.any():
            dist[outside] = _distances_km(geoms[outside], lat, lon)
        hits = [Hit(entry.regions[int(j)], float(d)) for j, d in zip(found, dist, strict=True) if d <= km]
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
        hits: list[tuple[float, Region]] = []
        found = entry.tree.query(area, predicate="intersects")
        if len(found) == 0:
            return []
        geoms = entry.geoms[found]
        overlaps = shapely.area(shapely.intersection(geoms, area))
        sizes = shapely.area(geoms)
        for j, overlap, size in zip(found.tolist(), overlaps.tolist(), sizes.tolist(), strict=True):
            # A sliver along a border (coarse alert polygons) does not put a region in the alert.
            if overlap >= MIN_OVERLAP * area.area or overlap >= MIN_OVERLAP * size:
                hits.append((overlap, entry.regions[j]))
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


_DEPTH = {"province": 1, "regency": 2, "district": 3}


@dataclass(frozen=True)
class _Level:
    regions: list[Region]
    geoms: npt.NDArray[np.object_]
    tree: STRtree


def _distances_km(geoms: npt.NDArray[np.object_], lat: float, lon: float) -> npt.NDArray[np.float64]:
    """Great-circle distance from the point to the nearest point of each geometry (0 inside).

    The nearest point is found in a local frame around the point where longitudes are scaled by
    cos(lat), so that the frame is locally isometric; one transform for all the geometries."""
    k = math.cos(math.radians(lat))

    def to_local(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = xy.copy()
        out[:, 0] = (xy[:, 0] - lon) * k
        out[:, 1] = xy[:, 1] - lat
        return out

    local = shapely.transform(geoms, to_local)
    lines = shapely.shortest_line(shapely.Point(0.0, 0.0), local)
    near = shapely.get_coordinates(lines).reshape(-1, 2, 2)[:, 1]
    nlat = near[:, 1] + lat
    nlon = near[:, 0] / k + lon if k > 1e-9 else np.full(len(near), lon)
    p1, p2 = math.radians(lat), np.radians(nlat)
    dp, dl = p2 - p1, np.radians(nlon - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a))), dtype=np.float64)


def load_layers(
    paths: Iterable[Path],
    points: Points | None = None,
    aliases: Sequence[PlaceAlias] = (),
    cache: Path | None = None,
) -> RegionIndex:
    """The region layers, the points where shaking is evaluated (see `RegionIndex.points`) and
    the operator's place aliases. `cache`: where each layer read is kept for the next start."""
    regions: list[Region] = []
    geoms: list[BaseGeometry] = []
    seen: set[str] = set()
    for path in paths:
        for region, geom in read_geojson(path, cache):
            if region.code in seen:
                raise RegionError(f"{path}: region code {region.code!r} appears twice")
            seen.add(region.code)
            regions.append(region)
            geoms.append(geom)
    return RegionIndex(regions, geoms, points, aliases)
