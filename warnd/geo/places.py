"""Where shaking is evaluated (district points) and the towns that are not regions (place
aliases): their CSV files."""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from warnd.geo.base import EARTH_RADIUS_KM, MAX_REGION_FILE_MB, RegionError

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
