"""Region layers kept as WKB in the state folder for the next start: the same regions and
geometries come back without the GeoJSON being parsed, a changed file is read again (and its
old entry goes), and a broken or unwritable cache only costs the time it was to save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from tests.conftest import REGIONS
from warnd.geo import layers
from warnd.geo.layers import read_geojson


def _layer(tmp_path: Path, name: str = "provinces.geojson") -> Path:
    path = tmp_path / "regions" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes((REGIONS / "provinces.geojson").read_bytes())
    return path


def _same(a: list, b: list) -> None:
    assert [r for r, _ in a] == [r for r, _ in b]
    assert all(shapely.equals_exact(g1, g2, tolerance=0) for (_, g1), (_, g2) in zip(a, b, strict=True))


def test_a_layer_read_once_comes_back_from_the_cache_unparsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, cache = _layer(tmp_path), tmp_path / "state" / "cache" / "regions"
    plain = read_geojson(path)
    first = read_geojson(path, cache)
    _same(plain, first)
    (entry,) = cache.glob("*.npz")

    def unparsed(*_: object) -> None:
        raise AssertionError("the GeoJSON was parsed although its cache entry is there")

    monkeypatch.setattr(layers, "_read_fast", unparsed)
    monkeypatch.setattr(layers, "_read_slow", unparsed)
    _same(plain, read_geojson(path, cache))
    assert list(cache.glob("*.npz")) == [entry]


def test_a_changed_file_is_read_again_and_its_old_entry_goes(tmp_path: Path) -> None:
    path, cache = _layer(tmp_path), tmp_path / "cache"
    read_geojson(path, cache)
    (old,) = cache.glob("*.npz")
    doc = json.loads(path.read_text())
    doc["features"] = doc["features"][:3]
    doc["features"][0]["properties"]["name"] = "Nanggroe Aceh Darussalam"
    path.write_text(json.dumps(doc))
    got = read_geojson(path, cache)
    assert len(got) == 3 and got[0][0].name == "Nanggroe Aceh Darussalam"
    (new,) = cache.glob("*.npz")
    assert new != old
    # Another layer of the same file name in another folder keeps its own entry.
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = other / path.name
    twin.write_bytes((REGIONS / "provinces.geojson").read_bytes())
    assert len(read_geojson(twin, cache)) == 38
    assert len(list(cache.glob("*.npz"))) == 2
    assert len(read_geojson(path, cache)) == 3


def test_a_broken_entry_or_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    path, cache = _layer(tmp_path), tmp_path / "cache"
    plain = read_geojson(path)
    read_geojson(path, cache)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(b"not a numpy archive")
    _same(plain, read_geojson(path, cache))
    _same(plain, read_geojson(path, cache))  # written again whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    _same(plain, read_geojson(path, blocked / "cache"))
