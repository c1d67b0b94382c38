"""BMKG TEWS earthquake documents: autogempa, gempaterkini, gempadirasakan.

Reads the current JSON and XML (data.bmkg.go.id/DataMKG/TEWS/) and the legacy XML
(data.bmkg.go.id/*.xml, until about 2020). The traps this module exists for (notes/feeds.md §1):

- coordinate order differs by era (current lat,lon; legacy autogempa/gempaterkini lon,lat): the
  lettered Lintang/Bujur decides (bmkg_base.coordinates);
- every value is a string with units ("10 km", "6.3 SR");
- `DateTime` (UTC) and Tanggal+Jam (WIB) must agree (bmkg_base.event_time);
- "Potensi" on a felt event is a sentence about forwarding, not a tsunami statement;
- lists hold duplicate and preliminary copies of one quake and are not sorted
  (bmkg_base.collapse_copies).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.bmkg_base import collapse_copies, coordinates, event_time, felt_list, quake_id, tsunami_potential
from warnd.pollers.common import FUTURE_SLACK, ItemError, number_in, quake_depth, quake_magnitude, web_link
from warnd.pollers.document import load_json, load_xml, local_name, sniff

FORMAT = "bmkg-tews"


def parse(data: bytes, src: Source) -> ParseResult:
    """Every gempa item of a TEWS document, as events; bad items come back as Rejected."""
    feed, now = src.feed, src.now
    kind = sniff(data)
    if kind == "json":
        items = _json_items(load_json(data, feed), feed)
    elif kind == "xml":
        items = _xml_items(load_xml(data, feed), feed)
    else:
        raise FeedError(feed, "neither JSON nor XML")

    events: list[HazardEvent] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        label = f"gempa[{index}]"
        try:
            events.append(_event(item, feed, now, src.url))
        except ItemError as e:
            rejected.append(Rejected(feed, label, e.field, e.reason, str(e), e.event_id))
    kept, dropped = collapse_copies(events)
    rejected.extend(dropped)
    return ParseResult(tuple(kept), tuple(rejected))


def _json_items(doc: Any, feed: str) -> list[dict[str, str]]:
    if not isinstance(doc, dict):
        raise FeedError(feed, "JSON root is not an object")
    info = doc.get("Infogempa")
    if not isinstance(info, dict):
        raise FeedError(feed, "no Infogempa object")
    raw = info.get("gempa", info.get("Gempa"))
    # Converters collapse a one-item list to an object; accept both.
    seq = raw if isinstance(raw, list) else [raw] if raw is not None else []
    if not seq:
        raise FeedError(feed, "Infogempa holds no gempa item")
    out: list[dict[str, str]] = []
    for it in seq:
        if not isinstance(it, dict):
            out.append({})
            continue
        flat: dict[str, str] = {}
        for k, v in it.items():
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                flat[str(k).lower()] = str(v)
            elif isinstance(v, dict) and isinstance(v.get("coordinates"), str):
                flat["coordinates"] = v["coordinates"]
        out.append(flat)
    return out


def _xml_items(root: Any, feed: str) -> list[dict[str, str]]:
    if local_name(root.tag).lower() != "infogempa":
        raise FeedError(feed, f"root element is <{local_name(root.tag)}>, expected <Infogempa>")
    out: list[dict[str, str]] = []
    for el in root:
        if local_name(el.tag).lower() != "gempa":
            continue
        flat: dict[str, str] = {}
        for child in el:
            name = local_name(child.tag).lower()
            if name == "point":
                coords = child.find("coordinates")
                if coords is not None and coords.text:
                    flat["coordinates"] = coords.text
            elif child.text is not None:
                flat[name] = child.text
        out.append(flat)
    if not out:
        raise FeedError(feed, "Infogempa holds no gempa item")
    return out


def _event(item: dict[str, str], feed: str, now: datetime, url: str = "") -> HazardEvent:
    if not item:
        raise ItemError("gempa", Reason.MALFORMED, "item is empty or not an object")
    t = event_time(item)
    if t > now + FUTURE_SLACK:
        raise ItemError("Tanggal", Reason.FUTURE_TIME, f"origin time {t.isoformat()} is in the future")
    try:
        lat, lon = coordinates(item)
        mag = quake_magnitude(_number(item, "magnitude", required=True), "Magnitude")
        depth = quake_depth(_number(item, "kedalaman", required=False), "Kedalaman")
    except ItemError as e:
        # The origin time names the quake: the log line of the rejection can carry its id.
        e.event_id = e.event_id or quake_id(t)
        raise
    place = _first(item, "wilayah", "keterangan", "wilayah1")
    shakemap = item.get("shakemap", "").strip() or None
    return HazardEvent(
        id=quake_id(t),
        feed=feed,
        feed_format=FORMAT,
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=t,
        lat=lat,
        lon=lon,
        magnitude=mag,
        depth_km=depth,
        tsunami=tsunami_potential(item.get("potensi")),
        felt=felt_list(item.get("dirasakan")),
        place=" ".join(place.split()) if place else None,
        source_id=shakemap.split(".")[0] if shakemap else None,
        web=web_link(shakemap, url),
    )


def _first(item: dict[str, str], *keys: str) -> str | None:
    for k in keys:
        v = item.get(k)
        if v and v.strip():
            return v.strip()
    return None


def _number(item: dict[str, str], key: str, *, required: bool) -> float | None:
    return number_in(item.get(key), key.capitalize(), required=required)
