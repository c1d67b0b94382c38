"""A warning as a map image: a PNG of about 1200x675 (X's 16:9 card), drawn from the region
layers warnd already loads, with no tiles and no network.

The image shows the warned regions coloured by their level (tsunami zones, Siaga levels, CAP
severity or predicted shaking, `style.shading`) with a legend naming the levels drawn, the
epicentre with its magnitude, a CAP alert's own area, the names of the warned regions (the most
severe and largest first, none over another), the event's time in the regions' own zone, the
source's credit, and a large LATIHAN across an exercise.

Pillow draws it: ImageDraw fills the polygons at twice the size and the map is halved, for
smooth edges; then the text (Pillow's bundled FreeType font), panels and markers are set at the
image's own size (`panels`), and `png` writes the file. Pillow imports in about a tenth of a
second and adds about 5 MB, where matplotlib would add most of a second to the daemon's start
and tens of MB to its memory; a map of filled outlines and labels needs none of what it adds."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import shapely
from PIL import Image, ImageDraw

from warnd.geo import RegionIndex
from warnd.maps import panels, png, style
from warnd.maps.basemap import Basemap, Outline, basemap
from warnd.maps.labels import Box
from warnd.maps.style import Shading, shading
from warnd.maps.view import Projection, frame
from warnd.maps.words import exercise, local_time, zone_of
from warnd.model import HazardEvent, Warning

WIDTH, HEIGHT = 1200, 675
HEADER = 76
# Drawn at this many times the size, then reduced: smooth edges without antialiasing support
# in ImageDraw's polygons.
SS = 2
# Regency borders are drawn when the frame is at most this tall (degrees): wider, they are a
# grey smudge.
REGENCY_BORDERS_DEG = 9.0


def projection(event: HazardEvent, warning: Warning, regions: RegionIndex) -> Projection:
    """The renderer's projection of a warning's map, in pixels of the final image."""
    return frame(event, warning, regions, WIDTH, HEIGHT - HEADER, HEADER)


def prepare(regions: RegionIndex) -> None:
    """Prepare the outlines a map is drawn from (about half a second of CPU for the national
    layers), so the first warning after a load does not wait for it: once per region set."""
    regions.derived(basemap)


def render_map(
    event: HazardEvent,
    warning: Warning,
    regions: RegionIndex,
    *,
    credit: str,
    notes: Mapping[str, str] | None = None,
) -> bytes:
    """The PNG of a warning's map.

    `credit`: whom the source asks to be credited ("BMKG"; the feed catalogue's `credit`, as
    the post's text has it). The warning's `created_at` (the pipeline's clock) is stamped
    beside it, in the same zone as the event's time. `notes`: the match's region notes ("MMI 5" by region code), when
    the caller has them; without them a quake's regions are shaded by predicted intensity."""
    shade = shading(event, warning, regions, notes)
    proj = projection(event, warning, regions)
    img = Image.new("RGB", (WIDTH * SS, HEIGHT * SS), style.SEA)
    draw = ImageDraw.Draw(img)
    base = regions.derived(basemap)
    _land(draw, base, proj)
    _warned(draw, base, proj, shade)
    _borders(draw, base, proj)
    _cap_area(draw, event, proj)
    out = img.reduce(SS)
    draw = ImageDraw.Draw(out)
    taken: list[Box] = [panels.header(draw, event, warning, regions, WIDTH, HEADER)]
    panels.legend(out, draw, event, shade, taken)
    made = local_time(warning.created_at, zone_of(event, warning, regions))
    panels.credit(out, draw, credit, made, taken)
    at = panels.reserve_marker(draw, event, proj, taken)
    panels.names(draw, base, proj, shade, taken, (4, HEADER + 4, WIDTH - 4, HEIGHT - 4))
    if at is not None:
        panels.marker(out, draw, event, at)
    if exercise(event, warning):
        out = panels.watermark(out, HEADER)
    return png.encode_within(out)


def _rings(proj: Projection, outline: Outline, holes: bool = False) -> tuple[list[list[float]], list[float]]:
    """The outline's shells (or holes) in the frame, in pixels of the drawing, and the islets
    smaller than a pixel as points (x, y, x, y ...): drawing those as polygons costs most of a
    national frame's time and shows nothing more."""
    n = len(outline.boxes)
    wanted = np.arange(n) >= outline.shells if holes else np.arange(n) < outline.shells
    bx = outline.boxes
    seen = (
        wanted & (bx[:, 2] >= proj.west) & (bx[:, 0] <= proj.east) & (bx[:, 3] >= proj.south) & (bx[:, 1] <= proj.north)
    )
    per_deg = proj.scale * SS
    big = seen & (np.maximum(bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1]) * per_deg >= 2.0)
    tiny = seen & ~big
    pts = proj.many(outline.coords, SS)
    rings = [pts[outline.starts[i] : outline.starts[i + 1]].ravel().tolist() for i in np.flatnonzero(big)]
    dots = pts[outline.starts[:-1][tiny]].ravel().tolist() if tiny.any() else []
    return rings, dots


def _visible(base: Basemap, level: str, proj: Projection) -> list[Outline]:
    layer = base.layer(level)
    return layer.within(proj.west, proj.south, proj.east, proj.north) if layer is not None else []


def _land_level(base: Basemap) -> str:
    return "province" if base.layer("province") is not None else next(iter(base.layers), "")


def _land(draw: ImageDraw.ImageDraw, base: Basemap, proj: Projection) -> None:
    for outline in _visible(base, _land_level(base), proj):
        rings, dots = _rings(proj, outline)
        for ring in rings:
            draw.polygon(ring, fill=style.LAND)
        if dots:
            draw.point(dots, fill=style.PROVINCE_BORDER)


def _warned(draw: ImageDraw.ImageDraw, base: Basemap, proj: Projection, shade: Shading) -> None:
    # Largest first: a city inside a regency (a hole in it) is filled after the regency.
    outlines = sorted((base.by_code[c] for c in shade.levels if c in base.by_code), key=lambda o: -o.area)
    for outline in outlines:
        colour = shade.levels[outline.code].colour
        rings, dots = _rings(proj, outline)
        for ring in rings:
            draw.polygon(ring, fill=colour)
        if dots:
            draw.point(dots, fill=colour)
        for ring in _rings(proj, outline, holes=True)[0]:
            draw.polygon(ring, fill=style.LAND)


def _borders(draw: ImageDraw.ImageDraw, base: Basemap, proj: Projection) -> None:
    if base.layer("regency") is not None and proj.span_deg <= REGENCY_BORDERS_DEG:
        for outline in _visible(base, "regency", proj):
            for ring in _rings(proj, outline)[0]:
                draw.line(ring, fill=style.REGENCY_BORDER, width=1)
    for outline in _visible(base, _land_level(base), proj):
        for ring in _rings(proj, outline)[0]:
            draw.line(ring, fill=style.PROVINCE_BORDER, width=SS)


def _cap_area(draw: ImageDraw.ImageDraw, event: HazardEvent, proj: Projection) -> None:
    """A CAP alert's own polygons, outlined: the regions are where warnd warns, the outline is
    what the source drew."""
    if event.area is None:
        return
    try:
        geom = shapely.from_geojson(json.dumps(event.area))
    except (shapely.errors.GEOSException, TypeError, ValueError):
        return
    for poly in shapely.get_parts(geom):
        if isinstance(poly, shapely.Polygon):
            ring = proj.many(np.asarray(poly.exterior.coords)[:, :2], SS).ravel().tolist()
            draw.line(ring, fill=style.CAP_AREA, width=3 * SS, joint="curve")
