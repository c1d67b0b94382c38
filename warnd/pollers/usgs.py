"""USGS earthquake GeoJSON summary feeds (earthquake.usgs.gov/earthquakes/feed/v1.0/summary/).

Identity is the event id, but associated events can switch the preferred id: every id in the
comma-wrapped `ids` list is kept as an alias. Magnitude, time, depth and place are revised
between polls (notes/feeds.md §6); `updated` orders the versions. `place` flip-flops between
polls and is never part of identity or revision.

A feature that disagrees with itself is rejected: a `title` ("M 4.6 - 12 km SW of ...") whose
magnitude is not `mag` rounded to a tenth, or an `updated` before the quake's own `time`.
"""

from __future__ import annotations

import re
from typing import Any

from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Source, Status
from warnd.pollers.common import (
    ItemError,
    clean,
    collect,
    epoch_ms,
    lonlat,
    not_future,
    quake_depth,
    quake_magnitude,
    strict_number,
)
from warnd.pollers.document import geojson_features, load_json

FORMAT = "usgs-geojson"
# The feed's `tsunami` 1: a large event in an oceanic region (not a tsunami potential).
OCEANIC = "usgs_tsunami_flag"


# The title's magnitude is `mag` rounded to one decimal (0.85 is titled "M 0.9"): half a tenth
# is the most they can differ; all 83 features of the four recorded feeds agree within it.
_TITLE_MAG = re.compile(r"^M\s*(-?\d+(?:\.\d+)?)\b")
_TITLE_SLACK = 0.05 + 1e-9


def parse(data: bytes, src: Source) -> ParseResult:
    features = geojson_features(load_json(data, src.feed), src.feed)
    return collect(features, src.feed, _label, lambda f: _event(f, src))


def _label(index: int, f: Any) -> str:
    fid = f.get("id") if isinstance(f, dict) else None
    return f"features[{index}]" + (f" ({fid})" if isinstance(fid, str) else "")


def _event(f: Any, src: Source) -> HazardEvent:
    if not isinstance(f, dict) or not isinstance(f.get("properties"), dict):
        raise ItemError("properties", Reason.MALFORMED, "feature without properties")
    p: dict[str, Any] = f["properties"]
    fid = f.get("id")
    if not isinstance(fid, str) or not fid.strip():
        raise ItemError("id", Reason.MISSING_FIELD, "feature has no id")
    kind = str(p.get("type") or "earthquake")
    if kind != "earthquake":
        raise ItemError("type", Reason.UNSUPPORTED, f"type {kind!r} is not an earthquake")
    t = not_future(epoch_ms(p.get("time"), "time"), src.now, "time")
    updated = epoch_ms(p["updated"], "updated") if p.get("updated") is not None else None
    geom = f.get("geometry")
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    position = lonlat(coords, "geometry.coordinates")
    if position is None or not isinstance(coords, list):
        raise ItemError("geometry", Reason.MISSING_FIELD, "no point coordinates")
    lat, lon = position
    raw_depth = strict_number(coords[2], "geometry.coordinates[2]", required=False) if len(coords) > 2 else None
    depth = quake_depth(raw_depth, "geometry.coordinates[2]")
    mag = quake_magnitude(strict_number(p.get("mag"), "mag", required=True), "mag", lowest=-2.0)
    titled = _TITLE_MAG.match(str(p.get("title") or "").strip())
    if titled and abs(float(titled.group(1)) - mag) > _TITLE_SLACK:
        raise ItemError(
            "title", Reason.INCONSISTENT, f"title {p.get('title')!r} disagrees with mag {mag:g}", f"usgs-{fid.strip()}"
        )
    if updated is not None and updated < t:
        raise ItemError(
            "updated",
            Reason.INCONSISTENT,
            f"updated {updated.isoformat()} is before the quake's time {t.isoformat()}",
            f"usgs-{fid.strip()}",
        )
    ids = [i.strip() for i in str(p.get("ids") or "").split(",") if i.strip()]
    status = str(p.get("status") or "").lower()
    return HazardEvent(
        id=f"usgs-{fid.strip()}",
        feed=src.feed,
        feed_format=FORMAT,
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=t,
        lat=lat,
        lon=lon,
        # USGS writes 3.32999992; a tenth is what anyone reads.
        magnitude=round(mag, 1),
        depth_km=round(depth, 1) if depth is not None else None,
        # `tsunami` 1 marks a large event in an oceanic region, for which USGS links the
        # tsunami warning centres; it says nothing of whether a tsunami will come, and 0 does not
        # rule one out. Not a tsunami potential: kept as a flag only.
        tsunami=None,
        level=clean(p.get("alert")),
        headline=clean(p.get("title")),
        place=clean(p.get("place")),
        source_id=fid.strip(),
        event_name=clean(p.get("magType")),
        sent=updated,
        aliases=tuple(f"usgs-{i}" for i in ids if i != fid.strip()),
        flags=tuple(
            flag
            for flag, present in (("automatic", status == "automatic"), (OCEANIC, p.get("tsunami") == 1))
            if present
        ),
    )
