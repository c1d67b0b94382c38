"""Jakarta DSDA `xmldata.xml`: the last status of every gate (.NET DataSet, CRLF, element text).

ID_PINTU_AIR is the station key; TANGGAL (ISO with +07:00) the reading time, not
LAST_UPDATED_DATE; TINGGI_AIR and the SIAGAk thresholds are millimetres; SIAGA4 is not a
threshold. Optional elements are absent rather than empty, so everything is read by tag name.
"""

from __future__ import annotations

from warnd.errors import FeedError
from warnd.model import HazardEvent, ParseResult, Reason, Source
from warnd.pollers.common import WIB, ItemError, clean, collect, iso_time, not_future, optional_latlon, strict_number
from warnd.pollers.document import load_xml, local_name
from warnd.pollers.gauge import Thresholds, flags_for, gauge_event, level_from_status

FORMAT = "dsda-xml"
RECORD = "SP_GET_LAST_STATUS_PINTU_AIR"


def parse(data: bytes, src: Source) -> ParseResult:
    root = load_xml(data, src.feed)
    records = [el for el in root if local_name(el.tag) == RECORD]
    if not records:
        raise FeedError(src.feed, f"no <{RECORD}> record: not a DSDA xmldata document")
    rows = [{local_name(c.tag).upper(): (c.text or "").strip() for c in el} for el in records]
    return collect(rows, src.feed, _label, lambda rec: _event(rec, src))


def _label(index: int, rec: dict[str, str]) -> str:
    return f"{RECORD}[{index}]" + (f" (ID {rec['ID_PINTU_AIR']})" if rec.get("ID_PINTU_AIR") else "")


def _mm(rec: dict[str, str], key: str, *, required: bool) -> float | None:
    v = strict_number(rec.get(key), key, required=required)
    return None if v is None else v / 10.0


def _event(rec: dict[str, str], src: Source) -> HazardEvent:
    station = rec.get("ID_PINTU_AIR", "")
    if not station.isdigit():
        raise ItemError("ID_PINTU_AIR", Reason.MISSING_FIELD, f"ID_PINTU_AIR {station!r} is not a number")
    t = iso_time(rec.get("TANGGAL"), "TANGGAL", naive_zone=WIB)
    not_future(t, src.now, "TANGGAL")
    cm = _mm(rec, "TINGGI_AIR", required=True)
    assert cm is not None
    before = _mm(rec, "TINGGI_AIR_SEBELUMNYA", required=False)
    thresholds = Thresholds.of(
        _mm(rec, "SIAGA3", required=False), _mm(rec, "SIAGA2", required=False), _mm(rec, "SIAGA1", required=False)
    )
    status = level_from_status(rec.get("STATUS_SIAGA"))
    level = status or (thresholds.level(cm) if thresholds else None)
    lat, lon = optional_latlon(rec.get("LATITUDE"), rec.get("LONGITUDE"), "LATITUDE/LONGITUDE")
    return gauge_event(
        family="dsda",
        station=station,
        feed=src.feed,
        feed_format=FORMAT,
        time=t,
        cm=cm,
        level=level,
        flags=flags_for(cm, before, None, thresholds, status),
        name=clean(rec.get("NAMA_PINTU_AIR")),
        lat=lat,
        lon=lon,
        river=clean(rec.get("LOKASI")),
    )
