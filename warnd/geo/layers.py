"""Reading region layers: GeoJSON FeatureCollections of regions with a code and a name."""

from __future__ import annotations

import hashlib
import json
import os
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


def read_geojson(path: Path, cache: Path | None = None) -> list[tuple[Region, BaseGeometry]]:
    """The layer's regions and geometries. `cache`: a folder where the layer read once is kept
    as WKB, keyed by the file's bytes (and this reader's and GEOS's versions), and read from
    there the next time: a national layer in a fiftieth of the time, which is most of a start."""
    try:
        size_mb = path.stat().st_size / 2**20
        if size_mb > MAX_REGION_FILE_MB:
            raise RegionError(
                f"{path}: {size_mb:.0f} MB is larger than the limit of {MAX_REGION_FILE_MB} MB"
                " (simplify the boundaries, e.g. with mapshaper)"
            )
        data = path.read_bytes()
        key = _key(data) if cache is not None else ""
        # Named by the file's own path too: two layers of one name in two folders never clash.
        name = f"{path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
        if cache is not None and (hit := _cached(cache, name, key)) is not None:
            return hit
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable GeoJSON file: {e}") from None
    # The slow path names the feature and what is wrong with it.
    out = _read_fast(text) or _read_slow(path, text)
    if cache is not None:
        _keep(cache, name, key, out)
    return out


# What a cached layer was made by: a change to the reading, the WKB or GEOS makes a new entry.
_CACHE_FORMAT = 1


def _key(data: bytes) -> str:
    made_by = f"{_CACHE_FORMAT}|{shapely.__version__}|{shapely.geos_version_string}|".encode()
    return hashlib.sha256(made_by + data).hexdigest()[:32]


def _entry(cache: Path, name: str, key: str) -> Path:
    return cache / f"{name}.{key}.npz"


def _cached(cache: Path, name: str, key: str) -> list[tuple[Region, BaseGeometry]] | None:
    """The layer as kept, or None when it is not (or not readable: then it is read again).
    Geometries were checked valid when kept; WKB brings them back exactly."""
    try:
        with np.load(_entry(cache, name, key), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            blob, offsets = bytes(z["wkb"]), z["offsets"]
        wkb = np.array([blob[offsets[i] : offsets[i + 1]] for i in range(len(meta))], dtype=object)
        geoms = shapely.from_wkb(wkb)
        return [(Region(*m), g) for m, g in zip(meta, geoms, strict=True)]
    except (OSError, ValueError, KeyError, TypeError, IndexError, shapely.errors.GEOSException):
        return None


def _keep(cache: Path, name: str, key: str, layer: list[tuple[Region, BaseGeometry]]) -> None:
    """Written whole (a temporary file renamed) or not at all; the entries of earlier versions
    of the file go. A folder that cannot be written only costs the next start its time."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        wkb = shapely.to_wkb(np.array([g for _, g in layer], dtype=object))
        offsets = np.zeros(len(layer) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(w) for w in wkb])
        meta = json.dumps([[r.code, r.name, r.level, r.parent_code] for r, _ in layer]).encode()
        target = _entry(cache, name, key)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.savez(
                f,
                meta=np.frombuffer(meta, dtype=np.uint8),
                wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8),
                offsets=offsets,
            )
        tmp.replace(target)
        for old in cache.glob(f"{name}.*.npz"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError:
        return


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
