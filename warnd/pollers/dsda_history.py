"""Jakarta DSDA history endpoint (`Pages/GenerateDataTinggiAir.aspx?IdPintuAir=<id>&...`).

`yyyy-MM-dd HH.mm.ss,<cm>;...;|<SIAGA1 mm>;<SIAGA2 mm>;<SIAGA3 mm>|` followed by an empty
ASP.NET page. Points are WIB without a zone and in centimetres while the trailer is in
millimetres. The station id is only in the URL. The latest point at or before the clock is the
station's state (so a drill clock replays the series); earlier points serve spike detection.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from warnd.errors import FeedError
from warnd.model import ParseResult, Reason, Rejected, Source
from warnd.pollers.common import WIB
from warnd.pollers.document import decode_text
from warnd.pollers.gauge import Thresholds, flags_for, gauge_event

FORMAT = "dsda-history"

_POINT = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2})[.:](\d{2})[.:](\d{2}),(-?\d+(?:\.\d+)?)$")
_TRAILER = re.compile(r"\|\s*(-?\d+)\s*;\s*(-?\d+)\s*;\s*(-?\d+)\s*;?\s*\|")


def station_of(src: Source) -> str:
    query = parse_qs(urlparse(src.url).query)
    for key, values in query.items():
        if key.lower() == "idpintuair" and values and values[0].strip().isdigit():
            return values[0].strip()
    return src.feed


def parse(data: bytes, src: Source) -> ParseResult:
    text = decode_text(data, src.feed)
    body = text.split("<html", 1)[0].strip()
    if "|" not in body or not _POINT.match(body.split(";", 1)[0].strip()):
        raise FeedError(src.feed, "not a DSDA history response ('yyyy-MM-dd HH.mm.ss,cm;...|S1;S2;S3|')")
    points_part, _, rest = body.partition("|")
    trailer = _TRAILER.search("|" + rest)
    thresholds = None
    if trailer:
        s1, s2, s3 = (float(trailer.group(i)) / 10.0 for i in (1, 2, 3))
        thresholds = Thresholds.of(s3, s2, s1)
    readings: dict[datetime, float] = {}
    rejected: list[Rejected] = []
    for index, raw in enumerate(p.strip() for p in points_part.split(";")):
        if not raw:
            continue
        m = _POINT.match(raw)
        if not m:
            rejected.append(Rejected(src.feed, f"point[{index}]", "point", Reason.MALFORMED, f"{raw!r} is unreadable"))
            continue
        g = [int(x) for x in m.groups()[:6]]
        try:
            t = datetime(g[0], g[1], g[2], g[3], g[4], g[5], tzinfo=WIB).astimezone(UTC)
        except ValueError:
            rejected.append(Rejected(src.feed, f"point[{index}]", "time", Reason.MALFORMED, f"impossible time {raw!r}"))
            continue
        readings[t] = float(m.group(7))
    times = sorted(t for t in readings if t <= src.now)
    if not times:
        return ParseResult((), tuple(rejected))
    # The newest point has no successor yet: a spike shows only once the next point falls back.
    cm = readings[times[-1]]
    before = readings[times[-2]] if len(times) > 1 else None
    station = station_of(src)
    ev = gauge_event(
        family="dsda",
        station=station,
        feed=src.feed,
        feed_format=FORMAT,
        time=times[-1],
        cm=cm,
        level=thresholds.level(cm) if thresholds else None,
        flags=flags_for(cm, before, None, thresholds, None),
        name=None,
    )
    return ParseResult((ev,), tuple(rejected))
