"""The words of a warning: what a template is given (`context`), and the pieces in it that are
the same for every template (local times in the region's zone, tsunami zone labels, hashtags,
agency names, the thread label, the warning's id)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from warnd.geo import ZONES, zone_name
from warnd.model import (
    HazardEvent,
    Region,
    Status,
    Warning,
    WarningKind,
    ZonePart,
)

_BULAN = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
_MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


_ORDINAL = {"id": "info ke-{n}", "en": "notice {n}"}
# A stage longer than this (a feed's free text) is not a label a reader can use.
_STAGE_MAX = 12


def thread_label(event: HazardEvent, earlier: Sequence[Warning], lang: str) -> str | None:
    """What every part of the warning's thread carries of its own post, so that no part is
    word for word a part of another post of the account: successive updates of one tsunami
    warning list the same regencies, and X refuses a repeated text.

    BMKG's stage of the warning (PD-3.3) when the source gives one; otherwise, or when an
    earlier post of the account about the event already had that label, the post's place among
    them ("info ke-4"), which no other post of the account about the event has. The first post
    about an event with no stage needs none: every later post about it has one, and a post about
    another event has that event's time in its first line."""
    used = {w.thread_label for w in earlier}
    n = len(earlier) + 1
    ordinal = _ORDINAL.get(lang, _ORDINAL["en"]).format(n=n)
    stage = (event.stage or "").strip()
    if stage and len(stage) <= _STAGE_MAX:
        return stage if stage not in used else f"{stage}, {ordinal}"
    return ordinal if n > 1 else None


def warning_id(event_id: str, revision: str, rule: str, account: str, kind: WarningKind) -> str:
    key = "\x1f".join((event_id, revision, rule, account, kind.value))
    return "w-" + hashlib.sha256(key.encode()).hexdigest()[:24]


ZONE_ORDER = ("awas", "siaga", "waspada")


def worst_level(level: str | None, notes: Sequence[str | None]) -> str | None:
    for z in ZONE_ORDER:
        if z in notes:
            return z
    return level


def context(
    event: HazardEvent,
    kind: WarningKind,
    regions: Sequence[Region],
    first_post: Warning | None,
    lang: str,
    notes: Mapping[str, str] | None = None,
    include_url: bool = False,
    parts: Sequence[ZonePart] = (),
    last_post: Warning | None = None,
    area: Sequence[str] = (),
    credit: str = "BMKG",
    changed: Sequence[ZonePart] = (),
) -> dict[str, Any]:
    local = event.time.astimezone(ZONES[zone_name(regions[0].code) if regions else "WIB"])
    notes = notes or {}
    by_code = {r.code: r for r in regions}
    mine = [p for p in parts if p.code in by_code]
    # Regions grouped by what is said of them (tsunami zone level, predicted MMI), worst first.
    by_note: dict[str, list[str]] = {}
    if mine:
        # Tsunami zones: a region is named in each level a zone of it has, with the parts the
        # zones of that level cover ("Kabupaten Ende bagian utara" at Siaga, "Kabupaten Ende
        # (Pulau Ende)" at Waspada).
        per_level: dict[str, dict[str, list[ZonePart]]] = {}
        for p in mine:
            per_level.setdefault(p.level, {}).setdefault(p.code, []).append(p)
        for level, codes in per_level.items():
            by_note[level] = [zone_label(by_code[c].name, ps, lang) for c, ps in codes.items()]
        per_region: dict[str, list[ZonePart]] = {}
        for p in mine:
            per_region.setdefault(p.code, []).append(p)
        names = [zone_label(by_code[c].name, ps, lang) for c, ps in per_region.items()]
        names += [r.name for r in regions if r.code not in per_region]
    else:
        for r in regions:
            by_note.setdefault(notes.get(r.code, ""), []).append(r.name)
        names = [r.name for r in regions]
    # An escalation leads with the zones raised, by their new level, then says where the rest
    # stand (`others`); a de-escalation likewise with the zones lowered ("" level: no longer
    # warned).
    changed_groups: dict[str, dict[str, list[ZonePart]]] = {}
    for p in changed:
        if p.code in by_code:
            changed_groups.setdefault(p.level, {}).setdefault(p.code, []).append(p)
    moved = {p.key for p in changed}
    other_groups: dict[str, dict[str, list[ZonePart]]] = {}
    current = mine or [ZonePart(r.code, notes[r.code]) for r in regions if notes.get(r.code) in ZONE_ORDER]
    for p in current:
        if p.key not in moved:
            other_groups.setdefault(p.level, {}).setdefault(p.code, []).append(p)

    def grouped(groups: dict[str, dict[str, list[ZonePart]]]) -> list[dict[str, str]]:
        ordered = sorted(groups.items(), key=lambda kv: ZONE_ORDER.index(kv[0]) if kv[0] in ZONE_ORDER else 9)
        return [
            {"note": level, "names": ", ".join(zone_label(by_code[c].name, ps, lang) for c, ps in codes.items())}
            for level, codes in ordered
        ]

    joiner = " dan " if lang == "id" else " and "
    region_names = ", ".join(names[:-1]) + joiner + names[-1] if len(names) > 1 else "".join(names)
    groups = sorted(by_note.items(), key=lambda kv: ZONE_ORDER.index(kv[0]) if kv[0] in ZONE_ORDER else 9)
    heights = sorted((o for o in event.observations if o.height_m is not None), key=lambda o: -(o.height_m or 0.0))
    zone = zone_name(regions[0].code) if regions else "WIB"
    tz = ZONES[zone]
    previous = last_post.agency if last_post is not None else None
    places = list(area) or [COUNTRY]
    return {
        "event": event,
        "kind": kind.value,
        "region_groups": [{"note": k, "names": ", ".join(v)} for k, v in groups],
        "changed": grouped(changed_groups),
        "others": grouped(other_groups),
        "observed": [
            {
                "place": o.place.title(),
                "height": f"{o.height_m:.2f}",
                "time": o.time.astimezone(tz).strftime("%H:%M") if o.time else "?",
            }
            for o in heights
        ],
        "expires": _fmt_time(event.expires.astimezone(tz), zone, lang) if event.expires else None,
        "level": (event.level or "").upper(),
        "value": f"{event.value:g}" if event.value is not None else "?",
        "url": include_url,
        "exercise": event.status is not Status.ACTUAL,
        "regions": list(regions),
        "region_names": region_names,
        # The account's own area, in words ("Aceh", "Indonesia") and as hashtags ("#Aceh").
        "area": ", ".join(places[:-1]) + joiner + places[-1] if len(places) > 1 else places[0],
        "area_tags": " ".join(hashtag(p) for p in places),
        # Every region is named now; kept at 0 for templates written when long lists were cut.
        "more_regions": 0,
        "zone": zone,
        "time": _fmt_time(local, zone, lang),
        "magnitude": f"{event.magnitude:.1f}" if event.magnitude is not None else "?",
        "depth": f"{event.depth_km:g}" if event.depth_km is not None else "?",
        "felt": ", ".join(f"{f.mmi} {f.place}" for f in event.felt),
        "agency": agency_name(event.agency),
        # The source as its terms ask a post to credit it (the feed catalogue's `credit`).
        "credit": credit,
        "previous_agency": agency_name(previous) if previous else None,
        "source_changed": previous is not None and previous != event.agency,
        "first_post": first_post,
        "first_post_time": _fmt_time(first_post.created_at.astimezone(ZONES[zone]), zone, lang) if first_post else None,
    }


_SIDES_EN = {
    "UTARA": "north",
    "SELATAN": "south",
    "TIMUR": "east",
    "BARAT": "west",
    "TENGAH": "central",
    "TIMUR LAUT": "northeast",
    "BARAT LAUT": "northwest",
    "TENGGARA": "southeast",
    "BARAT DAYA": "southwest",
}


def zone_label(name: str, parts: Sequence[ZonePart], lang: str) -> str:
    """A region as the zones in it describe it, in readable words rather than BMKG's capitals:
    "Kabupaten Ngada bagian utara", "Kabupaten Nias Selatan (Pulau Tanabala)", "Kabupaten Luwu
    (bagian timur dan utara)"; a province standing in for zones it quotes: 'Papua Barat (zona
    "FOO BAGIAN UTARA")'. A zone that covers the whole region makes its parts moot."""
    if any(not p.part and not p.quoted for p in parts):
        return name
    sides: list[str] = []
    extras: list[str] = []
    for p in parts:
        if p.quoted:
            extras.append(("zona" if lang == "id" else "zone") + f' "{p.quoted}"')
        elif p.part.startswith("BAGIAN "):
            side = p.part[len("BAGIAN ") :]
            sides.append(side.lower() if lang == "id" else _SIDES_EN.get(side, side.lower()))
        else:
            extras.append(_title(p.part))
    sides = list(dict.fromkeys(sides))
    extras = list(dict.fromkeys(extras))
    if lang == "id":
        if len(sides) == 1:
            name += " bagian " + sides[0]
            sides = []
        # Several sides go in the brackets: their "dan" must not read as the end of the list of
        # regions ("Kabupaten Luwu (bagian timur dan utara) dan Kota Palopo").
        inside = "; ".join(x for x in ("bagian " + " dan ".join(sides) if sides else "", ", ".join(extras)) if x)
        return f"{name} ({inside})" if inside else name
    inside = "; ".join(x for x in (", ".join(sides), ", ".join(extras)) if x)
    return f"{name} ({inside})" if inside else name


def _title(text: str) -> str:
    """BMKG's capitals as a place name: "PULAU NUSA-PENIDA" -> "Pulau Nusa-Penida"."""
    return re.sub(r"[A-Za-z]+", lambda m: m.group(0).capitalize(), text)


# What begins an exercise's text, by its language: the words every shipped template writes when
# `exercise` is set, and an operator's exercise bulletin carries (pipeline.bulletin).
EXERCISE_MARK = {"id": "LATIHAN - ", "en": "EXERCISE - "}


# The area of an account with no home regions: it posts about all of them.
COUNTRY = "Indonesia"


def hashtag(name: str) -> str:
    """A place name as a hashtag: "Nusa Tenggara Timur" -> "#NusaTenggaraTimur",
    "Kota Bau-Bau" -> "#KotaBauBau"."""
    return "#" + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", name))


_AGENCY_NAMES = {"bmkg": "BMKG", "usgs": "USGS", "gdacs": "GDACS"}


def agency_name(agency: str) -> str:
    """How a post names an agency (a hashtag): "bmkg" -> "BMKG"."""
    return _AGENCY_NAMES.get(agency, agency.upper())


def _fmt_time(t: datetime, zone: str, lang: str) -> str:
    months = _BULAN if lang == "id" else _MONTH
    return f"{t.day:02d} {months[t.month - 1]} {t.year} {t:%H:%M:%S} {zone}"


def squash(text: str) -> str:
    return re.sub(r"[ \t]*\n[ \t\n]*", "\n", re.sub(r"[ \t]+", " ", text)).strip()
