import gzip
import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.conftest import sample
from warnd.errors import FeedError
from warnd.model import Hazard, Reason, Source
from warnd.pollers import dsda_history, dsda_xml, gauge_geojson, jakarta_csv, nwis, petabencana
from warnd.pollers.gauge import Thresholds, level_from_status

WIB = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 24, tzinfo=UTC)
APRIL = sample("gauges/jakarta-opendata_tinggi-muka-air_2019-04_commonlabs.csv")


def wib(text):
    return datetime.fromisoformat(text).replace(tzinfo=WIB)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Status : Normal", "normal"),
        ("Status : Siaga 3", "siaga3"),
        ("Status : Siaga 1", "siaga1"),
        ("SIAGA IV ", "normal"),
        ("SIAGA II", "siaga2"),
        (2, "siaga2"),
        (4, "normal"),
        ("", None),
        ("rusak", None),
    ],
)
def test_levels_from_the_sources_words(text, level):
    assert level_from_status(text) == level


def test_placeholder_and_disordered_thresholds_mean_none():
    assert Thresholds.of(500, 500, 500) is None
    assert Thresholds.of(180, 160, 200) is None
    assert Thresholds.of(80, 150, 200).level(150) == "siaga2"  # lower bounds are inclusive


def test_dsda_xmldata():
    result = dsda_xml.parse(sample("gauges/dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"), Source("x", NOW))
    assert len(result.events) == 39 and not result.rejected
    assert Counter(e.level for e in result.events) == {"normal": 30, "siaga2": 7, "siaga3": 2}
    katulampa = next(e for e in result.events if e.id == "gauge-dsda-116")
    assert katulampa.hazard is Hazard.FLOOD and katulampa.unit == "cm" and katulampa.value == 40.0
    assert katulampa.time == datetime(2026, 4, 30, 16, 50, tzinfo=UTC)
    assert (katulampa.lat, katulampa.lon) == (-6.633167, 106.836806)
    # The status text agrees with the gate's own thresholds everywhere in this capture.
    assert not [e.id for e in result.events if "level_mismatch" in e.flags]


def test_dsda_history_units_and_station_from_url():
    url = "https://poskobanjir.dsdadki.web.id/Pages/GenerateDataTinggiAir.aspx?IdPintuAir=122&StartDate=06-09-2026"
    data = sample("gauges/dsda-history_id122_2026-09-06_trimmed_fakmalpradana.txt")
    (ev,) = dsda_history.parse(data, Source("h", NOW, url)).events
    # 491 cm against thresholds given in mm (7500/8500/9500): normal, not Siaga 1.
    assert ev.id == "gauge-dsda-122" and ev.value == 491.0 and ev.level == "normal"
    assert ev.time == wib("2026-09-06T01:30:00")
    # At 00:15 WIB the newest point is 00:10's 496 cm.
    (early,) = dsda_history.parse(data, Source("h", wib("2026-09-06T00:15:00"), url)).events
    assert early.value == 496.0


def test_dsda_history_crlf_and_bad_points():
    body = (
        b"2026-09-06 00.00.00,491;2026-09-06 25.00.00,1;garbage;2026-09-06 00.10.00,620;|9500;8500;7500|\r\n\r\n<html>"
    )
    result = dsda_history.parse(body, Source("h", NOW))
    assert [e.value for e in result.events] == [620.0]
    assert "jump" in result.events[0].flags
    assert {r.reason for r in result.rejected} == {Reason.MALFORMED}


def test_jakarta_csv_replays_the_april_2019_flood():
    def katulampa(when):
        events = jakarta_csv.parse(APRIL, Source("csv", wib(when))).events
        return next(e for e in events if e.id == "gauge-jakarta-ps-katulampa-hulu")

    assert katulampa("2019-04-25T18:55:00").level == "normal"
    assert katulampa("2019-04-25T20:25:00").level == "siaga3"
    rising = katulampa("2019-04-25T20:55:00")
    assert (rising.level, rising.value) == ("siaga2", 156.0)
    # A reading never comes from after the clock.
    assert rising.time <= wib("2019-04-25T20:55:00")


def test_jakarta_csv_layout_b_twelve_hour_clock_and_spike():
    data = gzip.decompress(sample("gauges/jakarta-opendata_tinggi-muka-air_2019-02_commonlabs.csv.gz"))
    events = jakarta_csv.parse(data, Source("csv", wib("2019-02-10T23:05:00"))).events
    yos = next(e for e in events if "yos-sudarso" in e.id)
    # 710 mm at 10:50PM, then 2560 mm "Siaga 1" at 11:00PM: a jump the rules must not trust alone.
    assert yos.time == wib("2019-02-10T23:00:00") and yos.value == 256.0 and yos.level == "siaga1"
    assert "jump" in yos.flags
    # "12:..AM" is just after midnight, not noon.
    midnight = jakarta_csv.parse(data, Source("csv", wib("2019-02-11T00:45:00"))).events
    assert all(e.time <= wib("2019-02-11T00:45:00") for e in midnight)


def test_jakarta_csv_bad_rows_are_named_by_line():
    doc = (
        b"nama_pintu_air,lokasi,latitude,longitude,tanggal,tinggi_air,status_siaga\n"
        b'"PA. A",Ciliwung,-6.2,106.8,"2019-04-01 10:00:00",5760,"Status : Normal"\n'
        b'"PA. B",Ciliwung,-6.2,106.8,"2019-04-31 10:00:00",100,"Status : Normal"\n'
        b'"PA. C",Ciliwung,-6.2,106.8,"2019-04-01 10:00:00",tinggi,"Status : Normal"\n'
    )
    result = jakarta_csv.parse(doc, Source("csv", NOW))
    assert [e.place for e in result.events] == ["PA. A"]
    assert [(r.item, r.field) for r in result.rejected] == [("line 3", "tanggal"), ("line 4", "tinggi_air")]


def test_usgs_nwis_gage_height_in_cm():
    result = nwis.parse(sample("gauges/usgs-nwis-iv_latest_2020-02-13_dataretrieval.json"), Source("n", NOW))
    by_id = {e.id: e for e in result.events}
    assert set(by_id) == {"gauge-usgs-01491000", "gauge-usgs-01645000"}
    assert by_id["gauge-usgs-01491000"].level is None  # no thresholds in this format
    assert {r.reason for r in result.rejected} == {Reason.UNSUPPORTED}  # discharge series


# The documented PetaBencana response shape (petabencana-docs routes/floodgauges.md), quantized.
PETA = {
    "statusCode": 200,
    "result": {
        "type": "Topology",
        "transform": {"scale": [0.0001, 0.0001], "translate": [106.0, -7.0]},
        "objects": {
            "output": {
                "type": "GeometryCollection",
                "geometries": [
                    {
                        "type": "Point",
                        "coordinates": [8368, 3668],
                        "properties": {
                            "gaugeid": "TMA00001",
                            "gaugenameid": "Bendung Katulampa",
                            "observations": [
                                {"f1": "2016-12-09T04:00:00+00:00", "f2": 30, "f3": 4, "f4": "SIAGA IV "},
                                {"f1": "2016-12-09T05:00:00+00:00", "f2": 160, "f3": 2, "f4": "SIAGA II "},
                            ],
                        },
                    },
                    {"type": "Point", "coordinates": [1, 1], "properties": {"gaugeid": "TMA00002"}},
                ],
            }
        },
    },
}


def test_petabencana_topojson():
    result = petabencana.parse(json.dumps(PETA).encode(), Source("p", NOW))
    (ev,) = result.events
    assert ev.id == "gauge-petabencana-TMA00001" and ev.level == "siaga2" and ev.value == 160
    assert ev.lat == pytest.approx(-6.6332) and ev.lon == pytest.approx(106.8368)
    assert "jump" in ev.flags
    assert [(r.field, r.reason) for r in result.rejected] == [("observations", Reason.MISSING_FIELD)]


def test_gauge_geojson_format():
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [110.42, -6.97]},
                "properties": {
                    "station": "smg-01",
                    "time": "2026-11-23T10:00:00+07:00",
                    "level_cm": 210,
                    "thresholds_cm": {"siaga3": 150, "siaga2": 200, "siaga1": 250},
                },
            },
            {"type": "Feature", "properties": {"station": "smg-02", "time": "2026-11-23T10:00:00", "level_cm": 1}},
        ],
    }
    result = gauge_geojson.parse(json.dumps(doc).encode(), Source("g", NOW))
    (ev,) = result.events
    assert ev.level == "siaga2" and (ev.lat, ev.lon) == (-6.97, 110.42)
    assert result.rejected[0].field == "time"  # no offset: ambiguous, refused


def test_other_documents_are_refused_by_gauge_parsers():
    usgs = sample("usgs-geojson/usgs_all_hour_2017-12-03_lhayesgolding.geojson")
    for module in (gauge_geojson, petabencana, nwis, jakarta_csv, dsda_history):
        with pytest.raises(FeedError):
            module.parse(usgs, Source("x", NOW))
