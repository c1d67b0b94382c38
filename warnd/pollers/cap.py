"""CAP 1.2 (and 1.1) alerts, single or behind an index feed.

- A single `<alert>`: one event per alert. Its identity is (sender, identifier); an Update or
  Cancel names the alerts it replaces in `<references>` ("sender,identifier,sent" triples), and
  the ledger applies it to them. A Cancel may carry no `<info>` at all.
- Several `<info>` blocks are translations or parts of one alert: the Indonesian ones are
  read (then English, then whatever comes first); their areas are joined and the worst
  severity kept.
- Areas: `<polygon>` and `<circle>` are "lat,lon" (CAP order) and become a GeoJSON geometry
  in lon,lat; `<geocode>`s are kept by name in the area description.
- Index feeds: an RSS 2.0 or Atom entry that embeds `cap:` elements (NWS, MeteoAlarm) is read
  as an alert; one that only links to the alert (BMKG nowcast RSS) is returned as a link for
  the poller to fetch.
- `expires` is honoured: an alert whose every info has expired is rejected as expired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.common import ItemError, check_latlon, clean, iso_time, web_link
from warnd.pollers.document import load_xml, local_name
from warnd.pollers.feedxml import entries, is_feed, link, rfc822

FORMAT = "cap"

_CAP_NS = "urn:oasis:names:tc:emergency:cap:"
_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_MSG = {"alert": MsgType.ALERT, "update": MsgType.UPDATE, "cancel": MsgType.CANCEL}
_STATUS = {"actual": Status.ACTUAL, "exercise": Status.EXERCISE}
_LANG_ORDER = ("id", "in", "en")
_CIRCLE_SIDES = 32


@dataclass
class Info:
    fields: dict[str, str] = field(default_factory=dict)
    polygons: list[str] = field(default_factory=list)
    circles: list[str] = field(default_factory=list)
    geocodes: list[tuple[str, str]] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    responses: list[str] = field(default_factory=list)
    area_desc: list[str] = field(default_factory=list)


@dataclass
class Alert:
    fields: dict[str, str]
    infos: list[Info]


def parse(data: bytes, src: Source) -> ParseResult:
    root = load_xml(data, src.feed)
    name = local_name(root.tag)
    if name == "alert":
        if not root.tag.startswith("{" + _CAP_NS):
            raise FeedError(src.feed, "an <alert> outside the CAP namespace")
        alert = _alert(root)
        try:
            return ParseResult((event(alert, src),))
        except ItemError as e:
            return ParseResult((), (Rejected(src.feed, _label(alert), e.field, e.reason, str(e)),))
    if is_feed(root):
        return _index(root, src)
    raise FeedError(src.feed, f"root element is <{name}>, expected a CAP <alert> or an RSS/Atom index")


def _label(alert: Alert) -> str:
    return alert.fields.get("identifier") or "alert"


def _alert(root: Element) -> Alert:
    fields: dict[str, str] = {}
    infos: list[Info] = []
    for el in root:
        name = local_name(el.tag)
        if name == "info":
            infos.append(_info(el))
        elif name == "references":
            fields[name] = " ".join((el.text or "").split())
        elif el.text and el.text.strip():
            fields[name] = el.text.strip()
    return Alert(fields, infos)


def _pairs(el: Element) -> list[tuple[str, str]]:
    """<valueName>/<value> pairs, in order (NWS puts several in one element)."""
    out: list[tuple[str, str]] = []
    name = ""
    for c in el:
        tag = local_name(c.tag)
        if tag == "valueName":
            name = (c.text or "").strip()
        elif tag == "value":
            out.append((name, (c.text or "").strip()))
    return out


def _info(el: Element) -> Info:
    info = Info()
    for c in el:
        name = local_name(c.tag)
        if name == "area":
            for a in c:
                _area_part(info, local_name(a.tag), a)
        elif name == "parameter":
            info.parameters.update(_pairs(c))
        elif name == "responseType":
            info.responses.append((c.text or "").strip())
        elif name == "eventCode":
            continue
        elif c.text and c.text.strip():
            info.fields[name] = c.text.strip()
    return info


def _area_part(info: Info, name: str, el: Element) -> None:
    if name == "polygon" and el.text and el.text.strip():
        info.polygons.append(el.text)
    elif name == "circle" and el.text and el.text.strip():
        info.circles.append(el.text)
    elif name == "geocode":
        info.geocodes.extend(_pairs(el))
    elif name == "areaDesc" and el.text and el.text.strip():
        info.area_desc.append(" ".join(el.text.split()))


# --- index feeds ----------------------------------------------------------------------------


def _index(root: Element, src: Source) -> ParseResult:
    events: list[HazardEvent] = []
    rejected: list[Rejected] = []
    links: list[str] = []
    for index, entry in enumerate(entries(root)):
        embedded = next((c for c in entry.iter() if local_name(c.tag) == "alert" and _CAP_NS in c.tag), None)
        if embedded is not None:
            alert = _alert(embedded)
        elif any(_CAP_NS in c.tag for c in entry):
            alert = _entry_alert(entry)
        else:
            target = _cap_link(entry)
            if target:
                links.append(target)
            else:
                rejected.append(
                    Rejected(src.feed, f"entry[{index}]", "link", Reason.MISSING_FIELD, "no CAP content and no link")
                )
            continue
        try:
            events.append(event(alert, src))
        except ItemError as e:
            rejected.append(Rejected(src.feed, f"entry[{index}] ({_label(alert)})", e.field, e.reason, str(e)))
    if not events and not links and not rejected:
        raise FeedError(src.feed, "the index holds no entry")
    return ParseResult(tuple(events), tuple(rejected), tuple(dict.fromkeys(links)))


def _cap_link(entry: Element) -> str | None:
    for c in entry:
        if local_name(c.tag) == "link" and c.get("type") == "application/cap+xml" and c.get("href"):
            return c.get("href")
    return link(entry)


def _entry_alert(entry: Element) -> Alert:
    """An Atom/RSS entry carrying cap: elements inline."""
    info = Info()
    fields: dict[str, str] = {}
    plain: dict[str, str] = {}
    for c in entry:
        name = local_name(c.tag)
        if _CAP_NS not in c.tag:
            if c.text and c.text.strip():
                plain[name] = c.text.strip()
            continue
        if name in ("polygon", "circle", "geocode", "areaDesc"):
            _area_part(info, name, c)
        elif name == "parameter":
            info.parameters.update(_pairs(c))
        elif name in ("identifier", "sender", "sent", "status", "msgType", "message_type", "scope", "references"):
            if c.text and c.text.strip():
                fields["msgType" if name == "message_type" else name] = c.text.strip()
        elif c.text and c.text.strip():
            info.fields[name] = c.text.strip()
    fields.setdefault("identifier", plain.get("id") or plain.get("guid") or "")
    fields.setdefault("sent", plain.get("published") or plain.get("updated") or plain.get("pubDate") or "")
    info.fields.setdefault("headline", plain.get("title", ""))
    info.fields.setdefault("description", plain.get("summary") or plain.get("description") or "")
    return Alert(fields, [info])


# --- one alert as an event ------------------------------------------------------------------


def event(alert: Alert, src: Source) -> HazardEvent:
    f = alert.fields
    identifier = f.get("identifier", "").strip()
    if not identifier:
        raise ItemError("identifier", Reason.MISSING_FIELD, "identifier is missing")
    sender = f.get("sender", "").strip()
    sent = _time(f.get("sent"), "sent")
    msg = _MSG.get(f.get("msgType", "").strip().lower())
    if msg is None:
        raise ItemError("msgType", Reason.UNSUPPORTED, f"msgType {f.get('msgType')!r} is not Alert, Update or Cancel")
    status = _STATUS.get(f.get("status", "").strip().lower(), Status.TEST)
    references = tuple(_refs(f.get("references", "")))
    if msg is not MsgType.ALERT and not references and msg is MsgType.CANCEL:
        raise ItemError("references", Reason.MISSING_FIELD, "a Cancel without references cancels nothing")
    infos = _chosen(alert.infos)
    if not infos:
        if msg is not MsgType.CANCEL:
            raise ItemError("info", Reason.MISSING_FIELD, "an Alert or Update without <info>")
        return HazardEvent(
            id=cap_id(sender, identifier),
            feed=src.feed,
            feed_format=FORMAT,
            hazard=Hazard.OTHER,
            msg_type=msg,
            status=status,
            time=sent,
            source_id=identifier,
            sent=sent,
            references=references,
        )
    first = infos[0].fields
    expires = [t for t in (_time_opt(i.fields.get("expires"), "expires") for i in infos) if t is not None]
    latest = max(expires) if expires else None
    if latest is not None and latest <= src.now and msg is not MsgType.CANCEL:
        raise ItemError("expires", Reason.EXPIRED, f"expired at {latest.isoformat()}")
    start = _time_opt(first.get("onset"), "onset") or _time_opt(first.get("effective"), "effective") or sent
    geometry = _geometry(infos)
    lat, lon = _centre(geometry)
    params = {k: v for i in infos for k, v in i.parameters.items()}
    magnitude = _float(params.get("EventPreliminaryMagnitude") or params.get("magnitude"))
    if lat is None:
        lat, lon = _param_point(params.get("EventLatLon"))
    severities = [i.fields.get("severity", "Unknown") for i in infos]
    severity = min(severities, key=lambda s: _SEVERITY.index(s) if s in _SEVERITY else len(_SEVERITY))
    places = [d for i in infos for d in i.area_desc]
    return HazardEvent(
        id=cap_id(sender, identifier),
        feed=src.feed,
        feed_format=FORMAT,
        hazard=_hazard(first.get("category", ""), first.get("event", "")),
        msg_type=msg,
        status=status,
        time=start,
        lat=lat,
        lon=lon,
        magnitude=magnitude if magnitude is not None and 0 < magnitude < 10 else None,
        severity=severity.lower(),
        urgency=(first.get("urgency") or "").lower() or None,
        certainty=(first.get("certainty") or "").lower() or None,
        headline=clean(first.get("headline")),
        description=clean(first.get("description")),
        place="; ".join(dict.fromkeys(places)) or None,
        area=geometry,
        source_id=identifier,
        event_name=clean(first.get("event")),
        ended=any(r.lower() == "allclear" for i in infos for r in i.responses)
        or any(w in (first.get("event") or "").lower() for w in ("cancellation", "all clear", "berakhir")),
        sent=sent,
        expires=latest,
        references=references,
        instruction=clean(first.get("instruction")),
        web=web_link(first.get("web")),
    )


def cap_id(sender: str, identifier: str) -> str:
    return f"cap-{sender}/{identifier}" if sender else f"cap-{identifier}"


def _refs(text: str) -> list[str]:
    out: list[str] = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) >= 2:
            out.append(cap_id(parts[0], parts[1]))
    return out


def _chosen(infos: list[Info]) -> list[Info]:
    if not infos:
        return []
    langs = [(i.fields.get("language") or "en-US").lower() for i in infos]
    for want in _LANG_ORDER:
        picked = [i for i, lang in zip(infos, langs, strict=True) if lang.split("-")[0] == want]
        if picked:
            return picked
    first = langs[0]
    return [i for i, lang in zip(infos, langs, strict=True) if lang == first]


def _hazard(category: str, event_name: str) -> Hazard:
    text = f"{category} {event_name}".lower()
    if "tsunami" in text:
        return Hazard.TSUNAMI
    if "earthquake" in text or "gempa" in text:
        return Hazard.EARTHQUAKE
    if "flood" in text or "banjir" in text:
        return Hazard.FLOOD
    if "met" in category.lower().split():
        return Hazard.WEATHER
    return Hazard.OTHER


def _time(raw: str | None, field: str) -> datetime:
    if raw and "," in raw and not raw.strip()[:4].isdigit():
        t = rfc822(raw)
        if t is not None:
            return t
    return iso_time(raw, field)


def _time_opt(raw: str | None, field: str) -> datetime | None:
    if not raw or not raw.strip():
        return None
    return _time(raw, field)


def _float(raw: str | None) -> float | None:
    try:
        v = float((raw or "").split()[0])
    except (ValueError, IndexError):
        return None
    return v if math.isfinite(v) else None


def _point(text: str, field: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ItemError(field, Reason.MALFORMED, f"{text!r} is not 'lat,lon'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ItemError(field, Reason.MALFORMED, f"{text!r} is not 'lat,lon'") from None
    return check_latlon(lat, lon, field)


def _ring(text: str) -> list[list[float]]:
    ring = []
    for pair in text.split():
        lat, lon = _point(pair, "polygon")
        ring.append([lon, lat])
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ItemError("polygon", Reason.MALFORMED, "a CAP polygon needs 4 or more points, first equal to last")
    return ring


def _circle(text: str) -> list[list[float]]:
    parts = text.split()
    if len(parts) != 2:
        raise ItemError("circle", Reason.MALFORMED, f"{text!r} is not 'lat,lon radius'")
    lat, lon = _point(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError:
        raise ItemError("circle", Reason.MALFORMED, f"radius {parts[1]!r} is not a number") from None
    if not 0 <= radius < 5000:
        raise ItemError("circle", Reason.OUT_OF_RANGE, f"radius {radius} km outside [0, 5000)")
    radius = max(radius, 0.1)
    dlat = radius / 111.32
    dlon = radius / (111.32 * max(math.cos(math.radians(lat)), 0.01))
    ring = [
        [
            lon + dlon * math.cos(2 * math.pi * k / _CIRCLE_SIDES),
            lat + dlat * math.sin(2 * math.pi * k / _CIRCLE_SIDES),
        ]
        for k in range(_CIRCLE_SIDES)
    ]
    return [*ring, ring[0]]


def _geometry(infos: list[Info]) -> dict[str, Any] | None:
    polygons = [[_ring(p)] for i in infos for p in i.polygons] + [[_circle(c)] for i in infos for c in i.circles]
    if not polygons:
        return None
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def _centre(geometry: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if geometry is None:
        return None, None
    rings = [geometry["coordinates"][0]] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    xs = [pt[0] for r in rings for pt in r]
    ys = [pt[1] for r in rings for pt in r]
    return round((min(ys) + max(ys)) / 2, 4), round((min(xs) + max(xs)) / 2, 4)


def _param_point(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    try:
        return _point(text.split()[0], "EventLatLon")
    except (ItemError, IndexError):
        return None, None
