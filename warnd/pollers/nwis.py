"""USGS NWIS instantaneous values, WaterML as JSON (waterservices.usgs.gov/nwis/iv/?format=json).

Only gage height (parameter 00065, feet) is a water level; discharge and other series are
skipped with a reason. Values are strings, `noDataValue` marks gaps, every time carries its
own offset. The format has no flood thresholds, so the level stays unknown.
"""

from __future__ import annotations

from typing import Any

from warnd.errors import FeedError
from warnd.model import HazardEvent, ParseResult, Reason, Source
from warnd.pollers.common import ItemError, collect, iso_time, not_future, optional_latlon, strict_number
from warnd.pollers.document import load_json
from warnd.pollers.gauge import flags_for, gauge_event

FORMAT = "usgs-nwis"
GAGE_HEIGHT = "00065"
_CM_PER = {"ft": 30.48, "m": 100.0, "cm": 1.0}


def parse(data: bytes, src: Source) -> ParseResult:
    doc = load_json(data, src.feed)
    value = doc.get("value") if isinstance(doc, dict) else None
    series = value.get("timeSeries") if isinstance(value, dict) else None
    if not isinstance(series, list):
        raise FeedError(src.feed, "no value.timeSeries list: not an NWIS IV response")
    return collect(series, src.feed, _label, lambda ts: _event(ts, src))


def _label(index: int, ts: Any) -> str:
    return f"timeSeries[{index}]" + (f" ({ts.get('name')})" if isinstance(ts, dict) and ts.get("name") else "")


def _get(d: Any, *path: str | int) -> Any:
    for p in path:
        if isinstance(p, int):
            d = d[p] if isinstance(d, list) and len(d) > p else None
        else:
            d = d.get(p) if isinstance(d, dict) else None
    return d


def _event(ts: Any, src: Source) -> HazardEvent | None:
    code = _get(ts, "variable", "variableCode", 0, "value")
    if code != GAGE_HEIGHT:
        raise ItemError("variable.variableCode", Reason.UNSUPPORTED, f"parameter {code!r} is not gage height")
    site = _get(ts, "sourceInfo", "siteCode", 0, "value")
    if not isinstance(site, str) or not site.strip():
        raise ItemError("sourceInfo.siteCode", Reason.MISSING_FIELD, "no site code")
    unit = str(_get(ts, "variable", "unit", "unitCode") or "ft").lower()
    factor = _CM_PER.get(unit)
    if factor is None:
        raise ItemError("variable.unit", Reason.UNSUPPORTED, f"unit {unit!r} is not a length")
    nodata = _get(ts, "variable", "noDataValue")
    points: list[tuple[Any, float]] = []
    for block in _get(ts, "values") or []:
        for v in _get(block, "value") or []:
            x = strict_number(_get(v, "value"), "value", required=True)
            if x is None or x == nodata:
                continue
            t = iso_time(_get(v, "dateTime"), "dateTime")
            if t <= src.now:
                points.append((t, x * factor))
    if not points:
        return None
    points.sort(key=lambda p: p[0])
    t, cm = points[-1]
    not_future(t, src.now, "dateTime")
    geo = _get(ts, "sourceInfo", "geoLocation", "geogLocation")
    lat, lon = optional_latlon(_get(geo, "latitude"), _get(geo, "longitude"), "geogLocation")
    before = points[-2][1] if len(points) > 1 else None
    return gauge_event(
        family="usgs",
        station=site.strip(),
        feed=src.feed,
        feed_format=FORMAT,
        time=t,
        cm=cm,
        level=None,
        flags=flags_for(cm, before, None, None, None),
        name=_get(ts, "sourceInfo", "siteName"),
        lat=lat,
        lon=lon,
    )
