"""Each warning as a CAP 1.2 alert, valid against the OASIS schema, for partners and the per-account
CAP feed.

- identifier: `warnd.<warning id>`; an Update or Cancel lists every earlier alert of the same
  account about the same event in <references> (sender,identifier,sent), so a consumer can
  chain them whatever it saw first.
- sent/expires carry an explicit offset (+07:00, WIB): the schema rejects "Z".
- one <info> in the account's language; category, urgency and certainty come from the source
  when it had them (a CAP warning passed on), otherwise from the hazard.
- <area>: the regions as Kemendagri geocodes, the source's polygon if it had one, and a point
  event's epicentre as a circle of radius 0 (latitude first, as CAP writes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree as ET  # building only; nothing is parsed here

from warnd.model import Status, Warning, WarningKind

NS = "urn:oasis:names:tc:emergency:cap:1.2"
WIB = timezone(timedelta(hours=7))

_CATEGORY = {"earthquake": "Geo", "tsunami": "Geo", "flood": "Met", "weather": "Met"}
_EVENT = {
    "id": {
        "earthquake": "Gempabumi",
        "tsunami": "Peringatan Dini Tsunami",
        "flood": "Banjir",
        "weather": "Cuaca Ekstrem",
    },
    "en": {"earthquake": "Earthquake", "tsunami": "Tsunami Warning", "flood": "Flood", "weather": "Severe Weather"},
}
_LANGUAGE = {"id": "id-ID", "en": "en-US"}
_STATUS = {Status.ACTUAL: "Actual", Status.EXERCISE: "Exercise", Status.TEST: "Test"}
_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")


def identifier(warning_id: str) -> str:
    return f"warnd.{warning_id}"


def cap_time(t: datetime) -> str:
    return t.astimezone(WIB).replace(microsecond=0).isoformat()


def _pick(value: Any, allowed: Sequence[str], default: str) -> str:
    v = str(value or "").strip().capitalize()
    return v if v in allowed else default


def _msg_type(kind: WarningKind) -> str:
    if kind is WarningKind.NEW:
        return "Alert"
    if kind is WarningKind.CANCEL:
        return "Cancel"
    return "Update"


def render_cap(
    warning: Warning,
    event: dict[str, Any],
    earlier: Sequence[Warning],
    *,
    sender: str,
    sender_name: str,
) -> str:
    ET.register_namespace("", NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    alert = ET.Element(f"{{{NS}}}alert")
    sub(alert, "identifier", identifier(warning.id))
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(warning.created_at))
    sub(alert, "status", _STATUS.get(warning.status, "Actual"))
    sub(alert, "msgType", _msg_type(warning.kind))
    sub(alert, "source", f"warnd rule {warning.rule}; {event.get('feed_format') or 'feed'} {event.get('id') or ''}")
    sub(alert, "scope", "Public")
    if warning.status is Status.EXERCISE:
        sub(alert, "note", "LATIHAN / EXERCISE")
    refs = [w for w in earlier if w.id != warning.id]
    if refs and warning.kind is not WarningKind.NEW:
        sub(alert, "references", " ".join(f"{sender},{identifier(w.id)},{cap_time(w.created_at)}" for w in refs))
    sub(alert, "incidents", str(warning.event_id).replace(" ", "_").replace(",", "_"))

    hazard = str(event.get("hazard") or "other")
    info = sub(alert, "info")
    sub(info, "language", _LANGUAGE.get(warning.lang, warning.lang))
    sub(info, "category", _CATEGORY.get(hazard, "Other"))
    sub(info, "event", str(event.get("event_name") or _EVENT.get(warning.lang, _EVENT["en"]).get(hazard, hazard)))
    if warning.kind is WarningKind.ALL_CLEAR:
        sub(info, "responseType", "AllClear")
    elif hazard == "tsunami" and warning.kind is not WarningKind.CANCEL:
        sub(info, "responseType", "Evacuate")
    past = warning.kind in (WarningKind.CANCEL, WarningKind.ALL_CLEAR)
    default_urgency = "Past" if past or hazard == "earthquake" else "Immediate" if hazard == "tsunami" else "Expected"
    sub(info, "urgency", "Past" if past else _pick(event.get("urgency"), _URGENCY, default_urgency))
    sub(info, "severity", _pick(warning.severity or event.get("severity"), _SEVERITY, "Unknown"))
    sub(info, "certainty", _pick(event.get("certainty"), _CERTAINTY, "Observed"))
    sub(info, "effective", cap_time(warning.created_at))
    if event.get("expires"):
        sub(info, "expires", cap_time(datetime.fromisoformat(str(event["expires"]).replace("Z", "+00:00"))))
    sub(info, "senderName", sender_name)
    sub(info, "headline", warning.text.split("\n", 1)[0][:160])
    sub(info, "description", warning.text)
    for name, key in (("magnitude", "magnitude"), ("depth_km", "depth_km"), ("level", "level")):
        value = event.get(key) if key != "level" else (warning.level or event.get("level"))
        if value not in (None, ""):
            p = sub(info, "parameter")
            sub(p, "valueName", name)
            sub(p, "value", str(value))

    area = sub(info, "area")
    names = [r.name for r in warning.regions] or [str(event.get("place") or "Indonesia")]
    sub(area, "areaDesc", ", ".join(names))
    for ring in _rings(event.get("area")):
        sub(area, "polygon", ring)
    lat, lon = event.get("lat"), event.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float) and not event.get("area"):
        sub(area, "circle", f"{lat:.4f},{lon:.4f} 0")
    for r in warning.regions:
        g = sub(area, "geocode")
        sub(g, "valueName", "KEMENDAGRI")
        sub(g, "value", r.code)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alert, encoding="unicode")


def _rings(geometry: Any) -> list[str]:
    """Outer rings of a GeoJSON Polygon/MultiPolygon as CAP polygons ("lat,lon lat,lon ...")."""
    if not isinstance(geometry, dict):
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    polygons: list[Any] = [coords] if kind == "Polygon" else list(coords or []) if kind == "MultiPolygon" else []
    out = []
    for poly in polygons or []:
        try:
            ring = [(float(p[1]), float(p[0])) for p in poly[0]]
        except (TypeError, ValueError, IndexError):
            continue
        if len(ring) < 3:
            continue
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        if len(ring) >= 4:
            out.append(" ".join(f"{la:.4f},{lo:.4f}" for la, lo in ring))
    return out
