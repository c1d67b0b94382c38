"""Where the map looks: the frame around the warned regions and the epicentre, and the
projection from longitude and latitude to pixels.

The projection is equirectangular with longitudes scaled by the cosine of the frame's middle
latitude: Indonesia lies across the equator, where this is within a fraction of a percent of any
conformal projection over the extent of one warning."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from warnd.geo import RegionIndex
from warnd.model import HazardEvent, Warning

# A frame is never narrower than this (degrees of latitude): a town-sized warning still shows
# the coast and the neighbours that place it.
MIN_SPAN_DEG = 0.8
# Share of the frame's width and height left around what the map must show.
MARGIN = 0.18
# Where nothing locates the warning: the archipelago.
INDONESIA = (94.0, -11.5, 141.5, 6.5)


@dataclass(frozen=True, slots=True)
class Projection:
    """Longitude and latitude to pixels of the image: the frame (`west`..`north`) fills the map
    area, `top` pixels below the image's top edge and `width` x `height` pixels large."""

    west: float
    south: float
    east: float
    north: float
    width: int
    height: int
    top: int = 0

    @property
    def _k(self) -> float:
        return math.cos(math.radians((self.south + self.north) / 2))

    @property
    def scale(self) -> float:
        """Pixels per degree of latitude."""
        return self.height / (self.north - self.south)

    def px(self, lon: float, lat: float) -> tuple[float, float]:
        x = (lon - self.west) * self.width / (self.east - self.west)
        y = self.top + (self.north - lat) * self.scale
        return (x, y)

    def many(self, lonlat: npt.NDArray[np.float64], factor: float = 1.0) -> npt.NDArray[np.float64]:
        """`px` for an (n, 2) array of (lon, lat), times `factor` (the supersampling)."""
        out = np.empty_like(lonlat)
        out[:, 0] = (lonlat[:, 0] - self.west) * (self.width * factor / (self.east - self.west))
        out[:, 1] = (self.top + (self.north - lonlat[:, 1]) * self.scale) * factor
        return out

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        """The inverse of `px`."""
        return (self.west + x * (self.east - self.west) / self.width, self.north - (y - self.top) / self.scale)

    @property
    def span_deg(self) -> float:
        return self.north - self.south


def frame(
    event: HazardEvent, warning: Warning, regions: RegionIndex, width: int, height: int, top: int = 0
) -> Projection:
    """The frame of the map: the warned regions, the epicentre (or gauge) and a CAP alert's
    area, with a margin, at the map's aspect; the archipelago only when nothing narrower holds
    what the warning covers."""
    boxes: list[tuple[float, float, float, float]] = []
    for r in warning.regions:
        geom = regions.geometry(r.code)
        if geom is not None:
            boxes.append(tuple(shapely.bounds(geom).tolist()))
    if event.lat is not None and event.lon is not None:
        boxes.append((event.lon, event.lat, event.lon, event.lat))
    if event.area is not None:
        try:
            area = shapely.from_geojson(json.dumps(event.area))
            boxes.append(tuple(shapely.bounds(area).tolist()))
        except (shapely.errors.GEOSException, TypeError, ValueError):
            pass
    return fit(boxes, width, height, top)


def fit(boxes: Iterable[tuple[float, float, float, float]], width: int, height: int, top: int = 0) -> Projection:
    """The smallest frame at the map's aspect holding the boxes with a margin."""
    found = [b for b in boxes if all(math.isfinite(v) for v in b)]
    if not found:
        w, s, e, n = INDONESIA
    else:
        w = min(b[0] for b in found)
        s = min(b[1] for b in found)
        e = max(b[2] for b in found)
        n = max(b[3] for b in found)
    k = math.cos(math.radians((s + n) / 2))
    # Width in "latitude degrees" (east-west degrees shrink by cos(lat)).
    span_x = max((e - w) * k, 1e-6) / (1 - 2 * MARGIN)
    span_y = max(n - s, 1e-6) / (1 - 2 * MARGIN)
    span_y = max(span_y, span_x * height / width, MIN_SPAN_DEG)
    span_x = span_y * width / height
    cx, cy = (w + e) / 2, (s + n) / 2
    half_lon = span_x / k / 2
    return Projection(cx - half_lon, cy - span_y / 2, cx + half_lon, cy + span_y / 2, width, height, top)
