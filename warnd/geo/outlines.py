"""Regions' outlines for CAP <polygon>."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

if TYPE_CHECKING:
    from warnd.geo.regions import RegionIndex


# Simplification tolerances in degrees, finest first (0.002 deg is about 220 m). A CAP alert takes
# the finest one at which all of its regions fit the point budget (warnd.cap.alert).
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
