"""Jakarta open-data monthly water-level CSVs ("data-tinggi-muka-air-<bulan>-<tahun>.csv").

Two layouts, told apart by the header (notes/feeds.md §9.1): A (7 columns, quoted, one
`tanggal` "yyyy-mm-dd hh:mm:ss") and B (8 columns, CRLF, `tanggal` + 12-hour `waktu`
"11:40:00PM"). Levels in millimetres; times WIB without a zone; no station id (names carry
trailing spaces); every row is a last-status snapshot, so most rows repeat a reading.

The file is a time series: each station's state is its newest reading at or before the clock,
so a drill whose clock runs through the month replays it. Readings are de-duplicated on
(station, reading time), the last row winning (a silent correction); the reading before serves
jump detection (whether a jump was a one-reading spike is known only once the next one comes).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from warnd.errors import FeedError
from warnd.model import HazardEvent, ParseResult, Reason, Rejected, Source
from warnd.pollers.common import WIB, ItemError, optional_latlon, strict_number
from warnd.pollers.document import decode_text
from warnd.pollers.gauge import flags_for, gauge_event, level_from_status

FORMAT = "jakarta-csv"

_LAYOUT_A = ["nama_pintu_air", "lokasi", "latitude", "longitude", "tanggal", "tinggi_air", "status_siaga"]
_LAYOUT_B = ["tanggal", "waktu", "nama_pintu_air", "lokasi", "latitude", "longitude", "tinggi_air", "status_siaga"]
_CLOCK12 = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)$", re.IGNORECASE)


def station_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _time(row: dict[str, str]) -> datetime:
    raw_date = (row.get("tanggal") or "").strip()
    waktu = (row.get("waktu") or "").strip()
    try:
        if waktu:
            m = _CLOCK12.match(waktu)
            if not m:
                raise ItemError("waktu", Reason.MALFORMED, f"waktu {waktu!r} is not h:mm:ssAM/PM")
            hour = int(m.group(1)) % 12 + (12 if m.group(4).upper() == "PM" else 0)
            d = datetime.strptime(raw_date, "%Y-%m-%d")
            t = d.replace(hour=hour, minute=int(m.group(2)), second=int(m.group(3) or 0))
        else:
            t = datetime.strptime(raw_date, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ItemError("tanggal", Reason.MALFORMED, f"tanggal {raw_date!r} {waktu!r} is not a time") from None
    return t.replace(tzinfo=WIB).astimezone(UTC)


def parse(data: bytes, src: Source) -> ParseResult:
    text = decode_text(data, src.feed)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _parse(reader, src)
    except csv.Error as e:
        raise FeedError(src.feed, f"unreadable CSV at line {reader.line_num}: {e}") from None


def _parse(reader: csv.DictReader[str], src: Source) -> ParseResult:
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if header not in (_LAYOUT_A, _LAYOUT_B):
        raise FeedError(src.feed, f"header {header[:8]} is neither Jakarta water-level layout")
    reader.fieldnames = header
    series: dict[str, dict[datetime, dict[str, Any]]] = {}
    rejected: list[Rejected] = []
    for line, row in enumerate(reader, start=2):
        name = " ".join((row.get("nama_pintu_air") or "").split())
        try:
            if not name:
                raise ItemError("nama_pintu_air", Reason.MISSING_FIELD, "no gauge name")
            t = _time(row)
            mm = strict_number(row.get("tinggi_air"), "tinggi_air", required=True)
            assert mm is not None
            lat, lon = optional_latlon(row.get("latitude"), row.get("longitude"), "latitude/longitude")
        except ItemError as e:
            rejected.append(Rejected(src.feed, f"line {line}", e.field, e.reason, str(e)))
            continue
        series.setdefault(name, {})[t] = {
            "cm": mm / 10.0,
            "status": level_from_status(row.get("status_siaga")),
            "lat": lat,
            "lon": lon,
            "river": (row.get("lokasi") or "").strip() or None,
        }
    events: list[HazardEvent] = []
    for name, readings in series.items():
        # Only readings the clock has reached: a replayed drill must not know the future.
        times = sorted(t for t in readings if t <= src.now)
        if not times:
            continue
        t = times[-1]
        r = readings[t]
        before = readings[times[-2]]["cm"] if len(times) > 1 else None
        after = None
        events.append(
            gauge_event(
                family="jakarta",
                station=station_key(name),
                feed=src.feed,
                feed_format=FORMAT,
                time=t,
                cm=r["cm"],
                level=r["status"],
                flags=flags_for(r["cm"], before, after, None, r["status"]),
                name=name,
                lat=r["lat"],
                lon=r["lon"],
                river=r["river"],
            )
        )
    return ParseResult(tuple(events), tuple(rejected))
