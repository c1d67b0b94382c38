"""Warnings as map images: `render_map` draws a warning's PNG, `alt_text` says in Indonesian what
it shows, `projection` is where the renderer puts a longitude and latitude, `prepare` readies a region set's
outlines ahead of the first map."""

from warnd.maps.alt import alt_text
from warnd.maps.render import HEIGHT, WIDTH, prepare, projection, render_map
from warnd.maps.style import Scale, Shading, shading
from warnd.maps.view import Projection

__all__ = [
    "HEIGHT",
    "WIDTH",
    "Projection",
    "Scale",
    "Shading",
    "alt_text",
    "prepare",
    "projection",
    "render_map",
    "shading",
]
