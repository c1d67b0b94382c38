"""What every BMKG format shares: how BMKG writes a quake's time, position, felt list and tsunami
statement, the id of a quake, and which items of one document are copies of one quake.

The TEWS lists (bmkg.py), the InaTEWS messages (inatews.py) and the realtime solutions
(bmkg_realtime.py) report the same quakes in the same conventions (notes/feeds.md §1, §2):

- coordinate order differs by era and format (lat,lon or lon,lat), so a bare pair is never
  trusted: it is checked against the hemisphere-lettered Lintang/Bujur text, and an item whose
  pair matches the text in neither order (a sign error) is rejected;
- `DateTime` (UTC) once carried the access date instead of the event date: an item whose
  DateTime and Tanggal+Jam (WIB) disagree is rejected, since either may be the wrong one;
- "Potensi" on a felt event is a sentence about forwarding, not a tsunami statement;
- lists hold duplicate and preliminary copies of one quake and are not sorted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from warnd.model import SAME_QUAKE_DEGREES, SAME_QUAKE_SECONDS, Felt, HazardEvent, Reason, Rejected
from warnd.pollers.common import MONTHS, ZONES, ItemError

_ROMAN = {
    "I": 1,
    "II": 2,
    "III": 3,
    "IV": 4,
    "V": 5,
    "VI": 6,
    "VII": 7,
    "VIII": 8,
    "IX": 9,
    "X": 10,
    "XI": 11,
    "XII": 12,
}

_HEMI = re.compile(r"([-+]?\d+(?:[.,]\d+)?)\s*(LU|LS|BT|BB|N|S|E|W)\b", re.IGNORECASE)
# An MMI value: roman (as BMKG writes it) or, rarely, arabic; a range is two joined by a dash.
_MMI = r"(?:[IVX]+|\d{1,2})(?:\s*-\s*(?:[IVX]+|\d{1,2}))?"
_MMI_FIRST = re.compile(rf"^({_MMI})(?:\s*MMI)?\s+(.+)$", re.IGNORECASE)
_MMI_LAST = re.compile(rf"^(.+?)\s+({_MMI})(?:\s*MMI)?$", re.IGNORECASE)
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-"})


def quake_id(t: datetime) -> str:
    return "bmkg-eq-" + t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- time -----------------------------------------------------------------------------------

_D_MON_Y = re.compile(r"^(\d{1,2})[\s-]+([A-Za-z]+)[\s-]+(\d{2,4})$")
_D_M_Y = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{2,4})$")
_HMS = re.compile(r"^(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?\s*([A-Za-z]+)?$")


# How far DateTime (UTC) and Tanggal+Jam (WIB) of one item may lie apart. Both are written to the
# second from one origin time, and they agree exactly in every real item that has both (64, in
# autogempa, gempaterkini and gempadirasakan JSON and XML of 2021-2025: feeds/samples/bmkg-tews,
# feeds/demo); the one second leaves room for a writer that rounds a fraction where the other
# truncates it. Anything more is two different times: BMKG once wrote the access date in DateTime
# (days off, infoBMKG/data-gempabumi#5), and a wrong minute or hour cannot be told from a right
# one. The old 60 s allowance had no real pair behind it.
TIME_AGREEMENT_S = 1.0
# How far the bare coordinate pair and the hemisphere-lettered Lintang/Bujur of one item may lie
# apart. Both are written with two decimals and agree exactly in every real item (feeds/samples
# TEWS and InaTEWS, 2013-2026); 0.02 deg (about 2 km) absorbs a rounding of a pair written with
# more decimals, and is far below the 10 km that would make a revised epicentre worth a Ralat
# (pipeline.changes), so nothing it lets through could change a post.
COORD_AGREEMENT_DEG = 0.02


def event_time(item: dict[str, str]) -> datetime:
    """Origin time in UTC, from Tanggal+Jam, checked against DateTime where both exist: an item
    whose two times disagree is rejected (ItemError on DateTime, reason inconsistent)."""
    local = _local_time(item)
    iso = item.get("datetime", "").strip()
    utc: datetime | None = None
    if iso:
        try:
            parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            utc = parsed.astimezone(UTC)
    if local is None and utc is None:
        raise ItemError("Tanggal", Reason.MISSING_FIELD, "no usable Tanggal/Jam or DateTime")
    if local is None:
        assert utc is not None
        return utc
    if utc is None:
        return local
    apart = (utc - local).total_seconds()
    if abs(apart) > TIME_AGREEMENT_S:
        raise ItemError(
            "DateTime",
            Reason.INCONSISTENT,
            f"DateTime {iso} disagrees with Tanggal+Jam {item.get('tanggal', '').strip()} "
            f"{item.get('jam', '').strip()} ({local.isoformat()} UTC) by {apart:+.0f} s",
        )
    return utc


def _local_time(item: dict[str, str]) -> datetime | None:
    tanggal = " ".join(item.get("tanggal", "").split())
    jam = " ".join(item.get("jam", "").split())
    if not tanggal:
        return None
    # Legacy gempadirasakan packs both: "07/11/2013-17:47:32 WIB".
    m = re.match(r"^(\d{1,2}/\d{1,2}/\d{2,4})-(.+)$", tanggal)
    if m:
        tanggal, jam = m.group(1), m.group(2)
    if not jam:
        raise ItemError("Jam", Reason.MISSING_FIELD, "Jam is missing")
    day, month, year = _date_parts(tanggal)
    hm = _HMS.match(jam)
    if not hm:
        raise ItemError("Jam", Reason.MALFORMED, f"Jam {jam!r} is not hh:mm:ss")
    zone_name = (hm.group(4) or "WIB").upper()
    zone = ZONES.get(zone_name)
    if zone is None:
        raise ItemError("Jam", Reason.MALFORMED, f"unknown time zone {zone_name!r}")
    try:
        t = datetime(year, month, day, int(hm.group(1)), int(hm.group(2)), int(hm.group(3) or 0), tzinfo=zone)
    except ValueError as e:
        raise ItemError("Tanggal", Reason.MALFORMED, f"impossible date {tanggal} {jam}: {e}") from None
    return t.astimezone(UTC)


def _date_parts(tanggal: str) -> tuple[int, int, int]:
    m = _D_MON_Y.match(tanggal)
    if m:
        month = MONTHS.get(m.group(2).lower())
        if month is None:
            raise ItemError("Tanggal", Reason.MALFORMED, f"unknown month {m.group(2)!r}")
        return int(m.group(1)), month, _year(m.group(3))
    m = _D_M_Y.match(tanggal)
    if m:
        return int(m.group(1)), int(m.group(2)), _year(m.group(3))
    raise ItemError("Tanggal", Reason.MALFORMED, f"Tanggal {tanggal!r} is not a date")


def _year(text: str) -> int:
    y = int(text)
    return 2000 + y if y < 100 else y


# --- place ----------------------------------------------------------------------------------


def coordinates(item: dict[str, str]) -> tuple[float, float]:
    """(lat, lon). The hemisphere-lettered text decides when the bare pair is ambiguous."""
    text = lettered(item)
    pair = _pair(item.get("coordinates"))
    if pair is not None and text is not None:
        a, b = pair
        if _close((a, b), text):
            result = (a, b)
        elif _close((b, a), text):
            result = (b, a)
        else:
            # A sign error BMKG later fixed in place, or a digit wrong in one of them: which is
            # right cannot be told from the item, and a quake placed in the wrong hemisphere would
            # warn the wrong people.
            raise ItemError(
                "Coordinates",
                Reason.INCONSISTENT,
                f"Coordinates {item.get('coordinates', '').strip()!r} disagree with Lintang/Bujur "
                f"{text[0]:g},{text[1]:g} (lettered) in either order",
            )
    elif text is not None:
        result = text
    elif pair is not None:
        a, b = pair
        # No text to check against: a latitude never exceeds 90, and Indonesia's longitudes
        # (90..145) never look like its latitudes (-15..10).
        result = (b, a) if abs(a) > 90 or (abs(a) >= 80 and abs(b) <= 30) else (a, b)
    else:
        raise ItemError("Coordinates", Reason.MISSING_FIELD, "no coordinates")
    lat, lon = result
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise ItemError("Coordinates", Reason.OUT_OF_RANGE, f"coordinates {lat},{lon} out of range")
    return lat, lon


def _pair(raw: str | None) -> tuple[float, float] | None:
    if raw is None or not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2:
        raise ItemError("Coordinates", Reason.MALFORMED, f"coordinates {raw!r} are not a pair")
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        raise ItemError("Coordinates", Reason.MALFORMED, f"coordinates {raw!r} are not numbers") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ItemError("Coordinates", Reason.OUT_OF_RANGE, f"coordinates {raw!r} are not finite")
    return a, b


def lettered(item: dict[str, str]) -> tuple[float, float] | None:
    text = " ".join(item[k] for k in ("lintang", "bujur", "posisi") if item.get(k))
    lat: float | None = None
    lon: float | None = None
    for value, letter in _HEMI.findall(text):
        v = abs(float(value.replace(",", ".")))
        letter = letter.upper()
        if letter in ("LU", "N"):
            lat = v
        elif letter in ("LS", "S"):
            lat = -v
        elif letter in ("BT", "E"):
            lon = v
        elif letter in ("BB", "W"):
            lon = -v
    if lat is None or lon is None:
        return None
    return lat, lon


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    # The tolerance plus float noise: 8.15 and 8.17 written are 0.02 apart.
    slack = COORD_AGREEMENT_DEG + 1e-9
    return abs(a[0] - b[0]) <= slack and abs(a[1] - b[1]) <= slack


# --- statements -----------------------------------------------------------------------------


def tsunami_potential(text: str | None) -> bool | None:
    """True / False when the text is a tsunami statement; None when it says nothing about one."""
    if not text:
        return None
    t = text.lower()
    if "tidak berpotensi" in t or "does not generate" in t or "no tsunami" in t:
        return False
    if "potensi tsunami" in t or "berpotensi tsunami" in t or "potential tsunami" in t:
        return True
    return None


def felt_list(text: str | None) -> tuple[Felt, ...]:
    """'III Pacitan, II-III Bantul' -> Felt items; '-' and blanks -> ().

    Seen in real lists: tabs and trailing commas ("III\tSarmi,"), a space before a comma
    ("III Madiun ,"), lower case ("Iv Kepanjen"), the place first ("Sentani II-III MMI"). A place
    whose intensity cannot be read is kept with MMI 0 (unknown), never dropped: it was felt there.
    """
    if not text:
        return ()
    out: list[Felt] = []
    for part in text.translate(_DASHES).split(","):
        part = " ".join(part.split()).strip(" .;")
        if not part or part == "-":
            continue
        read = _felt_item(part)
        out.append(read if read is not None else Felt("", 0, 0, part))
    return tuple(out)


def _felt_item(part: str) -> Felt | None:
    for pattern, mmi_group, place_group in ((_MMI_FIRST, 1, 2), (_MMI_LAST, 2, 1)):
        m = pattern.match(part)
        if not m:
            continue
        mmi = re.sub(r"\s+", "", m.group(mmi_group)).upper()
        bounds = [_ROMAN.get(x) or (int(x) if x.isdigit() and 1 <= int(x) <= 12 else None) for x in mmi.split("-")]
        values = [b for b in bounds if b is not None]
        if len(values) == len(bounds):
            return Felt(mmi, min(values), max(values), m.group(place_group).strip())
    return None


# --- copies of one quake in one document ----------------------------------------------------


def same_quake(a: HazardEvent, b: HazardEvent) -> bool:
    if a.lat is None or b.lat is None or a.lon is None or b.lon is None:
        return False
    return (
        abs((a.time - b.time).total_seconds()) <= SAME_QUAKE_SECONDS
        and abs(a.lat - b.lat) <= SAME_QUAKE_DEGREES
        and abs(a.lon - b.lon) <= SAME_QUAKE_DEGREES
    )


def collapse_copies(events: Iterable[HazardEvent]) -> tuple[list[HazardEvent], list[Rejected]]:
    """One event per quake. Where a list holds several versions of one quake (the preliminary
    M7.5 beside three rows of the revised M7.4), the version most copies agree on wins: taking
    whichever came last would flip the quake back and forth between polls."""
    groups: list[list[HazardEvent]] = []
    for ev in events:
        for g in groups:
            if same_quake(g[0], ev):
                g.append(ev)
                break
        else:
            groups.append([ev])
    kept: list[HazardEvent] = []
    dropped: list[Rejected] = []
    for g in groups:
        counts: dict[str, int] = {}
        for ev in g:
            counts[ev.revision] = counts.get(ev.revision, 0) + 1
        best_rev = max(counts, key=lambda r: (counts[r], -next(i for i, e in enumerate(g) if e.revision == r)))
        best = next(e for e in g if e.revision == best_rev)
        kept.append(best)
        for ev in g:
            if ev is best:
                continue
            why = "identical copy" if ev.revision == best.revision else "conflicting copy"
            dropped.append(
                Rejected(
                    ev.feed,
                    ev.id,
                    "gempa",
                    Reason.DUPLICATE_ITEM,
                    f"{why} of quake {best.id} (M{ev.magnitude} vs M{best.magnitude})",
                )
            )
    return kept, dropped
