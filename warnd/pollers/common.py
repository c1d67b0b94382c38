"""What every parser needs: the per-item error, number and time helpers that read the strings
real feeds hold ("10 km", "6.3 SR", "23-Jun-20", "2026/09/26  08:10:21.751")."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar
from urllib.parse import urljoin, urlparse

from warnd.model import HazardEvent, ParseResult, Reason, Rejected

T = TypeVar("T")

ZONES = {
    "WIB": timezone(timedelta(hours=7)),
    "WITA": timezone(timedelta(hours=8)),
    "WIT": timezone(timedelta(hours=9)),
    "UTC": UTC,
    "GMT": UTC,
    "Z": UTC,
}
WIB = ZONES["WIB"]

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january", "januari"),
            ("feb", "february", "februari", "peb"),
            ("mar", "march", "maret"),
            ("apr", "april"),
            ("mei", "may"),
            ("jun", "june", "juni"),
            ("jul", "july", "juli"),
            ("agu", "agt", "ags", "aug", "august", "agustus"),
            ("sep", "sept", "september"),
            ("okt", "oct", "october", "oktober"),
            ("nov", "november", "nopember"),
            ("des", "dec", "december", "desember"),
        ]
    )
    for m in names
}

# A date this far ahead of the clock is a wrong year, not a forecast.
FUTURE_SLACK = timedelta(minutes=10)

_NUM = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


class ItemError(Exception):
    """One item of a document is unusable; the parser records it and goes on with the rest."""

    def __init__(self, field: str, reason: Reason, message: str, event_id: str | None = None) -> None:
        self.field = field
        self.reason = reason
        # The event the item would have been, when the fields read before the error name it.
        self.event_id = event_id
        super().__init__(message)


def number_in(raw: str | None, field: str, *, required: bool) -> float | None:
    """The first number in a text like '84 Km' or '6.3 SR'; None when absent and optional."""
    if raw is None or not raw.strip():
        if required:
            raise ItemError(field, Reason.MISSING_FIELD, f"{field} is missing")
        return None
    m = _NUM.search(raw)
    if not m:
        raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} holds no number")
    value = float(m.group().replace(",", "."))
    if not math.isfinite(value):
        raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} is not finite")
    return value


def strict_number(raw: object, field: str, *, required: bool) -> float | None:
    """A value that must be a number as a whole (JSON number or numeric string), finite."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise ItemError(field, Reason.MISSING_FIELD, f"{field} is missing")
        return None
    if isinstance(raw, bool):
        raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} is not a number") from None
    else:
        raise ItemError(field, Reason.MALFORMED, f"{field} has type {type(raw).__name__}, not a number")
    if not math.isfinite(value):
        raise ItemError(field, Reason.OUT_OF_RANGE, f"{field} {raw!r} is not finite")
    return value


def check_latlon(lat: float, lon: float, field: str) -> tuple[float, float]:
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise ItemError(field, Reason.OUT_OF_RANGE, f"coordinates {lat},{lon} out of range")
    return lat, lon


def iso_time(raw: object, field: str, *, naive_zone: timezone | None = None) -> datetime:
    """An ISO 8601 time with an offset (or in `naive_zone` when it has none) as UTC."""
    if not isinstance(raw, str) or not raw.strip():
        raise ItemError(field, Reason.MISSING_FIELD, f"{field} is missing")
    text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        if naive_zone is None:
            raise ItemError(field, Reason.MALFORMED, f"{field} {raw!r} has no time zone")
        t = t.replace(tzinfo=naive_zone)
    return t.astimezone(UTC)


def epoch_ms(raw: object, field: str) -> datetime:
    value = strict_number(raw, field, required=True)
    assert value is not None
    try:
        return datetime.fromtimestamp(value / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        raise ItemError(field, Reason.OUT_OF_RANGE, f"{field} {raw!r} is not a possible time") from None


def not_future(t: datetime, now: datetime, field: str) -> datetime:
    if t > now + FUTURE_SLACK:
        raise ItemError(field, Reason.FUTURE_TIME, f"{field} {t.isoformat()} is in the future")
    return t


def web_link(text: object, base: str = "") -> str | None:
    """An http(s) link for CAP <web>: `text` as given, or resolved against the document's own
    URL when it is a bare file name (BMKG's shakemap "20240110201726.mmi.jpg" lies beside the
    feed document); None for anything else."""
    t = clean(text)
    if t is None or " " in t:
        return None
    url = urljoin(base, t) if base.startswith(("http://", "https://")) else t
    return url if urlparse(url).scheme in ("http", "https") and urlparse(url).netloc else None


def clean(text: object) -> str | None:
    """Whitespace-collapsed text, or None for blanks and non-strings."""
    if not isinstance(text, str):
        return None
    out = " ".join(text.split())
    return out or None


def lonlat(coords: object, field: str) -> tuple[float, float] | None:
    """A GeoJSON-style [lon, lat, ...] position (numbers or numeric strings) as (lat, lon)."""
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    lon = strict_number(coords[0], f"{field}[0]", required=True)
    lat = strict_number(coords[1], f"{field}[1]", required=True)
    assert lat is not None and lon is not None
    return check_latlon(lat, lon, field)


def optional_latlon(lat_raw: object, lon_raw: object, field: str) -> tuple[float | None, float | None]:
    """Separate latitude and longitude values that may both be absent (a gauge without a position)."""
    lat = strict_number(lat_raw, field, required=False)
    lon = strict_number(lon_raw, field, required=False)
    if lat is None or lon is None:
        return None, None
    return check_latlon(lat, lon, field)


def collect(
    items: Iterable[T], feed: str, label: Callable[[int, T], str], build: Callable[[T], HazardEvent | None]
) -> ParseResult:
    """A document's result, an event built from each item: a bad item becomes a Rejected naming
    feed, item and field, and a second item with an id already seen is rejected as a duplicate."""
    events: dict[str, HazardEvent] = {}
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            ev = build(item)
        except ItemError as e:
            rejected.append(Rejected(feed, label(index, item), e.field, e.reason, str(e), e.event_id))
            continue
        if ev is None:
            continue
        if ev.id in events:
            rejected.append(Rejected(feed, label(index, item), "id", Reason.DUPLICATE_ITEM, f"{ev.id} appears twice"))
            continue
        events[ev.id] = ev
    return ParseResult(tuple(events.values()), tuple(rejected))


def quake_magnitude(mag: float | None, field: str, *, lowest: float = 0.0) -> float:
    """A magnitude that can be real: required, above `lowest` (automatic catalogues list
    negative micro-quakes) and below 10."""
    if mag is None or not lowest < mag < 10.0:
        raise ItemError(field, Reason.OUT_OF_RANGE, f"magnitude {mag} outside ({lowest:g}, 10)")
    return mag


def quake_depth(depth: float | None, field: str) -> float | None:
    """A hypocentre depth in km, if given: slightly above sea level to the deepest quakes known."""
    if depth is not None and not -10.0 <= depth <= 1000.0:
        raise ItemError(field, Reason.OUT_OF_RANGE, f"depth {depth} km outside [-10, 1000]")
    return depth
