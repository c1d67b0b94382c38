"""What is drawn over the map, at the image's own size: the heading with the time, the legend,
the epicentre or gauge, the place names, the credit and an exercise's watermark.

Text needs no supersampling (FreeType smooths its own edges), so it is set after the map is
reduced, on a quarter of the pixels; the markers are small supersampled images pasted on."""

from __future__ import annotations

import functools
import math

from PIL import Image, ImageDraw

from warnd.geo import RegionIndex
from warnd.maps import labels, style
from warnd.maps.basemap import Basemap
from warnd.maps.labels import Box, Label
from warnd.maps.style import Shading
from warnd.maps.view import Projection
from warnd.maps.words import exercise, heading, local_time, magnitude, zone_of
from warnd.model import Hazard, HazardEvent, Warning

MAX_LABELS = 40
STAR = 19
"""The epicentre's star: outer radius in pixels, halo included."""


def header(
    draw: ImageDraw.ImageDraw, event: HazardEvent, warning: Warning, regions: RegionIndex, width: int, height: int
) -> Box:
    box: Box = (0, 0, width, height)
    draw.rectangle(box, fill=style.PANEL)
    draw.line((0, height, width, height), fill=style.PROVINCE_BORDER, width=1)
    x: float = 18
    if exercise(event, warning):
        tag = labels.font(24)
        w = draw.textlength("LATIHAN", font=tag)
        draw.rectangle((x, 10, x + w + 16, 44), fill=style.WATERMARK)
        draw.text((x + 8, 27), "LATIHAN", font=tag, fill=style.PANEL, anchor="lm")
        x += w + 28
    first = fit(draw, heading(event, warning), 30, width - x - 18)
    draw.text((x, 10), first, font=labels.font(30), fill=style.TEXT)
    zone = zone_of(event, warning, regions)
    second = " · ".join(b for b in (event.place, local_time(event.time, zone)) if b)
    draw.text((18, 47), fit(draw, second, 19, width - 36), font=labels.font(19), fill=style.TEXT)
    return box


def fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: float) -> str:
    """The text cut with an ellipsis to fit the width (a long BMKG place description)."""
    f = labels.font(size)
    if draw.textlength(text, font=f) <= width:
        return text
    while text and draw.textlength(text + "…", font=f) > width:
        text = text[:-1]
    return text + "…"


def marker_kind(event: HazardEvent) -> str | None:
    """A quake's epicentre, a gauge's station; a weather alert's point is only the middle of
    its area, and its area is drawn."""
    if event.lat is None or event.lon is None:
        return None
    if event.hazard in (Hazard.EARTHQUAKE, Hazard.TSUNAMI):
        return "epicentre"
    return "gauge" if event.hazard is Hazard.FLOOD else None


def legend(img: Image.Image, draw: ImageDraw.ImageDraw, event: HazardEvent, shade: Shading, taken: list[Box]) -> Box:
    """Bottom left: the scale's title and the levels drawn, then the symbols used."""
    sw, line = 26, 25
    entries = [(lv.label, lv.colour) for lv in shade.legend()]
    extras: list[str] = []
    kind = marker_kind(event)
    if kind == "epicentre":
        extras.append("Pusat gempa")
    elif kind == "gauge":
        extras.append("Lokasi pengamatan")
    if event.area is not None:
        extras.append("Area peringatan sumber")
    f, ft = labels.font(17), labels.font(18)
    w = max(
        [draw.textlength(shade.title, font=ft)]
        + [draw.textlength(t, font=f) + sw + 12 for t in [*(e for e, _ in entries), *extras]]
    )
    h = 34 + line * (len(entries) + len(extras))
    x0, y1 = 14, img.height - 14
    box: Box = (x0, y1 - h, x0 + w + 24, y1)
    draw.rounded_rectangle(box, radius=6, fill=style.PANEL, outline=style.PROVINCE_BORDER, width=1)
    x, y = x0 + 12, y1 - h + 8
    draw.text((x, y), shade.title, font=ft, fill=style.TEXT)
    y += 28
    for text, colour in entries:
        draw.rectangle((x, y + 2, x + sw, y + 18), fill=colour, outline=style.WARNED_BORDER, width=1)
        draw.text((x + sw + 10, y), text, font=f, fill=style.TEXT)
        y += line
    for text in extras:
        cx, cy = x + sw // 2, y + 10
        if text == "Pusat gempa":
            _paste(img, _marker_image("epicentre", 11), cx, cy)
        elif text == "Lokasi pengamatan":
            _paste(img, _marker_image("gauge", 10), cx, cy)
        else:
            draw.line((x, cy, x + sw, cy), fill=style.CAP_AREA, width=3)
        draw.text((x + sw + 10, y), text, font=f, fill=style.TEXT)
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


@functools.lru_cache(maxsize=8)
def _marker_image(kind: str, r: int) -> Image.Image:
    """The marker as a small RGBA image, drawn at four times its size and reduced: its centre
    pixel is the image's centre."""
    k = 4
    size = 2 * r + 1
    big = Image.new("RGBA", (size * k, size * k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    c = size * k / 2
    if kind == "epicentre":
        draw.polygon(_star(c, c, r * k), fill=(*style.HALO, 255))
        draw.polygon(_star(c, c, r * k * 0.8), fill=(*style.EPICENTRE, 255))
    else:
        draw.regular_polygon((c, c, r * k), 3, fill=(*style.HALO, 255))
        draw.regular_polygon((c, c, r * k * 0.75), 3, fill=(*style.GAUGE, 255))
    return big.reduce(k)


def _paste(img: Image.Image, mark: Image.Image, x: float, y: float) -> None:
    half = mark.width // 2
    img.paste(mark, (round(x) - half, round(y) - half), mark)


def reserve_marker(
    draw: ImageDraw.ImageDraw, event: HazardEvent, proj: Projection, taken: list[Box]
) -> tuple[float, float] | None:
    """Where the epicentre (or gauge) goes, its place and its magnitude's kept free of names."""
    if marker_kind(event) is None or event.lat is None or event.lon is None:
        return None
    x, y = proj.px(event.lon, event.lat)
    taken.append((x - STAR, y - STAR, x + STAR, y + STAR))
    text = magnitude(event)
    if text and marker_kind(event) == "epicentre":
        w = draw.textlength(text, font=labels.font(22))
        taken.append((x + STAR, y - 14, x + STAR + w + 8, y + 14))
    return (x, y)


def marker(img: Image.Image, draw: ImageDraw.ImageDraw, event: HazardEvent, at: tuple[float, float]) -> None:
    x, y = at
    kind = marker_kind(event)
    if kind == "epicentre":
        _paste(img, _marker_image("epicentre", STAR), x, y)
        text = magnitude(event)
        if text:
            draw.text(
                (x + STAR, y),
                text,
                font=labels.font(22),
                fill=style.TEXT,
                anchor="lm",
                stroke_width=3,
                stroke_fill=style.HALO,
            )
    elif kind == "gauge":
        _paste(img, _marker_image("gauge", 15), x, y)


def names(
    draw: ImageDraw.ImageDraw, base: Basemap, proj: Projection, shade: Shading, taken: list[Box], limits: Box
) -> None:
    """The warned regions' names: most severe first, then largest; none over another."""
    outlines = [base.by_code[c] for c in shade.levels if c in base.by_code]
    outlines.sort(key=lambda o: (shade.levels[o.code].rank, -o.area))
    todo = [Label(short(o.name), *proj.px(*o.label_at)) for o in outlines[: MAX_LABELS * 3]]
    placed = labels.place(draw, todo, 16, limits, taken, 3)[:MAX_LABELS]
    labels.write(draw, placed, 16, 3)


def short(name: str) -> str:
    """ "Kabupaten Lombok Barat" as a map writes it: "Kab. Lombok Barat"."""
    for long, abbreviated in (("Kabupaten ", "Kab. "), ("Kota Administrasi ", "Kota "), ("Provinsi ", "")):
        if name.startswith(long):
            return abbreviated + name[len(long) :]
    return name


def credit(img: Image.Image, draw: ImageDraw.ImageDraw, text: str, made: str, taken: list[Box]) -> None:
    """Bottom right: the source, as its terms ask to be credited, and when the warning was
    made (an update's map is told apart from the first one's)."""
    f = labels.font(15)
    line = f"Sumber: {text} · dibuat {made}"
    w = draw.textlength(line, font=f)
    x1, y1 = img.width - 10, img.height - 10
    box: Box = (x1 - w - 16, y1 - 26, x1, y1)
    draw.rectangle(box, fill=style.PANEL)
    draw.text((x1 - 8, y1 - 13), line, font=f, fill=style.TEXT, anchor="rm")
    taken.append(box)


def watermark(img: Image.Image, top: int) -> Image.Image:
    """LATIHAN across the middle: an exercise must never be read as a real warning."""
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = img.width / 2, top + (img.height - top) / 2
    draw.text(
        (cx, cy),
        "LATIHAN",
        font=labels.font(170),
        anchor="mm",
        fill=(*style.WATERMARK, 60),
        stroke_width=5,
        stroke_fill=(*style.WATERMARK, 255),
    )
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
