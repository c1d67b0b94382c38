"""The areas of an InaTEWS tsunami message: the warning zones (wzarea) with their level and
expected arrival, and the tide gauges that observed the wave (obsarea).

The traps (notes/feeds.md §2): wzarea entries are duplicated verbatim; obsarea latitude and
longitude are swapped in some messages (PD-3.1, PD-3.2); times are local and an unreadable one
costs only the arrival or observation time, never the zone or gauge.
"""

from __future__ import annotations

from datetime import datetime

from warnd.model import Observation, Zone
from warnd.pollers.bmkg_base import event_time
from warnd.pollers.common import ItemError, clean

ZONE_LEVELS = ("awas", "siaga", "waspada")  # most severe first


def _local(date: str | None, time: str | None) -> datetime | None:
    """'25-04-2023' + '03:09:54 WIB' as UTC; None when unreadable (an ETA is not worth an item)."""
    if not date or not time:
        return None
    try:
        return event_time({"tanggal": date.strip(), "jam": time.strip()})
    except ItemError:
        return None


def warning_zones(raw: object) -> tuple[Zone, ...]:
    out: list[Zone] = []
    for z in raw if isinstance(raw, list) else []:
        if not isinstance(z, dict):
            continue
        level = (clean(z.get("level")) or "").lower()
        province = clean(z.get("province")) or ""
        district = clean(z.get("district")) or ""
        if not (province or district):
            continue
        zone = Zone(province, district, level, _local(z.get("date"), z.get("time")))
        if zone not in out:  # BMKG repeats entries verbatim
            out.append(zone)
    return tuple(out)


def top_level(zones: tuple[Zone, ...]) -> str | None:
    for level in ZONE_LEVELS:
        if any(z.level == level for z in zones):
            return level
    return None


def observations(raw: object, quake_lat: float, quake_lon: float) -> tuple[Observation, ...]:
    out: list[Observation] = []
    for o in raw if isinstance(raw, list) else []:
        if not isinstance(o, dict):
            continue
        place = clean(o.get("location")) or "?"
        lat = _float(o.get("loclatitude"))
        lon = _float(o.get("loclongitude"))
        if lat is not None and lon is not None and _swapped(lat, lon, quake_lat, quake_lon):
            lat, lon = lon, lat
        if lat is not None and lon is not None and (abs(lat) > 90 or abs(lon) > 180):
            lat = lon = None
        height = _float(o.get("height"))
        if height is not None and not 0 <= height < 100:
            height = None
        out.append(Observation(place, lat, lon, height, _local(o.get("date"), o.get("time"))))
    return tuple(out)


def _swapped(lat: float, lon: float, qlat: float, qlon: float) -> bool:
    # A latitude beyond 90 is certainly a longitude; otherwise the swapped pair must be much
    # nearer the quake for the swap to be believed (tide gauges are within a few hundred km).
    if abs(lat) > 90:
        return abs(lon) <= 90
    direct = abs(lat - qlat) + abs(lon - qlon)
    swapped = abs(lon - qlat) + abs(lat - qlon)
    return swapped + 20 < direct


def _float(raw: object) -> float | None:
    try:
        v = float(str(raw).strip())
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None
