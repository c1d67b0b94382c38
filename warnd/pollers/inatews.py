"""BMKG InaTEWS messages: datagempa.json (the latest message of any kind) and the
last30event / last30feltevent / last30tsunamievent XML histories.

Both carry the same `info` (notes/feeds.md §2): a felt quake, an M>5 quake, or a tsunami
warning stage PD-1 (first), PD-2 (update), PD-3.x (tsunami observed at tide gauges) and PD-4
(ended). The traps handled here:

- `point` is lon,lat; the lettered latitude/longitude text decides;
- every message has a new eventid, and PD-2 revises the quake itself (M7.0 -> M7.7, 0.08 deg):
  a tsunami event's identity is the quake (origin time and epicentre), its state the stage;
- exercise messages (status TES, "iowave_" ids, "TES " headlines) come through the production
  endpoints and look identical otherwise: they become exercise events with ids of their own;
- obsarea latitude/longitude are swapped in some messages (PD-3.1, PD-3.2), and wzarea entries
  are duplicated verbatim (both in inatews_areas);
- the headline repeats the quake ("Gempa Mag:7.7, 15-Agu-26 04:58:24 WIB, Lok:8.41 LS, 121.39 BT
  (...), Kedlmn:15 Km"): a message whose headline disagrees with its own fields is rejected, as
  is one whose point disagrees with its lettered latitude/longitude;
- the XML files claim the CAP 1.2 namespace but are not CAP: they are read as plain XML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from warnd.errors import FeedError
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Reason, Rejected, Source, Status
from warnd.pollers.bmkg_base import (
    COORD_AGREEMENT_DEG,
    TIME_AGREEMENT_S,
    coordinates,
    event_time,
    felt_list,
    lettered,
    quake_id,
    same_quake,
    tsunami_potential,
)
from warnd.pollers.common import (
    ZONES,
    ItemError,
    clean,
    not_future,
    number_in,
    quake_depth,
    quake_magnitude,
    web_link,
)
from warnd.pollers.document import load_json, load_xml, local_name, sniff
from warnd.pollers.inatews_areas import observations, top_level, warning_zones

FORMAT = "bmkg-inatews"

_STAGE = re.compile(r"\bPD\s*-?\s*(\d(?:\.\d+)?)", re.IGNORECASE)
_SENT = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?\s*(WIB|WITA|WIT|UTC|Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_TIMESENT = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(WIB|WITA|WIT|UTC)?$")
_EVENTID = re.compile(r"(\d{14})")


def parse(data: bytes, src: Source) -> ParseResult:
    kind = sniff(data)
    if kind == "json":
        alert, infos = _json_alert(load_json(data, src.feed), src.feed)
    elif kind == "xml":
        alert, infos = _xml_alert(load_xml(data, src.feed), src.feed)
    else:
        raise FeedError(src.feed, "neither JSON nor XML")
    status = _status(alert.get("status"))
    events: list[HazardEvent] = []
    rejected: list[Rejected] = []
    for index, info in enumerate(infos):
        label = f"info[{index}]" if len(infos) > 1 else "info"
        try:
            events.append(message(alert, info, status, src))
        except ItemError as e:
            rejected.append(Rejected(src.feed, _label(label, info), e.field, e.reason, str(e), e.event_id))
    return ParseResult(tuple(latest_per_event(events)), tuple(rejected))


def _label(label: str, info: dict[str, Any]) -> str:
    eid = info.get("eventid")
    return f"{label} (eventid {eid})" if isinstance(eid, str) and eid else label


def _json_alert(doc: Any, feed: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(doc, dict):
        raise FeedError(feed, "JSON root is not an object")
    info = doc.get("info")
    if isinstance(info, dict):
        infos = [info]
    elif isinstance(info, list):
        infos = [i if isinstance(i, dict) else {} for i in info]
    else:
        raise FeedError(feed, "no InaTEWS info object")
    return doc, [_flat_json(i) for i in infos]


def _flat_json(info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in info.items():
        key = str(k).lower()
        if key == "point" and isinstance(v, dict):
            out["coordinates"] = v.get("coordinates")
        elif key in ("wzarea", "obsarea"):
            out[key] = v if isinstance(v, list) else [v]
        else:
            out[key] = v
    return out


def _xml_alert(root: Element, feed: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if local_name(root.tag) != "alert":
        raise FeedError(feed, f"root element is <{local_name(root.tag)}>, expected an InaTEWS <alert>")
    alert: dict[str, Any] = {}
    infos: list[dict[str, Any]] = []
    for el in root:
        name = local_name(el.tag).lower()
        if name == "info":
            infos.append(_flat_xml(el))
        elif el.text:
            alert[name] = el.text
    if not infos:
        raise FeedError(feed, "the alert holds no <info>")
    if not any("subject" in i or "eventid" in i for i in infos):
        raise FeedError(feed, "not an InaTEWS message (no subject or eventid in any <info>)")
    return alert, infos


def _flat_xml(info: Element) -> dict[str, Any]:
    out: dict[str, Any] = {"wzarea": [], "obsarea": []}
    for child in info:
        name = local_name(child.tag).lower()
        if name == "point":
            c = next((x for x in child if local_name(x.tag).lower() == "coordinates"), None)
            out["coordinates"] = c.text if c is not None else None
        elif name in ("wzarea", "obsarea"):
            out[name].append({local_name(x.tag).lower(): x.text or "" for x in child})
        else:
            out[name] = child.text
    return out


def _status(raw: object) -> Status:
    s = str(raw or "").strip().lower()
    if s in ("actual", ""):
        return Status.ACTUAL
    if s in ("test", "system", "draft"):
        return Status.TEST
    # "TES" is how InaTEWS marks an exercise; anything unknown is treated as not actual, never
    # the other way round.
    return Status.EXERCISE


def message(alert: dict[str, Any], info: dict[str, Any], status: Status, src: Source) -> HazardEvent:
    """One InaTEWS info block as an event."""
    item = {
        "tanggal": _text(info, "date") or "",
        "jam": _text(info, "time") or "",
        "coordinates": _text(info, "coordinates") or "",
        "lintang": _text(info, "latitude") or "",
        "bujur": _text(info, "longitude") or "",
    }
    if not item["tanggal"]:
        raise ItemError("date", Reason.MISSING_FIELD, "date is missing")
    subject = clean(_text(info, "subject")) or ""
    headline = clean(_text(info, "headline"))
    eventid = clean(_text(info, "eventid"))
    if (eventid and eventid.lower().startswith("iowave")) or (headline or "").upper().startswith("TES "):
        status = Status.EXERCISE
    stage_m = _STAGE.search(subject)
    is_tsunami = stage_m is not None or "tsunami" in subject.lower()
    suffix = "" if status is Status.ACTUAL else f"-{status.value}"
    t = not_future(event_time(item), src.now, "date")
    event_id = ("bmkg-tsunami-" + t.strftime("%Y%m%dT%H%M%SZ") if is_tsunami else quake_id(t)) + suffix
    try:
        lat, lon = coordinates(item)
        mag = quake_magnitude(number_in(_text(info, "magnitude"), "magnitude", required=True), "magnitude")
        depth = quake_depth(number_in(_text(info, "depth"), "depth", required=False), "depth")
        _check_headline(headline, t, lat, lon, mag, depth)
    except ItemError as e:
        e.event_id = e.event_id or event_id
        raise
    zones = warning_zones(info.get("wzarea"))
    stage = f"PD-{stage_m.group(1)}" if stage_m else None
    ended = stage == "PD-4" or "berakhir" in (headline or "").lower()
    sent = _sent(alert, info, eventid)
    return HazardEvent(
        id=event_id,
        feed=src.feed,
        feed_format=FORMAT,
        hazard=Hazard.TSUNAMI if is_tsunami else Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT if stage in (None, "PD-1") else MsgType.UPDATE,
        status=status,
        time=t,
        lat=lat,
        lon=lon,
        magnitude=mag,
        depth_km=depth,
        tsunami=True if is_tsunami else tsunami_potential(_text(info, "potential")),
        felt=felt_list(_text(info, "felt")),
        level=None if ended else top_level(zones),
        headline=headline,
        description=clean(_text(info, "description")),
        place=clean(_text(info, "area")),
        source_id=eventid,
        event_name=clean(_text(info, "event")),
        stage=stage,
        zones=zones,
        observations=observations(info.get("obsarea"), lat, lon),
        ended=ended,
        sent=sent,
        aliases=(f"inatews-{eventid}{suffix}",) if eventid else (),
        instruction=clean(_text(info, "instruction")),
        web=web_link(_text(info, "shakemap"), src.url),
    )


_H_MAG = re.compile(r"\bMag:\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_H_TIME = re.compile(r"\b(\d{1,2}-[A-Za-z]{3}-\d{2,4})\s+(\d{1,2}:\d{2}:\d{2}\s*(?:WIB|WITA|WIT))\b")
_H_LOK = re.compile(r"\bLok:\s*([\d.]+\s*L[SU])\s*,\s*([\d.]+\s*B[TB])\b", re.IGNORECASE)
_H_DEPTH = re.compile(r"\bKedlmn:\s*(\d+(?:\.\d+)?)\s*Km\b", re.IGNORECASE)
# A headline's magnitude is the magnitude written again with one decimal: half a tenth is the
# most a rounding of it can differ. The same bounds as the fields for the rest: time
# (bmkg_base.TIME_AGREEMENT_S), position (bmkg_base.COORD_AGREEMENT_DEG), depth half a kilometre (BMKG
# writes whole kilometres). Every real headline agrees exactly (feeds/samples/bmkg-inatews, the
# Nagekeo sequence).
_H_MAG_SLACK = 0.05 + 1e-9
_H_DEPTH_SLACK = 0.5


def _check_headline(headline: str | None, t: datetime, lat: float, lon: float, mag: float, depth: float | None) -> None:
    """The quake as the headline repeats it must be the quake of the fields. Only what the
    headline holds is compared: PD-3 headlines give the magnitude alone, PD-4 no position."""
    if not headline:
        return
    m = _H_MAG.search(headline)
    if m and abs(float(m.group(1)) - mag) > _H_MAG_SLACK:
        raise ItemError("headline", Reason.INCONSISTENT, f"headline Mag:{m.group(1)} disagrees with magnitude {mag:g}")
    m = _H_TIME.search(headline)
    if m:
        try:
            said = event_time({"tanggal": m.group(1), "jam": m.group(2)})
        except ItemError:
            said = None
        if said is not None and abs((said - t).total_seconds()) > TIME_AGREEMENT_S:
            raise ItemError(
                "headline",
                Reason.INCONSISTENT,
                f"headline time {m.group(1)} {m.group(2)} disagrees with date/time ({t.isoformat()} UTC)",
            )
    m = _H_LOK.search(headline)
    if m:
        at = lettered({"lintang": m.group(1), "bujur": m.group(2)})
        slack = COORD_AGREEMENT_DEG + 1e-9
        if at is not None and (abs(at[0] - lat) > slack or abs(at[1] - lon) > slack):
            raise ItemError(
                "headline",
                Reason.INCONSISTENT,
                f"headline Lok:{m.group(1)}, {m.group(2)} disagrees with the position {lat:g},{lon:g}",
            )
    m = _H_DEPTH.search(headline)
    if m and depth is not None and abs(float(m.group(1)) - depth) > _H_DEPTH_SLACK:
        raise ItemError(
            "headline", Reason.INCONSISTENT, f"headline Kedlmn:{m.group(1)} Km disagrees with depth {depth:g} km"
        )


def _text(info: dict[str, Any], key: str) -> str | None:
    v = info.get(key)
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return None


def _sent(alert: dict[str, Any], info: dict[str, Any], eventid: str | None) -> datetime | None:
    # The info's own timesent first: a history file's <sent> is the file's, shared by every info.
    for raw, pattern in ((info.get("timesent"), _TIMESENT), (alert.get("sent"), _SENT)):
        if not isinstance(raw, str):
            continue
        m = pattern.match(raw.strip())
        if not m:
            continue
        g = m.groups()
        y, mo, d = (int(g[0]), int(g[1]), int(g[2])) if pattern is _SENT else (int(g[2]), int(g[1]), int(g[0]))
        try:
            return datetime(y, mo, d, int(g[3]), int(g[4]), int(g[5] or 0), tzinfo=_zone(g[6])).astimezone(UTC)
        except ValueError:
            continue
    # A tsunami message's eventid is its issue time in WIB.
    m = _EVENTID.search(eventid or "")
    if m:
        try:
            return datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=ZONES["WIB"]).astimezone(UTC)
        except ValueError:
            return None
    return None


def _zone(text: str | None) -> Any:
    if not text:
        return ZONES["WIB"]
    t = text.upper()
    if t in ZONES:
        return ZONES[t]
    return datetime.strptime(t.replace(":", ""), "%z").tzinfo


def latest_per_event(events: list[HazardEvent]) -> Iterator[HazardEvent]:
    """The newest message per event: a history file lists every stage of a warning, and only
    the last one is the warning's state."""
    groups: list[list[HazardEvent]] = []
    for ev in events:
        for g in groups:
            if g[0].hazard is ev.hazard and g[0].status is ev.status and same_quake(g[0], ev):
                g.append(ev)
                break
        else:
            groups.append([ev])
    for g in groups:
        yield max(g, key=lambda e: (e.sent or e.time, _stage_rank(e.stage)))


def _stage_rank(stage: str | None) -> float:
    m = _STAGE.search(stage or "")
    return float(m.group(1)) if m else 0.0
