"""A warning as a map image: a PNG of about 1200x675 (X's 16:9 card), drawn from the region
layers warnd already loads, with no tiles and no network.

The image shows the warned regions coloured by their level (tsunami zones, Siaga levels, CAP
severity or predicted shaking, `style.shading`) with a legend naming the levels drawn, the
epicentre with its magnitude, a CAP alert's own area, the names of the warned regions (the most
severe and largest first, none over another), the event's time in the regions' own zone, the
source's credit, and a large LATIHAN across an exercise.

Pillow draws it: ImageDraw fills polygons and sets text with its bundled FreeType font, at twice
the size and then halved, for smooth edges. It imports in a few milliseconds and adds a few MB,
where matplotlib would add most of a second to the daemon's start and tens of MB to its memory;
a map of filled outlines and labels needs none of what matplotlib adds."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping

import numpy as np
import shapely
from PIL import Image, ImageDraw

from warnd.geo import RegionIndex
from warnd.maps import labels, style
from warnd.maps.basemap import Basemap, Outline, basemap
from warnd.maps.labels import Box, Label
from warnd.maps.style import Shading, shading
from warnd.maps.view import Projection, frame
from warnd.maps.words import exercise, heading, local_time, magnitude, zone_of
from warnd.model import Hazard, HazardEvent, Warning

WIDTH, HEIGHT = 1200, 675
HEADER = 76
# Drawn at this many times the size, then reduced: smooth edges without antialiasing support
# in ImageDraw's polygons.
SS = 2
# Regency borders are drawn when the frame is at most this tall (degrees): wider, they are a
# grey smudge.
REGENCY_BORDERS_DEG = 9.0
MAX_LABELS = 40


def projection(event: HazardEvent, warning: Warning, regions: RegionIndex) -> Projection:
    """The renderer's projection of a warning's map, in pixels of the final image."""
    return frame(event, warning, regions, WIDTH, HEIGHT - HEADER, HEADER)


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
    the post's text has it). `notes`: the match's region notes ("MMI 5" by region code), when
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
    taken: list[Box] = []
    _legend(draw, event, shade, taken)
    header = _header(draw, event, warning, regions)
    taken.append(header)
    marker = _marker(draw, event, proj, taken)
    _names(draw, base, proj, shade, taken)
    if marker is not None:
        _draw_marker(draw, event, marker)
    _credit(draw, credit, taken)
    if exercise(event, warning):
        img = _watermark(img)
    out = img.reduce(SS)
    buf = io.BytesIO()
    # The fastest deflate: a third of the time of the default for a tenth more bytes, far
    # under the 1 MB an image may weigh.
    out.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


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


def _header(draw: ImageDraw.ImageDraw, event: HazardEvent, warning: Warning, regions: RegionIndex) -> Box:
    box: Box = (0, 0, WIDTH * SS, HEADER * SS)
    draw.rectangle(box, fill=style.PANEL)
    draw.line((0, HEADER * SS, WIDTH * SS, HEADER * SS), fill=style.PROVINCE_BORDER, width=SS)
    x: float = 18 * SS
    if exercise(event, warning):
        tag = labels.font(24 * SS)
        w = draw.textlength("LATIHAN", font=tag)
        draw.rectangle((x, 10 * SS, x + w + 16 * SS, 44 * SS), fill=style.WATERMARK)
        draw.text((x + 8 * SS, 27 * SS), "LATIHAN", font=tag, fill=style.PANEL, anchor="lm")
        x += w + 28 * SS
    first = _fit(draw, heading(event, warning), 30 * SS, WIDTH * SS - x - 18 * SS)
    draw.text((x, 10 * SS), first, font=labels.font(30 * SS), fill=style.TEXT)
    zone = zone_of(event, warning, regions)
    second = " · ".join(b for b in (event.place, local_time(event.time, zone)) if b)
    draw.text(
        (18 * SS, 47 * SS), _fit(draw, second, 19 * SS, (WIDTH - 36) * SS), font=labels.font(19 * SS), fill=style.TEXT
    )
    return box


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: float) -> str:
    """The text cut with an ellipsis to fit the width (a long BMKG place description)."""
    f = labels.font(size)
    if draw.textlength(text, font=f) <= width:
        return text
    while text and draw.textlength(text + "…", font=f) > width:
        text = text[:-1]
    return text + "…"


def _legend(draw: ImageDraw.ImageDraw, event: HazardEvent, shade: Shading, taken: list[Box]) -> Box:
    size, sw, line = 17 * SS, 26 * SS, 25 * SS
    entries: list[tuple[str, style.RGB | None]] = [(lv.label, lv.colour) for lv in shade.legend()]
    extras: list[str] = []
    kind = _marker_kind(event)
    if kind == "epicentre":
        extras.append("Pusat gempa")
    elif kind == "gauge":
        extras.append("Lokasi pengamatan")
    if event.area is not None:
        extras.append("Area peringatan sumber")
    f, ft = labels.font(size), labels.font(18 * SS)
    w = max([draw.textlength(shade.title, font=ft)] + [draw.textlength(t, font=f) + sw + 12 * SS for t, _ in entries])
    w = max(w, *(draw.textlength(t, font=f) + sw + 12 * SS for t in extras)) if extras else w
    h = 34 * SS + line * (len(entries) + len(extras))
    x0, y1 = 14 * SS, (HEIGHT - 14) * SS
    box: Box = (x0, y1 - h, x0 + w + 24 * SS, y1)
    draw.rounded_rectangle(box, radius=6 * SS, fill=style.PANEL, outline=style.PROVINCE_BORDER, width=SS)
    x, y = x0 + 12 * SS, y1 - h + 8 * SS
    draw.text((x, y), shade.title, font=ft, fill=style.TEXT)
    y += 28 * SS
    for text, colour in entries:
        draw.rectangle((x, y + 2 * SS, x + sw, y + 18 * SS), fill=colour, outline=style.WARNED_BORDER, width=SS)
        draw.text((x + sw + 10 * SS, y), text, font=f, fill=style.TEXT)
        y += line
    for text in extras:
        cx, cy = x + sw / 2, y + 10 * SS
        if text == "Pusat gempa":
            draw.polygon(_star(cx, cy, 10 * SS), fill=style.EPICENTRE, outline=style.HALO)
        elif text == "Lokasi pengamatan":
            draw.regular_polygon((cx, cy, 9 * SS), 3, fill=style.GAUGE, outline=style.HALO)
        else:
            draw.line((x, cy, x + sw, cy), fill=style.CAP_AREA, width=3 * SS)
        draw.text((x + sw + 10 * SS, y), text, font=f, fill=style.TEXT)
        y += line
    taken.append(box)
    return box


def _star(cx: float, cy: float, r: float) -> list[float]:
    pts: list[float] = []
    for i in range(10):
        a = math.pi / 2 + i * math.pi / 5
        rr = r if i % 2 == 0 else r * 0.45
        pts += [cx + rr * math.cos(a), cy - rr * math.sin(a)]
    return pts


def _marker(
    draw: ImageDraw.ImageDraw, event: HazardEvent, proj: Projection, taken: list[Box]
) -> tuple[float, float] | None:
    """Where the epicentre (or gauge) is drawn, its box reserved before names are placed."""
    if _marker_kind(event) is None or event.lat is None or event.lon is None:
        return None
    x, y = proj.px(event.lon, event.lat)
    x, y = x * SS, y * SS
    r = 17 * SS
    taken.append((x - r, y - r, x + r, y + r))
    text = magnitude(event)
    if text and event.hazard in (Hazard.EARTHQUAKE, Hazard.TSUNAMI):
        f = labels.font(22 * SS)
        w = draw.textlength(text, font=f)
        taken.append((x + r, y - 14 * SS, x + r + w + 8 * SS, y + 14 * SS))
    return (x, y)


def _marker_kind(event: HazardEvent) -> str | None:
    """A quake's epicentre, a gauge's station; a weather alert's point is only the middle of
    its area, and its area is drawn."""
    if event.lat is None or event.lon is None:
        return None
    if event.hazard in (Hazard.EARTHQUAKE, Hazard.TSUNAMI):
        return "epicentre"
    return "gauge" if event.hazard is Hazard.FLOOD else None


def _draw_marker(draw: ImageDraw.ImageDraw, event: HazardEvent, at: tuple[float, float]) -> None:
    x, y = at
    if event.hazard in (Hazard.EARTHQUAKE, Hazard.TSUNAMI):
        draw.polygon(_star(x, y, 19 * SS), fill=style.HALO)
        draw.polygon(_star(x, y, 15 * SS), fill=style.EPICENTRE)
        text = magnitude(event)
        if text:
            draw.text(
                (x + 19 * SS, y),
                text,
                font=labels.font(22 * SS),
                fill=style.TEXT,
                anchor="lm",
                stroke_width=3 * SS,
                stroke_fill=style.HALO,
            )
    else:
        draw.regular_polygon((x, y, 15 * SS), 3, fill=style.GAUGE, outline=style.HALO, width=2 * SS)


def _names(draw: ImageDraw.ImageDraw, base: Basemap, proj: Projection, shade: Shading, taken: list[Box]) -> None:
    outlines = [base.by_code[c] for c in shade.levels if c in base.by_code]
    outlines.sort(key=lambda o: (shade.levels[o.code].rank, -o.area))
    todo = []
    for o in outlines[: MAX_LABELS * 3]:
        x, y = proj.px(*o.label_at)
        todo.append(Label(_short(o.name), x * SS, y * SS))
    limits: Box = (4 * SS, (HEADER + 4) * SS, (WIDTH - 4) * SS, (HEIGHT - 4) * SS)
    placed = labels.place(draw, todo, 16 * SS, limits, taken, 3 * SS)[:MAX_LABELS]
    labels.write(draw, placed, 16 * SS, 3 * SS)


def _short(name: str) -> str:
    """ "Kabupaten Lombok Barat" as a map writes it: "Kab. Lombok Barat"."""
    for long, short in (("Kabupaten ", "Kab. "), ("Kota Administrasi ", "Kota "), ("Provinsi ", "")):
        if name.startswith(long):
            return short + name[len(long) :]
    return name


def _credit(draw: ImageDraw.ImageDraw, credit: str, taken: list[Box]) -> None:
    f = labels.font(15 * SS)
    text = f"Sumber: {credit}"
    w = draw.textlength(text, font=f)
    x1, y1 = (WIDTH - 10) * SS, (HEIGHT - 10) * SS
    box: Box = (x1 - w - 16 * SS, y1 - 26 * SS, x1, y1)
    draw.rectangle(box, fill=style.PANEL)
    draw.text((x1 - 8 * SS, y1 - 13 * SS), text, font=f, fill=style.TEXT, anchor="rm")
    taken.append(box)


def _watermark(img: Image.Image) -> Image.Image:
    """LATIHAN across the middle: an exercise must never be read as a real warning."""
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = WIDTH * SS / 2, (HEADER + (HEIGHT - HEADER) / 2) * SS
    draw.text(
        (cx, cy),
        "LATIHAN",
        font=labels.font(170 * SS),
        anchor="mm",
        fill=(*style.WATERMARK, 60),
        stroke_width=5 * SS,
        stroke_fill=(*style.WATERMARK, 255),
    )
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
