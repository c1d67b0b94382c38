"""Reading region layers: GeoJSON FeatureCollections of regions with a code and a name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from warnd.model import Region


class RegionError(ValueError):
    pass


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
