"""The land the map is drawn on: every loaded region's outline as arrays of rings, with a tree
to find those in a frame. Built once per region set (`RegionIndex.derived`), dropped with it on
a reload, so a render converts only the rings in its frame to pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from warnd.geo import RegionIndex

Ring = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Outline:
    """A region's rings in one array (so a render converts them to pixels in one step): ring i
    is `coords[starts[i]:starts[i + 1]]`; the first `shells` rings are outer rings, the rest
    holes; `boxes[i]` is ring i's bounding box (rings out of the frame are not drawn, an islet
    smaller than a pixel is drawn as a dot)."""

    code: str
    name: str
    area: float
    """In square degrees: which of two labels goes first, which of two fills goes under."""
    coords: Ring
    starts: npt.NDArray[np.int64]
    shells: int
    boxes: npt.NDArray[np.float64]
    """Per ring: west, south, east, north."""
    label_at: tuple[float, float]
    """(lon, lat) of a point inside the region, where its name goes."""


@dataclass(frozen=True, slots=True)
class Layer:
    outlines: tuple[Outline, ...]
    tree: STRtree

    def within(self, west: float, south: float, east: float, north: float) -> list[Outline]:
        found = self.tree.query(shapely.box(west, south, east, north))
        return [self.outlines[int(i)] for i in sorted(found.tolist())]


@dataclass(frozen=True, slots=True)
class Basemap:
    layers: dict[str, Layer]
    by_code: dict[str, Outline]

    def layer(self, level: str) -> Layer | None:
        return self.layers.get(level)


def basemap(regions: RegionIndex) -> Basemap:
    """The outlines of a region set, built on first use (`regions.derived(basemap)`)."""
    layers: dict[str, Layer] = {}
    by_code: dict[str, Outline] = {}
    for level in regions.levels:
        outlines: list[Outline] = []
        geoms: list[BaseGeometry] = []
        for region in regions.regions:
            if region.level != level:
                continue
            geom = regions.geometry(region.code)
            if geom is None:
                continue
            outline = _outline(region.code, region.name, geom)
            outlines.append(outline)
            by_code[region.code] = outline
            geoms.append(geom)
        layers[level] = Layer(tuple(outlines), STRtree(geoms))
    return Basemap(layers, by_code)


def _outline(code: str, name: str, geom: BaseGeometry) -> Outline:
    shells: list[Ring] = []
    holes: list[Ring] = []
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, shapely.Polygon):
            continue
        shells.append(np.asarray(poly.exterior.coords, dtype=np.float64)[:, :2])
        holes.extend(np.asarray(r.coords, dtype=np.float64)[:, :2] for r in poly.interiors)
    rings = shells + holes
    starts = np.cumsum([0] + [len(r) for r in rings], dtype=np.int64)
    boxes = np.array([[*r.min(axis=0), *r.max(axis=0)] for r in rings], dtype=np.float64).reshape(-1, 4)
    coords = np.concatenate(rings) if rings else np.zeros((0, 2))
    # The largest part's inside point: a regency's name goes on its mainland, not on an islet.
    parts = list(shapely.get_parts(geom))
    largest = max(parts, key=lambda p: float(p.area)) if parts else geom
    # polylabel: the point farthest inside, where a name is least likely to cross the coast.
    inside = (
        polylabel(largest, tolerance=0.005) if isinstance(largest, shapely.Polygon) else largest.representative_point()
    )
    label_at = (float(inside.x), float(inside.y))
    return Outline(code, name, float(geom.area), coords, starts, len(shells), boxes, label_at)
