"""The places an alert names in its description, as regions of its province.

A BMKG nowcast says where in words as well as in polygons: "Hujan lebat disertai petir akan
terjadi ... di sebagian wilayah Banten, khususnya di Bojonegara, Cibeber, Cipanas, ...". Its
polygons are drawn coarsely (a sliver may touch one city of the several named), so the named
kecamatan and regencies are read too and added to what the polygons give.

Which alerts: those whose description lists places after "khususnya di" ("in particular in"),
BMKG's nowcast wording (notes/feeds.md §3). The wording decides, not the feed or the sender: any
alert that lists places this way has them read, and one that does not (other CAP senders, other
BMKG products) is left to its polygons.

The province is the alert's areaDesc ("Banten"), else the one the sentence names ("di sebagian
wilayah Jawa Tengah"), else the one the polygons overlap most. Each name is looked up within it
(a name that is a kecamatan and another regency, "Karanganyar", is read in that province), near
the polygons and the places of the list that are unambiguous.
"""

from __future__ import annotations

import re
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from warnd.geo import RegionIndex
from warnd.model import HazardEvent, Region
from warnd.rules.gazetteer import Place, gazetteer, regions_at

_LIST = re.compile(r"\bkhususnya\s+di\s+(.+?)(?:\.(?:\s|$)|$)", re.IGNORECASE | re.DOTALL)
_PROVINCE = re.compile(r"\bwilayah\s+([^,.]+?)\s*,\s*khususnya\b", re.IGNORECASE)
_AND = re.compile(r"\s+(?:dan|serta)\s+", re.IGNORECASE)
# Polygon corners used as anchors, at most this many per ring: distances are then measured
# from every kecamatan point to each, and a coarse ring needs no more to say where it is.
_CORNERS = 24


def listed_places(description: str | None) -> tuple[str, ...]:
    """The places after "khususnya di", in order, each once; () when the text lists none."""
    if not description:
        return ()
    m = _LIST.search(description)
    if not m:
        return ()
    names = (n.strip(" .;:") for part in m.group(1).split(",") for n in _AND.split(part))
    return tuple(dict.fromkeys(" ".join(n.split()) for n in names if n.strip(" .;:")))


@dataclass(frozen=True, slots=True)
class Described:
    """The alert's province and each listed place with what it was read as (None: nothing in
    the province bears the name)."""

    province: Region | None
    places: tuple[tuple[str, Place | None], ...]

    @property
    def unmapped(self) -> tuple[str, ...]:
        return tuple(name for name, place in self.places if place is None)

    def regions(self, index: RegionIndex, level: str) -> list[Region]:
        """The places as regions of a rule's level, each once, in the order named."""
        out: dict[str, Region] = {}
        for _, place in self.places:
            if place is not None:
                for r in regions_at(index, place.region, level):
                    out.setdefault(r.code, r)
        return list(out.values())


_CACHE: weakref.WeakKeyDictionary[RegionIndex, OrderedDict[tuple[str, str], Described | None]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_SIZE = 256


def described(index: RegionIndex, ev: HazardEvent) -> Described | None:
    """What the alert's description names, or None when it lists no places. Read once per
    event version however many rules ask."""
    cache = _CACHE.get(index)
    if cache is None:
        cache = _CACHE[index] = OrderedDict()
    key = (ev.id, ev.revision)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    found = _read(index, ev)
    cache[key] = found
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return found


def _read(index: RegionIndex, ev: HazardEvent) -> Described | None:
    names = listed_places(ev.description)
    if not names:
        return None
    g = gazetteer(index)
    province = _province(index, ev)
    code = province.code if province is not None else None
    anchors = _corners(ev.area)
    # Names only one place in the province bears say where the list is; they help to read the
    # names several places bear.
    for name in names:
        sure = g.lookup(name, None, code)
        if sure is not None:
            anchors.extend(g.points_of(sure.region.code))
    near = g.near(anchors) if anchors else None
    return Described(province, tuple((name, g.lookup(name, near, code)) for name in names))


def _province(index: RegionIndex, ev: HazardEvent) -> Region | None:
    g = gazetteer(index)
    for part in (ev.place or "").split(";"):
        found = g.province(part.strip())
        if found is not None:
            return found
    m = _PROVINCE.search(ev.description or "")
    if m:
        found = g.province(m.group(1))
        if found is not None:
            return found
    if ev.area is not None:
        hits = index.intersecting(ev.area, "province")
        if hits:
            return hits[0].region
    return None


def _corners(area: dict[str, Any] | None) -> list[tuple[float, float]]:
    if area is None:
        return []
    polygons = [area["coordinates"]] if area.get("type") == "Polygon" else area.get("coordinates", [])
    out: list[tuple[float, float]] = []
    for polygon in polygons:
        ring = polygon[0] if polygon else []
        step = max(1, len(ring) // _CORNERS)
        out.extend((float(lat), float(lon)) for lon, lat, *_ in ring[::step])
    return out
