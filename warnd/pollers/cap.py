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
from xml.etree.ElementTree import Element

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.cap_areas import area_geometry, centre, param_point
from warnd.pollers.common import ItemError, clean, iso_time, web_link
from warnd.pollers.document import load_xml, local_name
from warnd.pollers.feedxml import entries, is_feed, link, rfc822

FORMAT = "cap"

_CAP_NS = "urn:oasis:names:tc:emergency:cap:"
_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_MSG = {"alert": MsgType.ALERT, "update": MsgType.UPDATE, "cancel": MsgType.CANCEL}
_STATUS = {"actual": Status.ACTUAL, "exercise": Status.EXERCISE}
_LANG_ORDER = ("id", "in", "en")


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
    geometry = area_geometry([p for i in infos for p in i.polygons], [c for i in infos for c in i.circles])
    lat, lon = centre(geometry)
    params = {k: v for i in infos for k, v in i.parameters.items()}
    magnitude = _float(params.get("EventPreliminaryMagnitude") or params.get("magnitude"))
    if lat is None:
        lat, lon = param_point(params.get("EventLatLon"))
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
