"""Regions and where a point falls among them.

Geometry is kept as x = lon, y = lat (GeoJSON order). Distances are in kilometres on the sphere:
the search for nearby polygons happens in a local equirectangular frame around the point (good
to well under 1 % within a few hundred km of it), and the distance to the nearest vertex found
there is then measured with the haversine formula.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
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

from warnd.model import Region

T = TypeVar("T")

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


# --- outlines for CAP <polygon> ----------------------------------------------------------------

# Simplification tolerances in degrees, finest first (0.002 deg is about 220 m). A CAP alert takes
# the finest one at which all of its regions fit the point budget (warnd.pipeline.cap_out).
OUTLINE_TOLERANCES = (0.002, 0.005, 0.01, 0.02, 0.05)
# Decimal places of a CAP coordinate: 4 is about 11 m, well under the finest tolerance.
CAP_DECIMALS = 4


class Outlines:
    """Each region's outline as CAP polygons, made on first use of a region at a tolerance and
    kept with the region set (`RegionIndex.derived(Outlines)`): simplifying a regency costs about
    a millisecond, too much to pay again on every warning, and the set is replaced whole on
    reload. Finding the tolerance an alert fits at needs only point counts; the text of a ring is
    written only for the tolerance chosen.

    CAP 1.2 has no holes: a polygon is one ring. Only exterior rings are given, so a region with
    an enclave (a city inside its regency, a lake) is over-covered by it; a consumer that targets
    by polygon then also reaches the enclave, which errs towards warning. Parts too small for a
    tolerance are not left out (an islet may hold a kecamatan): nearby islets share one ring, and
    a coarser tolerance gives fewer rings."""

    def __init__(self, index: RegionIndex) -> None:
        self._index = index
        self._rings: dict[tuple[str, float], tuple[npt.NDArray[np.float64], ...]] = {}
        self._texts: dict[tuple[str, float], tuple[str, ...]] = {}

    def _get(self, code: str, tolerance: float) -> tuple[npt.NDArray[np.float64], ...]:
        key = (code, tolerance)
        if key not in self._rings:
            geom = self._index.geometry(code)
            if geom is None:
                self._rings[key] = ()
            elif tolerance == HULL:
                self._rings[key] = _outline(shapely.convex_hull(geom), OUTLINE_TOLERANCES[-1])
            else:
                self._rings[key] = _outline(geom, tolerance)
        return self._rings[key]

    def points(self, code: str, tolerance: float) -> int:
        """How many points the region's rings have at `tolerance` (HULL: its convex hull)."""
        return sum(len(r) for r in self._get(code, tolerance))

    def rings(self, code: str, tolerance: float) -> tuple[str, ...]:
        """The region's rings at `tolerance` as CAP <polygon> text: "lat,lon lat,lon ...",
        closed (the first point repeated last), at CAP_DECIMALS places."""
        key = (code, tolerance)
        if key not in self._texts:
            self._texts[key] = tuple(
                " ".join(f"{la:.{CAP_DECIMALS}f},{lo:.{CAP_DECIMALS}f}" for la, lo in r.tolist())
                for r in self._get(code, tolerance)
            )
        return self._texts[key]


# The tolerance that stands for a region's convex hull (coarsely simplified): the last resort of
# an alert naming so many regions that their outlines do not fit its budget; it over-covers sea
# and neighbours.
HULL = -1.0


def _outline(geom: BaseGeometry, tolerance: float) -> tuple[npt.NDArray[np.float64], ...]:
    """The region's rings at `tolerance`, covering all of it (see `Outlines`).

    Each part is simplified by half the tolerance (off by at most that), widened by the tolerance
    and simplified by half again: the ring covers the part, so that a simplified coast does not
    cut off the seafront town a tsunami warning is for, and over-covers it by up to two
    tolerances (sea, mostly). Islets too small to keep a shape at this tolerance are taken
    together, those in one square of `_CLUSTER` tolerances as one widened convex hull: an islet
    may hold a kecamatan, but a ring each would spend the alert's budget on a reef."""
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    if len(parts) == 0:
        return ()
    exteriors = shapely.polygons(shapely.get_exterior_ring(parts))
    areas = shapely.area(exteriors)
    big = areas >= (2 * tolerance) ** 2
    big[np.argmax(areas)] = True
    shapes = list(exteriors[big])
    small = exteriors[~big]
    if len(small):
        centre = shapely.get_coordinates(shapely.centroid(small))
        cells = np.floor(centre / (_CLUSTER * tolerance)).astype(np.int64)
        _, group = np.unique(cells, axis=0, return_inverse=True)
        order = np.argsort(group.ravel(), kind="stable")
        shapes += list(shapely.convex_hull(shapely.multipolygons(small[order], indices=group.ravel()[order])))
    half = tolerance / 2
    # A rounding step more than the tolerance, so that writing CAP_DECIMALS places cannot cut a
    # corner off.
    reach = tolerance + 10.0**-CAP_DECIMALS
    inner = shapely.simplify(np.array(shapes, dtype=object), half, preserve_topology=True)
    wide = shapely.buffer(inner, reach, quad_segs=1)
    simple = shapely.simplify(shapely.polygons(shapely.get_exterior_ring(wide)), half, preserve_topology=True)
    rings = _cap_rings(simple)
    for k, ring in enumerate(rings):
        if ring is None:
            # Rounding or simplifying folded the ring onto itself: its hull is always a valid ring.
            rings[k] = _cap_rings(np.array([shapely.convex_hull(wide[k])], dtype=object))[0]
    return tuple(r for r in rings if r is not None)


def _cap_rings(polygons: npt.NDArray[np.object_]) -> list[npt.NDArray[np.float64] | None]:
    """Each polygon's exterior as closed (lat, lon) rows rounded for CAP, None where that is not a
    valid ring; all the rings in a few array operations (a regency of islets has dozens)."""
    out: list[npt.NDArray[np.float64] | None] = [None] * len(polygons)
    coords, idx = shapely.get_coordinates(shapely.get_exterior_ring(polygons), return_index=True)
    if len(coords) == 0:
        return out
    latlon = np.round(coords[:, ::-1], CAP_DECIMALS)
    # Rounding can make neighbours equal: a repeated point is a zero-length edge. A ring's last
    # point equals its first before rounding and so after it.
    keep = np.ones(len(latlon), dtype=bool)
    keep[1:] = np.any(latlon[1:] != latlon[:-1], axis=1) | (idx[1:] != idx[:-1])
    latlon, idx = latlon[keep], idx[keep]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    sizes = np.diff(np.r_[starts, len(idx)])
    ids = idx[starts]
    big = sizes >= 4
    rows = np.repeat(big, sizes)
    valid = np.zeros(len(ids), dtype=bool)
    if big.any():
        rebuilt = shapely.polygons(
            shapely.linearrings(latlon[rows][:, ::-1], indices=np.repeat(np.arange(big.sum()), sizes[big]))
        )
        valid[big] = shapely.is_valid(rebuilt)
    for start, size, ring_id, ok in zip(starts.tolist(), sizes.tolist(), ids.tolist(), valid.tolist(), strict=True):
        if ok:
            out[ring_id] = latlon[start : start + size]
    return out


# Islets in one square this many tolerances wide share one ring.
_CLUSTER = 10


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


def load_layers(paths: Iterable[Path], points: Points | None = None, aliases: Sequence[PlaceAlias] = ()) -> RegionIndex:
    """The region layers, the points where shaking is evaluated (see `RegionIndex.points`) and
    the operator's place aliases."""
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
    return RegionIndex(regions, geoms, points, aliases)


# The national district layer is 7 MB; a file many times that is a mistake (an unsimplified
# export), and reading it would hold the whole text, its parse and its geometries at once.
MAX_REGION_FILE_MB = 100


def read_geojson(path: Path) -> list[tuple[Region, BaseGeometry]]:
    try:
        size_mb = path.stat().st_size / 2**20
        if size_mb > MAX_REGION_FILE_MB:
            raise RegionError(
                f"{path}: {size_mb:.0f} MB is larger than the limit of {MAX_REGION_FILE_MB} MB"
                " (simplify the boundaries, e.g. with mapshaper)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable GeoJSON file: {e}") from None
    fast = _read_fast(text)
    if fast is not None:
        return fast
    # The slow path names the feature and what is wrong with it.
    return _read_slow(path, text)


# Coordinate arrays hold only numbers, brackets, commas and white space.
_COORDINATES = re.compile(r'"coordinates"\s*:\s*\[[-+\d\s,.eE\[\]]*\]')


def _read_fast(text: str) -> list[tuple[Region, BaseGeometry]] | None:
    """JSON reads the document with its coordinate arrays cut out, and GEOS reads each
    geometry from its own text: in C, a third of the time, and no Python object per vertex nor
    a parse tree of the whole file, so a national district layer loads without a 100 MB peak.
    Anything unexpected (a GeometryCollection, a null geometry) gives None: the slow path then
    reads the file again and names what is wrong."""
    arrays = list(_COORDINATES.finditer(text))
    try:
        doc = json.loads(_COORDINATES.sub('"coordinates":null', text))
    except (ValueError, RecursionError):
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or len(arrays) != len(features):
        return None
    texts = []
    for feat, found in zip(features, arrays, strict=True):
        kind = feat.get("geometry", {}).get("type") if isinstance(feat, dict) else None
        if not isinstance(kind, str) or not kind.isalpha():
            return None
        coords = found.group(0)
        texts.append('{"type":"%s","coordinates":%s}' % (kind, coords[coords.index("[") :]))  # noqa: UP031
    try:
        geoms = shapely.from_geojson(np.array(texts, dtype=object))
    except shapely.errors.GEOSException:
        return None
    if not bool(np.all(shapely.is_valid(geoms))) or bool(np.any(shapely.is_empty(geoms))):
        return None
    out: list[tuple[Region, BaseGeometry]] = []
    for feat, geom in zip(features, geoms, strict=True):
        region = _region(feat)
        if region is None:
            return None
        out.append((region, geom))
    return out


def _region(feat: Any) -> Region | None:
    props = (feat.get("properties") or {}) if isinstance(feat, dict) else {}
    code, name = props.get("code"), props.get("name")
    if not isinstance(code, str) or not code or not isinstance(name, str):
        return None
    level = props.get("level") or ("province" if "." not in code else "regency" if code.count(".") == 1 else "district")
    return Region(code, name, str(level), props.get("parent_code"))


def _read_slow(path: Path, text: str) -> list[tuple[Region, BaseGeometry]]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise RegionError(f"{path}: not a readable GeoJSON file: {e}") from None
    except RecursionError:
        raise RegionError(f"{path}: not a readable GeoJSON file: nested too deeply") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise RegionError(f"{path}: not a GeoJSON FeatureCollection")
    out: list[tuple[Region, BaseGeometry]] = []
    for n, feat in enumerate(features):
        region = _region(feat)
        if region is None:
            raise RegionError(f"{path}: features[{n}]: needs string properties 'code' and 'name'")
        try:
            geom = shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RegionError(f"{path}: features[{n}] ({region.code}): bad geometry: {e}") from None
        if geom.is_empty or not geom.is_valid:
            raise RegionError(f"{path}: features[{n}] ({region.code}): geometry is empty or invalid")
        out.append((region, geom))
    return out


# --- where people are ----------------------------------------------------------------------

# Predicted shaking is evaluated where people live, not at the nearest edge of a polygon: a
# regency's edge may be an empty coast or a mountain ridge a few km from the epicentre while its
# towns are 60 km away, and the reverse. One point per kecamatan (district) stands for the
# people of that district; a regency is as shaken as its most shaken district.
POINTS_HEADER = ("code", "name", "lat", "lon")


@dataclass(frozen=True)
class Points:
    """Representative points of districts (or of whatever level the file holds), with their
    codes and names; the arrays are aligned."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    source: str

    def __len__(self) -> int:
        return len(self.codes)

    @functools.cached_property
    def _under(self) -> dict[str, npt.NDArray[np.intp]]:
        groups: dict[str, list[int]] = {}
        for i, code in enumerate(self.codes):
            parts = code.split(".")
            for n in range(1, len(parts) + 1):
                groups.setdefault(".".join(parts[:n]), []).append(i)
        return {k: np.array(v, dtype=np.intp) for k, v in groups.items()}

    def under(self, code: str) -> npt.NDArray[np.intp]:
        """Indices of the points of a region and of every region inside it ('33' covers
        '33.74.01')."""
        return self._under.get(code, np.empty(0, dtype=np.intp))

    def distances_km(self, lat: float, lon: float) -> npt.NDArray[np.float64]:
        """Great-circle distance from (lat, lon) to every point (haversine, vectorised)."""
        p1 = math.radians(lat)
        p2 = np.radians(self.lat)
        dp = p2 - p1
        dl = np.radians(self.lon - lon)
        a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a))), dtype=np.float64)


def representative_point(geom: BaseGeometry) -> tuple[float, float]:
    """(lat, lon) of the centroid when it lies inside the polygon (a compact district: its
    middle), else a point guaranteed inside (a crescent or an island group, whose centroid may be
    at sea)."""
    c = geom.centroid
    if not geom.contains(c):
        c = geom.point_on_surface()
    return (round(c.y, 5), round(c.x, 5))


def points_from_layer(path: Path) -> list[tuple[str, str, float, float]]:
    """(code, name, lat, lon) for every feature of a region layer."""
    return [(r.code, r.name, *representative_point(g)) for r, g in read_geojson(path)]


def read_points(path: Path) -> Points:
    """A points file: CSV with the header code,name,lat,lon. Every row is checked, and a problem
    names the file and the line."""
    try:
        size_mb = path.stat().st_size / 2**20
        if size_mb > MAX_REGION_FILE_MB:
            raise RegionError(f"{path}: {size_mb:.0f} MB is larger than the limit of {MAX_REGION_FILE_MB} MB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable points file: {e}") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        raise RegionError(f"{path}: not a readable CSV file: {e}") from None
    if not rows or tuple(c.strip() for c in rows[0]) != POINTS_HEADER:
        raise RegionError(f"{path}:1: the header must be {','.join(POINTS_HEADER)}")
    codes: list[str] = []
    names: list[str] = []
    lats: list[float] = []
    lons: list[float] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(POINTS_HEADER):
            raise RegionError(f"{path}:{n}: {len(row)} fields, expected {len(POINTS_HEADER)}")
        code, name = row[0].strip(), row[1].strip()
        try:
            lat, lon = float(row[2]), float(row[3])
        except ValueError:
            raise RegionError(f"{path}:{n}: lat and lon must be numbers, not {row[2]!r}, {row[3]!r}") from None
        if not code or not name:
            raise RegionError(f"{path}:{n}: code and name must not be empty")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise RegionError(f"{path}:{n}: ({lat}, {lon}) is not a coordinate")
        if code in seen:
            raise RegionError(f"{path}:{n}: code {code!r} appears twice")
        seen.add(code)
        codes.append(code)
        names.append(name)
        lats.append(lat)
        lons.append(lon)
    return Points(tuple(codes), tuple(names), np.array(lats), np.array(lons), str(path))


def write_points(rows: Iterable[tuple[str, str, float, float]], out: io.TextIOBase | Any) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(POINTS_HEADER)
    n = 0
    for code, name, lat, lon in rows:
        w.writerow((code, name, f"{lat:.5f}", f"{lon:.5f}"))
        n += 1
    return n


# --- place aliases ---------------------------------------------------------------------------

# BMKG names felt places by towns that are neither a kecamatan nor a regency (Sorowako, Sinabang,
# Labuan Bajo). Which kecamatan such a town lies in is a fact an operator can look up and add,
# one row each, with where the fact comes from.
ALIASES_HEADER = ("name", "code", "source")


@dataclass(frozen=True)
class PlaceAlias:
    name: str
    code: str
    source: str
    path: str
    line: int


def read_place_aliases(path: Path) -> tuple[PlaceAlias, ...]:
    """An aliases file: CSV with the header name,code,source; lines starting with '#' are
    comments. Every row is checked, and a problem names the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable aliases file: {e}") from None
    content: list[tuple[int, list[str]]] = []
    # Line by line, so that every problem can name its line.
    for n, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        try:
            content.append((n, next(csv.reader([line]))))
        except csv.Error as e:
            raise RegionError(f"{path}:{n}: not a readable CSV line: {e}") from None
    if not content or tuple(c.strip() for c in content[0][1]) != ALIASES_HEADER:
        first = content[0][0] if content else 1
        raise RegionError(f"{path}:{first}: the header must be {','.join(ALIASES_HEADER)}")
    out: list[PlaceAlias] = []
    seen: dict[str, int] = {}
    for n, row in content[1:]:
        if len(row) != len(ALIASES_HEADER):
            raise RegionError(f"{path}:{n}: {len(row)} fields, expected {len(ALIASES_HEADER)} (quote a comma)")
        name, code, source = (c.strip() for c in row)
        if not name or not code:
            raise RegionError(f"{path}:{n}: name and code must not be empty")
        if not source:
            raise RegionError(f"{path}:{n}: say where the fact comes from in the source column")
        if not re.fullmatch(r"\d{2}(\.\d{2}){1,2}", code):
            raise RegionError(f"{path}:{n}: {code!r} is not a regency (33.26) or kecamatan (33.26.07) code")
        folded = " ".join(name.lower().split())
        if folded in seen:
            raise RegionError(f"{path}:{n}: {name!r} is already on line {seen[folded]}")
        seen[folded] = n
        out.append(PlaceAlias(name, code, source, str(path), n))
    return tuple(out)
