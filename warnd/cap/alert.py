"""Each warning as a CAP 1.2 alert, valid against the OASIS schema, for partners and the per-account
CAP feed.

- identifier: `warnd.<warning id>`; an Update or Cancel lists every earlier alert of the same
  account about the same event in <references> (sender,identifier,sent), so a consumer can
  chain them whatever it saw first.
- sent/effective/expires carry an explicit offset (+07:00, WIB): the schema rejects "Z".
- <source>: the feed catalogue's credit line for the event's feed, then the rule and feed id.
- two <info> blocks, id-ID then en-US. CAP 1.2 (3.2.2) lets blocks differ by language; both carry
  the same category, urgency, severity, certainty, times, parameters and area, so a consumer that
  reads one language targets exactly as one that reads the other. Only event, headline,
  description and instruction are in the block's language. The block of the account's language
  carries the account's post; the other a short text made from the event.
- severity/urgency/certainty: the tables in `grading` (TSUNAMI, FLOOD, QUAKE_*, ENDED, WEATHER), from
  the hazard and the warning's level.
- <expires>: the source's own when it gave one, else `grading.EXPIRES` after the warning.
- <area>: each warned region's outline (`warnd.geo.Outlines`, exterior rings only, simplified to
  fit `MAX_POINTS`), the source's own polygon when it had one, the Kemendagri geocodes, and for a
  point event that names no region the epicentre as a circle of radius 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree as ET  # building only; nothing is parsed here

from warnd.cap.grading import expires, grade, is_over
from warnd.geo import CAP_DECIMALS, HULL, OUTLINE_TOLERANCES, ZONES, Outlines, zone_name
from warnd.model import HazardEvent, Region, Status, Warning, WarningKind

NS = "urn:oasis:names:tc:emergency:cap:1.2"
WIB = timezone(timedelta(hours=7))

_CATEGORY = {"earthquake": "Geo", "tsunami": "Geo", "flood": "Met", "weather": "Met"}
# <event> per hazard and language: the hazard, not the source's word for its cause (InaTEWS
# tsunami documents say "Gempabumi").
EVENT = {
    "id": {
        "earthquake": "Gempabumi",
        "tsunami": "Peringatan Dini Tsunami",
        "flood": "Banjir",
        "weather": "Cuaca Ekstrem",
        "other": "Bencana",
    },
    "en": {
        "earthquake": "Earthquake",
        "tsunami": "Tsunami Warning",
        "flood": "Flood",
        "weather": "Severe Weather",
        "other": "Hazard",
    },
}
LANGUAGES = (("id", "id-ID"), ("en", "en-US"))
_STATUS = {Status.ACTUAL: "Actual", Status.EXERCISE: "Exercise", Status.TEST: "Test"}
# The polygons of one alert: at most this many points in all, both <info> blocks together (each
# carries the same area, so half each; about 17 kB of coordinates). Regions are given at the
# finest tolerance of `OUTLINE_TOLERANCES` at which all of them fit, then as convex hulls, then
# the first regions only (each region is still named by its geocode).
MAX_POINTS = 1000

# Standard instructions (the InaTEWS document's own per-level wording, made direct).
INSTRUCTION = {
    "awas": {
        "id": "AWAS: segera evakuasi menyeluruh. Jauhi pantai, menuju tempat tinggi atau ke pedalaman."
        " Ikuti arahan BPBD dan BMKG.",
        "en": "AWAS: full evacuation now. Leave the coast, go to high ground or inland. Follow BPBD and BMKG.",
    },
    "siaga": {
        "id": "SIAGA: segera evakuasi dari pantai ke tempat tinggi. Ikuti arahan BPBD dan BMKG.",
        "en": "SIAGA: evacuate away from the coast to high ground now. Follow BPBD and BMKG.",
    },
    "waspada": {
        "id": "WASPADA: jauhi pantai dan tepian sungai. Ikuti arahan BPBD dan BMKG.",
        "en": "WASPADA: stay away from beaches and riverbanks. Follow BPBD and BMKG.",
    },
}


def cap_time(t: datetime) -> str:
    return t.astimezone(WIB).replace(microsecond=0).isoformat()


def _msg_type(kind: WarningKind) -> str:
    if kind is WarningKind.NEW:
        return "Alert"
    if kind is WarningKind.CANCEL:
        return "Cancel"
    return "Update"


def region_rings(outlines: Outlines, codes: Sequence[str], budget: int) -> list[str]:
    """The regions' outlines within the point budget, finest first (see MAX_POINTS)."""
    if not codes:
        return []
    for tolerance in OUTLINE_TOLERANCES:
        total = 0
        for c in codes:
            # Stop counting once over: the regions after are not simplified at a tolerance unused.
            total += outlines.points(c, tolerance)
            if total > budget:
                break
        else:
            return [r for c in codes for r in outlines.rings(c, tolerance)]
    out: list[str] = []
    used = 0
    for c in codes:
        n = outlines.points(c, HULL)
        if used + n > budget:
            break
        out += outlines.rings(c, HULL)
        used += n
    return out


# The map's <resourceDesc>, by the <info> block's language, when no alt text is given (the alt
# text is Indonesian: the English block keeps its own words).
MAP_DESC = {"id": "Peta peringatan", "en": "Warning map"}


def map_url(base: str | None, warning: Warning) -> str | None:
    """Where a warning's map is published under `base` (config `maps.public_url`, the public
    listener's address from outside); None without one, and for a cancel or an all-clear, which
    get no map."""
    if base is None or warning.kind in (WarningKind.CANCEL, WarningKind.ALL_CLEAR):
        return None
    return f"{base}/maps/{warning.id}.png"


def render_cap(
    warning: Warning,
    event: HazardEvent,
    earlier: Sequence[Warning],
    *,
    attribution: str | None,
    sender: str,
    sender_name: str,
    outlines: Outlines | None = None,
    map_url: str | None = None,
    texts: Mapping[str, str] | None = None,
    map_alt: str | None = None,
) -> str:
    """`attribution`: the feed catalogue's credit line for the event's feed (None: no credit).
    `outlines`: the region set's outlines (None: regions are given by geocode only). `map_url`:
    where the warning's map is published, given in a <resource> of each <info> (None: none).
    `texts`: the warning's own words in other languages, by language ("en"), for the blocks
    of those languages (an operator's bulletin written in both); a language without one gets
    the short text made from the event. `map_alt`: the map's Indonesian alt text, the
    Indonesian block's <resourceDesc>."""

    # Plain tags under a default namespace declared on the root: the same document, without the
    # qualified-name bookkeeping that is most of ElementTree's serialising time.
    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, tag)
        if text is not None:
            el.text = text
        return el

    alert = ET.Element("alert", xmlns=NS)
    sub(alert, "identifier", warning.cap_identifier)
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(warning.created_at))
    sub(alert, "status", _STATUS.get(warning.status, "Actual"))
    sub(alert, "msgType", _msg_type(warning.kind))
    credit = (attribution or "").strip()
    origin = f"warnd rule {warning.rule}; {event.feed_format or 'feed'} {event.id or ''}"
    sub(alert, "source", f"{credit}; {origin}" if credit else origin)
    sub(alert, "scope", "Public")
    if warning.status is Status.EXERCISE:
        sub(alert, "note", "LATIHAN / EXERCISE")
    refs = [w for w in earlier if w.id != warning.id]
    if refs and warning.kind is not WarningKind.NEW:
        sub(alert, "references", " ".join(f"{sender},{w.cap_identifier},{cap_time(w.created_at)}" for w in refs))
    sub(alert, "incidents", str(warning.event_id).replace(" ", "_").replace(",", "_"))

    hazard = event.hazard.value
    g = grade(warning, event)
    ended = is_over(warning, event)
    level = (warning.level or event.level or "").lower()
    # The area is the same in both blocks; its polygons are made once.
    codes = [r.code for r in warning.regions]
    budget = MAX_POINTS // len(LANGUAGES)
    rings = region_rings(outlines, codes, budget) if outlines is not None else []
    source_rings = _rings(event.area)
    # One <area>, the same element in both blocks: targeting must not differ by language.
    area = ET.Element("area")
    names = [r.name for r in warning.regions] or [event.place or "Indonesia"]
    sub(area, "areaDesc", ", ".join(names))
    for ring in source_rings + rings:
        sub(area, "polygon", ring)
    lat, lon = event.lat, event.lon
    # The epicentre alone reaches nobody that a polygon consumer targets; it is given only when
    # no region and no polygon say where.
    if isinstance(lat, int | float) and isinstance(lon, int | float) and not source_rings and not rings:
        sub(area, "circle", f"{lat:.{CAP_DECIMALS}f},{lon:.{CAP_DECIMALS}f} 0")
    for r in warning.regions:
        gc = sub(area, "geocode")
        sub(gc, "valueName", "KEMENDAGRI")
        sub(gc, "value", r.code)
    for lang, language in LANGUAGES:
        info = sub(alert, "info")
        sub(info, "language", language)
        sub(info, "category", _CATEGORY.get(hazard, "Other"))
        sub(info, "event", _event_name(hazard, lang, event))
        if warning.kind is WarningKind.ALL_CLEAR or (ended and warning.kind is not WarningKind.CANCEL):
            sub(info, "responseType", "AllClear")
        elif hazard == "tsunami" and not ended:
            sub(info, "responseType", "Evacuate" if level in ("awas", "siaga") else "Avoid")
        sub(info, "urgency", g.urgency)
        sub(info, "severity", g.severity)
        sub(info, "certainty", g.certainty)
        sub(info, "effective", cap_time(warning.created_at))
        sub(info, "expires", cap_time(expires(warning, event)))
        sub(info, "senderName", sender_name)
        own = warning.lang == lang
        words = warning.text if own else (texts or {}).get(lang)
        description = words if words is not None else describe(warning, event, lang)
        headline = words.split("\n", 1)[0] if words is not None else _headline(warning, event, lang)
        sub(info, "headline", headline[:160])
        sub(info, "description", description)
        instruction = _instruction(event, level, lang, ended, hazard)
        if instruction:
            sub(info, "instruction", instruction)
        if event.web:
            sub(info, "web", event.web)
        parameters: tuple[tuple[str, object], ...] = (
            ("magnitude", event.magnitude),
            ("depth_km", event.depth_km),
            ("level", warning.level or event.level),
            ("attribution", credit or None),
        )
        for name, value in parameters:
            if value not in (None, ""):
                p = sub(info, "parameter")
                sub(p, "valueName", name)
                sub(p, "value", str(value))
        if map_url is not None:
            res = sub(info, "resource")
            sub(res, "resourceDesc", map_alt if map_alt and lang == "id" else MAP_DESC[lang])
            sub(res, "mimeType", "image/png")
            sub(res, "uri", map_url)
        info.append(area)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alert, encoding="unicode")


def _event_name(hazard: str, lang: str, event: HazardEvent) -> str:
    # A weather warning passed on keeps its own, more precise, Indonesian name ("Hujan Lebat dan
    # Petir"); every other source names the cause, not the hazard warned of.
    if hazard == "weather" and lang == "id" and event.event_name:
        return event.event_name
    return EVENT[lang].get(hazard, EVENT[lang]["other"])


def _local(t: datetime, regions: Sequence[Region]) -> str:
    zone = zone_name(regions[0].code) if regions else "WIB"
    return t.astimezone(ZONES[zone]).strftime("%Y-%m-%d %H:%M ") + zone


_WORDS = {
    "id": {
        "magnitude": "magnitudo {m}",
        "depth": "kedalaman {d} km",
        "level": "status {l}",
        "regions": "Wilayah: {r}.",
        "observed": "Tsunami terukur di: {o}.",
        "ended": "Peringatan berakhir.",
        "reading": "tinggi muka air {v} {u}",
    },
    "en": {
        "magnitude": "magnitude {m}",
        "depth": "depth {d} km",
        "level": "level {l}",
        "regions": "Areas: {r}.",
        "observed": "Tsunami measured at: {o}.",
        "ended": "The warning has ended.",
        "reading": "water level {v} {u}",
    },
}


def _headline(warning: Warning, event: HazardEvent, lang: str) -> str:
    hazard = event.hazard.value
    name = _event_name(hazard, lang, event)
    level = (warning.level or event.level or "").upper()
    where = ", ".join(r.name for r in warning.regions[:4]) or (event.place or "")
    head = f"{name} {level}".strip() if hazard in ("tsunami", "flood") else name
    if isinstance(event.magnitude, int | float):
        head += f" M{event.magnitude}"
    return f"{head}: {where}" if where else head


def describe(warning: Warning, event: HazardEvent, lang: str) -> str:
    """A short text of the warning in `lang`, made from the event (not a translation of the post):
    hazard, magnitude, depth, place, time, level, regions."""
    w = _WORDS[lang]
    hazard = event.hazard.value
    facts = [_event_name(hazard, lang, event)]
    if isinstance(event.magnitude, int | float):
        facts.append(w["magnitude"].format(m=event.magnitude))
    if isinstance(event.depth_km, int | float):
        facts.append(w["depth"].format(d=f"{event.depth_km:g}"))
    if isinstance(event.value, int | float):
        facts.append(w["reading"].format(v=f"{event.value:g}", u=event.unit or ""))
    if event.place:
        facts.append(_place(event.place, lang))
    facts.append(_local(event.time, warning.regions))
    level = warning.level or event.level
    if level:
        facts.append(w["level"].format(l=str(level).upper()))
    lines = [", ".join(facts) + "."]
    if warning.regions:
        lines.append(w["regions"].format(r=", ".join(r.name for r in warning.regions)))
    observed = [o for o in event.observations if o.place]
    if observed:
        lines.append(
            w["observed"].format(
                o=", ".join(
                    f"{o.place} {o.height_m:g} m" if isinstance(o.height_m, int | float) else o.place for o in observed
                )
            )
        )
    if is_over(warning, event):
        lines.append(w["ended"])
    return "\n".join(lines)


# BMKG writes where a quake is as "30 km TimurLaut MBAY-NAGEKEO-NTT", "174 km barat laut ...".
_DIRECTION = re.compile(
    r"\b(\d+(?:[.,]\d+)?\s*km)\s+(barat\s*laut|timur\s*laut|barat\s*daya|tenggara|utara|selatan|timur|barat)\b\s*",
    re.IGNORECASE,
)
_COMPASS = {
    "baratlaut": "NW",
    "timurlaut": "NE",
    "baratdaya": "SW",
    "tenggara": "SE",
    "utara": "N",
    "selatan": "S",
    "timur": "E",
    "barat": "W",
}


def _place(place: str, lang: str) -> str:
    if lang != "en":
        return place
    return _DIRECTION.sub(lambda m: f"{m[1]} {_COMPASS[''.join(m[2].lower().split())]} of ", place)


def _instruction(event: HazardEvent, level: str, lang: str, ended: bool, hazard: str) -> str | None:
    parts = []
    if hazard == "tsunami" and not ended and level in INSTRUCTION:
        parts.append(INSTRUCTION[level][lang])
    # The source's own instruction is in the source's language (Indonesian for every BMKG feed).
    theirs = (event.instruction or "").strip()
    if theirs and lang == "id":
        parts.append(theirs)
    return "\n".join(parts) or None


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
