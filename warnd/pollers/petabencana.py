"""PetaBencana / CogniCity flood gauges (`data.petabencana.id/floodgauges?admin=ID-JK`).

`{"statusCode": 200, "result": <TopoJSON or GeoJSON>}`. TopoJSON points may be quantized
(`transform.scale` / `translate`). Each gauge carries `observations` of {f1: time (UTC),
f2: depth cm, f3: level 1..4 (4 = normal), f4: "SIAGA IV "}; the newest at or before the clock is
the state. Written from the service's documentation: no real response was available.
"""

from __future__ import annotations

from typing import Any

from warnd.errors import FeedError
from warnd.model import HazardEvent, ParseResult, Reason, Source
from warnd.pollers.common import ItemError, clean, collect, iso_time, lonlat, strict_number
from warnd.pollers.document import load_json
from warnd.pollers.gauge import flags_for, gauge_event, level_from_status

FORMAT = "petabencana"


def parse(data: bytes, src: Source) -> ParseResult:
    doc = load_json(data, src.feed)
    result = doc.get("result") if isinstance(doc, dict) else None
    if not isinstance(result, dict):
        raise FeedError(src.feed, "no result object: not a PetaBencana response")
    return collect(_gauges(result, src.feed), src.feed, _label, lambda g: _event(g[0], g[1], src))


def _label(index: int, g: tuple[dict[str, Any], Any]) -> str:
    return f"gauge[{index}]" + (f" ({g[0].get('gaugeid')})" if g[0].get("gaugeid") else "")


def _gauges(result: dict[str, Any], feed: str) -> list[tuple[dict[str, Any], Any]]:
    if result.get("type") == "Topology":
        transform = result.get("transform") if isinstance(result.get("transform"), dict) else None
        out: list[tuple[dict[str, Any], Any]] = []
        objects = result.get("objects")
        for obj in objects.values() if isinstance(objects, dict) else []:
            for g in obj.get("geometries", []) if isinstance(obj, dict) else []:
                if isinstance(g, dict):
                    out.append((g.get("properties") or {}, _untransform(g.get("coordinates"), transform)))
        return out
    if result.get("type") == "FeatureCollection":
        feats = result.get("features")
        return (
            [
                (f.get("properties") or {}, (f.get("geometry") or {}).get("coordinates"))
                for f in feats
                if isinstance(f, dict)
            ]
            if isinstance(feats, list)
            else []
        )
    raise FeedError(feed, "result is neither a TopoJSON Topology nor a GeoJSON FeatureCollection")


def _untransform(coords: Any, transform: dict[str, Any] | None) -> Any:
    if transform is None or not isinstance(coords, list) or len(coords) < 2:
        return coords
    scale: Any = transform.get("scale")
    translate: Any = transform.get("translate")
    try:
        return [coords[0] * scale[0] + translate[0], coords[1] * scale[1] + translate[1]]
    except (TypeError, IndexError):
        return None


def _event(props: dict[str, Any], point: Any, src: Source) -> HazardEvent | None:
    gid = clean(props.get("gaugeid"))
    if not gid:
        raise ItemError("gaugeid", Reason.MISSING_FIELD, "no gaugeid")
    obs = props.get("observations")
    if not isinstance(obs, list) or not obs:
        raise ItemError("observations", Reason.MISSING_FIELD, "no observations")
    readings = []
    for o in obs:
        if not isinstance(o, dict):
            continue
        t = iso_time(o.get("f1"), "observations.f1")
        cm = strict_number(o.get("f2"), "observations.f2", required=True)
        if t <= src.now and cm is not None:
            readings.append((t, cm, level_from_status(o.get("f3")) or level_from_status(o.get("f4"))))
    if not readings:
        return None
    readings.sort(key=lambda r: r[0])
    t, cm, level = readings[-1]
    lat, lon = lonlat(point, "coordinates") or (None, None)
    before = readings[-2][1] if len(readings) > 1 else None
    return gauge_event(
        family="petabencana",
        station=gid,
        feed=src.feed,
        feed_format=FORMAT,
        time=t,
        cm=cm,
        level=level,
        flags=flags_for(cm, before, None, None, None),
        name=clean(props.get("gaugenameid")),
        lat=lat,
        lon=lon,
    )
