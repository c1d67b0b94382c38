"""warnd's own gauge format, for any agency that can publish a file: a GeoJSON
FeatureCollection of Point features (lon, lat) whose properties are

    station        string, required: stable id of the gauge
    time           ISO 8601 with offset, required: when the reading was taken
    level_cm       number, required: water level in centimetres
    name, river    strings, optional
    status         optional: "normal", "siaga3", "siaga2", "siaga1" (or "Siaga 2", 1..4)
    thresholds_cm  optional: {"siaga3": n, "siaga2": n, "siaga1": n}, lower bounds in cm
    previous_cm    optional: the reading before, for jump detection

The status, when given, is the source's word and wins; otherwise the thresholds decide.
"""

from __future__ import annotations

from typing import Any

from warnd.errors import FeedError
from warnd.model import HazardEvent, ParseResult, Reason, Source
from warnd.pollers.common import ItemError, clean, collect, iso_time, lonlat, not_future, strict_number
from warnd.pollers.document import geojson_features, load_json
from warnd.pollers.gauge import Thresholds, flags_for, gauge_event, level_from_status

FORMAT = "gauge-geojson"


def parse(data: bytes, src: Source) -> ParseResult:
    doc = load_json(data, src.feed)
    features = geojson_features(doc, src.feed)
    if features and not any(isinstance(f, dict) and "station" in (f.get("properties") or {}) for f in features):
        raise FeedError(src.feed, "no feature has a 'station' property: not a warnd gauge document")
    return collect(features, src.feed, _label, lambda f: _event(f, src))


def _label(index: int, f: Any) -> str:
    props = f.get("properties") if isinstance(f, dict) else None
    return f"features[{index}]" + (f" ({props.get('station')})" if isinstance(props, dict) else "")


def _event(f: Any, src: Source) -> HazardEvent:
    props = f.get("properties") if isinstance(f, dict) else None
    if not isinstance(props, dict):
        raise ItemError("properties", Reason.MALFORMED, "feature without properties")
    station = clean(props.get("station")) if isinstance(props.get("station"), str) else None
    if not station:
        raise ItemError("station", Reason.MISSING_FIELD, "station is missing or not a string")
    t = not_future(iso_time(props.get("time"), "time"), src.now, "time")
    cm = strict_number(props.get("level_cm"), "level_cm", required=True)
    assert cm is not None
    th = props.get("thresholds_cm")
    thresholds = None
    if isinstance(th, dict):
        thresholds = Thresholds.of(
            strict_number(th.get("siaga3"), "thresholds_cm.siaga3", required=False),
            strict_number(th.get("siaga2"), "thresholds_cm.siaga2", required=False),
            strict_number(th.get("siaga1"), "thresholds_cm.siaga1", required=False),
        )
    status = level_from_status(props.get("status"))
    geom = f.get("geometry")
    lat, lon = lonlat(geom.get("coordinates") if isinstance(geom, dict) else None, "geometry.coordinates") or (
        None,
        None,
    )
    before = strict_number(props.get("previous_cm"), "previous_cm", required=False)
    return gauge_event(
        family="geojson",
        station=station,
        feed=src.feed,
        feed_format=FORMAT,
        time=t,
        cm=cm,
        level=status or (thresholds.level(cm) if thresholds else None),
        flags=flags_for(cm, before, None, thresholds, status),
        name=clean(props.get("name")),
        lat=lat,
        lon=lon,
        river=clean(props.get("river")),
    )
