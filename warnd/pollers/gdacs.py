"""GDACS RSS (www.gdacs.org/xml/rss.xml and the rss.aspx archive profile).

Identity is (eventtype, eventid): a new episode of a cyclone or flood updates the same event.
Files start with a UTF-8 BOM. `iscurrent` false means the event is over. An earthquake item names
the USGS event it was computed from (<gdacs:identifier id="neicid">): kept as an alias in USGS's
id form, so that the ledger knows GDACS's and USGS's reports as one quake by id.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.common import ItemError, check_latlon, clean, not_future, strict_number
from warnd.pollers.document import load_xml
from warnd.pollers.feedxml import child, entries, is_feed, rfc822, text

FORMAT = "gdacs"

_GDACS = "gdacs.org"
_HAZARDS = {
    "EQ": Hazard.EARTHQUAKE,
    "TS": Hazard.TSUNAMI,
    "TC": Hazard.WEATHER,
    "FL": Hazard.FLOOD,
}


def parse(data: bytes, src: Source) -> ParseResult:
    root = load_xml(data, src.feed)
    if not is_feed(root):
        raise FeedError(src.feed, "not an RSS feed")
    items = list(entries(root))
    if items and not any(child(i, "eventtype", _GDACS) is not None for i in items):
        raise FeedError(src.feed, "no item carries gdacs:eventtype: not a GDACS feed")
    events: dict[str, HazardEvent] = {}
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        guid = text(item, "guid")
        label = f"item[{index}]" + (f" ({guid})" if guid else "")
        try:
            ev = _event(item, src)
        except ItemError as e:
            rejected.append(Rejected(src.feed, label, e.field, e.reason, str(e)))
            continue
        old = events.get(ev.id)
        if old is not None:
            # The archive lists every episode: keep the latest.
            keep, drop = (ev, old) if (ev.sent or ev.time) >= (old.sent or old.time) else (old, ev)
            events[ev.id] = keep
            rejected.append(
                Rejected(src.feed, label, "eventid", Reason.DUPLICATE_ITEM, f"older episode of {drop.id} dropped")
            )
            continue
        events[ev.id] = ev
    return ParseResult(tuple(events.values()), tuple(rejected))


def _event(item: Element, src: Source) -> HazardEvent:
    etype = (text(item, "eventtype", _GDACS) or "").upper()
    eid = text(item, "eventid", _GDACS)
    if not etype or not eid:
        raise ItemError("gdacs:eventid", Reason.MISSING_FIELD, "gdacs:eventtype or gdacs:eventid missing")
    start = rfc822(text(item, "fromdate", _GDACS)) or rfc822(text(item, "pubDate"))
    if start is None:
        raise ItemError("gdacs:fromdate", Reason.MISSING_FIELD, "no readable fromdate or pubDate")
    not_future(start, src.now, "gdacs:fromdate")
    lat, lon = _point(item)
    severity = child(item, "severity", _GDACS)
    magnitude = None
    if etype == "EQ" and severity is not None:
        magnitude = strict_number(severity.get("value"), "gdacs:severity@value", required=False)
        if magnitude is not None and not 0 < magnitude < 10:
            raise ItemError("gdacs:severity", Reason.OUT_OF_RANGE, f"magnitude {magnitude} outside (0, 10)")
    current = (text(item, "iscurrent", _GDACS) or "true").lower()
    country = text(item, "country", _GDACS)
    name = text(item, "eventname", _GDACS)
    return HazardEvent(
        id=f"gdacs-{etype}{eid}",
        feed=src.feed,
        feed_format=FORMAT,
        hazard=_HAZARDS.get(etype, Hazard.OTHER),
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=start,
        lat=lat,
        lon=lon,
        magnitude=magnitude,
        level=(text(item, "alertlevel", _GDACS) or "").lower() or None,
        severity=clean(severity.text) if severity is not None else None,
        headline=clean(text(item, "title")),
        description=clean(text(item, "description")),
        place=", ".join(x for x in (name, country) if x) or None,
        source_id=f"{etype}{eid}",
        event_name=etype,
        ended=current == "false",
        sent=rfc822(text(item, "pubDate")),
        aliases=_usgs_ids(item) if etype == "EQ" else (),
    )


def _usgs_ids(item: Element) -> tuple[str, ...]:
    """The USGS id of the quake an EQ item was computed from, as the USGS parser writes it."""
    found = child(item, "identifiers", _GDACS)
    if found is None:
        return ()
    return tuple(f"usgs-{(i.text or '').strip()}" for i in found if i.get("id") == "neicid" and (i.text or "").strip())


def _point(item: Element) -> tuple[float | None, float | None]:
    georss = text(item, "point", "georss")
    if georss:
        parts = georss.replace(",", " ").split()
        if len(parts) == 2:
            lat = strict_number(parts[0], "georss:point", required=True)
            lon = strict_number(parts[1], "georss:point", required=True)
            assert lat is not None and lon is not None
            return check_latlon(lat, lon, "georss:point")
    point = child(item, "Point")
    if point is not None:
        lat = strict_number(text(point, "lat"), "geo:lat", required=True)
        lon = strict_number(text(point, "long"), "geo:long", required=True)
        assert lat is not None and lon is not None
        return check_latlon(lat, lon, "geo:Point")
    return None, None
