"""BMKG's realtime automatic solutions: live30event.xml and gempaQL / 3mgempaQL GeoJSON.

These are the earliest and roughest reports (notes/feeds.md §2.3): times in UTC with no zone
marker ("2026/09/26  08:10:21.751", two spaces), magnitudes with six decimals, coordinates as
strings, foreign quakes included. The `bmg...` id is stable across revisions of one solution
and is kept as an alias; the ledger links it to the quake the other BMKG feeds report.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.bmkg_base import collapse_copies, quake_id
from warnd.pollers.common import ItemError, check_latlon, clean, not_future, quake_depth, quake_magnitude, strict_number
from warnd.pollers.document import geojson_features, load_json, load_xml, local_name, sniff

FORMAT = "bmkg-realtime"

_TIME = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[T\s]+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s*(?:Z|UTC)?$")


def parse(data: bytes, src: Source) -> ParseResult:
    kind = sniff(data)
    if kind == "json":
        items = _geojson_items(load_json(data, src.feed), src.feed)
    elif kind == "xml":
        items = _xml_items(load_xml(data, src.feed), src.feed)
    else:
        raise FeedError(src.feed, "neither JSON nor XML")
    events: list[HazardEvent] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        label = f"item[{index}]" + (f" ({item['id']})" if isinstance(item.get("id"), str) else "")
        try:
            events.append(_event(item, src))
        except ItemError as e:
            rejected.append(Rejected(src.feed, label, e.field, e.reason, str(e)))
    kept, dropped = collapse_copies(events)
    return ParseResult(tuple(kept), tuple(rejected + dropped))


def _geojson_items(doc: Any, feed: str) -> list[dict[str, Any]]:
    features = geojson_features(doc, feed)
    out: list[dict[str, Any]] = []
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        geom = f.get("geometry") if isinstance(f, dict) else None
        if not isinstance(props, dict):
            out.append({})
            continue
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        item = {k: props.get(k) for k in ("id", "time", "mag", "depth", "place", "status")}
        if isinstance(coords, list) and len(coords) >= 2:
            item["lon"], item["lat"] = coords[0], coords[1]
        out.append(item)
    if out and not any("mag" in i and "time" in i for i in out if i):
        raise FeedError(feed, "features carry no time and mag: not a BMKG realtime document")
    return out


def _xml_items(root: Element, feed: str) -> list[dict[str, Any]]:
    if local_name(root.tag).lower() != "infogempa":
        raise FeedError(feed, f"root element is <{local_name(root.tag)}>, expected <Infogempa>")
    out: list[dict[str, Any]] = []
    for el in root:
        if local_name(el.tag).lower() != "gempa":
            continue
        raw = {local_name(c.tag).lower(): c.text for c in el}
        out.append(
            {
                "id": raw.get("eventid"),
                "time": raw.get("waktu"),
                "mag": raw.get("mag"),
                "depth": raw.get("dalam"),
                "place": raw.get("area"),
                "status": raw.get("status"),
                "lat": raw.get("lintang"),
                "lon": raw.get("bujur"),
            }
        )
    if not any(i.get("time") and i.get("mag") for i in out):
        raise FeedError(feed, "no gempa with waktu and mag: not a live30event document")
    return out


def _time(raw: object) -> datetime:
    if not isinstance(raw, str) or not raw.strip():
        raise ItemError("time", Reason.MISSING_FIELD, "time is missing")
    m = _TIME.match(raw.strip())
    if not m:
        raise ItemError("time", Reason.MALFORMED, f"time {raw!r} is not 'yyyy/mm/dd hh:mm:ss'")
    g = m.groups()
    micro = int((g[6] or "0").ljust(6, "0"))
    try:
        return datetime(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), micro, tzinfo=UTC)
    except ValueError as e:
        raise ItemError("time", Reason.MALFORMED, f"impossible time {raw!r}: {e}") from None


def _event(item: dict[str, Any], src: Source) -> HazardEvent:
    if not item:
        raise ItemError("item", Reason.MALFORMED, "item is empty or not an object")
    t = not_future(_time(item.get("time")), src.now, "time")
    lat = strict_number(item.get("lat"), "lat", required=True)
    lon = strict_number(item.get("lon"), "lon", required=True)
    assert lat is not None and lon is not None
    lat, lon = check_latlon(lat, lon, "coordinates")
    mag = quake_magnitude(strict_number(item.get("mag"), "mag", required=True), "mag", lowest=-2.0)
    depth = quake_depth(strict_number(item.get("depth"), "depth", required=False), "depth")
    rid = clean(item.get("id"))
    return HazardEvent(
        id=quake_id(t),
        feed=src.feed,
        feed_format=FORMAT,
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=t.replace(microsecond=0),
        lat=round(lat, 4),
        lon=round(lon, 4),
        magnitude=round(mag, 1),
        depth_km=round(depth, 1) if depth is not None else None,
        place=clean(item.get("place")),
        source_id=rid,
        flags=("automatic",),
        aliases=(f"bmkg-rt-{rid}",) if rid else (),
    )
