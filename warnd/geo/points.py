"""Where people are: one representative point per district, read from and written to a
points file (code,name,lat,lon)."""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from warnd.geo.layers import MAX_REGION_FILE_MB, RegionError, read_geojson
from warnd.geo.sphere import EARTH_RADIUS_KM

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
