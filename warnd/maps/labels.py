"""Text on the map: the fonts, and the place names placed without overlap.

Names are placed in order, the most severe level first and, within it, the largest region
first, each on its region's inside point or just above or below it; a name whose box would
touch one already placed, a panel or a marker there, or leave the map, is skipped,
so that what is written can be read. Every name has a white halo so it reads over any fill."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

from warnd.maps.style import HALO, TEXT

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

Box = tuple[float, float, float, float]


@functools.lru_cache(maxsize=32)
def font(size: int) -> Font:
    """Pillow's bundled FreeType font (Aileron Regular) at a pixel size: no font file to ship."""
    return ImageFont.load_default(size=size)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    x: float
    y: float
    """Centre of the text, in pixels of the drawing."""


def place(
    draw: ImageDraw.ImageDraw,
    labels: Sequence[Label],
    size: int,
    limits: Box,
    taken: list[Box],
    pad: float,
) -> list[tuple[Label, Box]]:
    """The labels that fit, in the order given (most important first), each with its box;
    `taken` (panels, earlier labels) grows with every label placed."""
    f = font(size)
    placed: list[tuple[Label, Box]] = []
    for label in labels:
        left, top, right, bottom = draw.textbbox((0, 0), label.text, font=f)
        w, h = right - left, bottom - top
        # On its point, else just above or below it (a gauge's marker sits on a small city).
        step = h + 2 * pad
        for dy in (0.0, -step, step, -2 * step, 2 * step):
            y = label.y + dy
            box = (label.x - w / 2 - pad, y - h / 2 - pad, label.x + w / 2 + pad, y + h / 2 + pad)
            if box[0] < limits[0] or box[1] < limits[1] or box[2] > limits[2] or box[3] > limits[3]:
                continue
            if any(overlaps(box, t) for t in taken):
                continue
            taken.append(box)
            placed.append((Label(label.text, label.x, y), box))
            break
    return placed


def write(draw: ImageDraw.ImageDraw, placed: Sequence[tuple[Label, Box]], size: int, halo: int) -> None:
    f = font(size)
    for label, _ in placed:
        draw.text((label.x, label.y), label.text, font=f, fill=TEXT, anchor="mm", stroke_width=halo, stroke_fill=HALO)
