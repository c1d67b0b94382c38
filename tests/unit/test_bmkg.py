from datetime import UTC, datetime

import pytest

from tests.conftest import SAMPLES, sample
from warnd.errors import FeedError
from warnd.model import Hazard, Reason, Source
from warnd.pollers import bmkg

NOW = datetime(2026, 11, 24, tzinfo=UTC)
TEWS = sorted((SAMPLES / "bmkg-tews").iterdir())


@pytest.mark.parametrize("path", TEWS, ids=lambda p: p.name)
def test_every_tews_sample_parses(path):
    result = bmkg.parse(path.read_bytes(), Source(path.name, NOW))
    assert result.events, f"{path.name} gave no events"
    for ev in result.events:
        assert ev.hazard is Hazard.EARTHQUAKE
        assert ev.time.tzinfo is not None
        # Every sample is an Indonesian-region quake list: positions must land in the region's
        # box, which catches a lat/lon swap in any era's format.
        assert -15 <= ev.lat <= 10, (path.name, ev.id, ev.lat)
        assert 90 <= ev.lon <= 145, (path.name, ev.id, ev.lon)
        assert 0 < ev.magnitude < 10
    # Nothing was rejected in these real documents except copies of the same quake.
    assert {r.reason for r in result.rejected} <= {Reason.DUPLICATE_ITEM}


def test_autogempa_json_felt_event():
    (ev,) = bmkg.parse(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"), Source("f", NOW)).events
    assert ev.time == datetime(2024, 1, 10, 13, 17, 26, tzinfo=UTC)
    assert (ev.lat, ev.lon) == (-6.83, 107.95)
    assert ev.magnitude == 2.8
    assert ev.depth_km == 6.0
    # "Gempa ini dirasakan untuk diteruskan pada masyarakat" says nothing about a tsunami.
    assert ev.tsunami is None
    assert [(f.mmi, f.mmi_max, f.place) for f in ev.felt] == [("III", 3, "Sumedang Utara")]
    assert ev.source_id == "20240110201726"


def test_autogempa_current_xml():
    (ev,) = bmkg.parse(sample("bmkg-tews/autogempa_2021-10-04_ternate_arraysyams.xml"), Source("f", NOW)).events
    assert ev.time == datetime(2021, 10, 4, 10, 59, 19, tzinfo=UTC)
    assert (ev.lat, ev.lon) == (1.04, 126.96)
    assert ev.magnitude == 4.7 and ev.depth_km == 17.0
    assert ev.place == "Pusat gempa berada di laut 54 km BaratLaut Ternate"


def test_gempaterkini_flores_tsunami_potential_and_copies():
    result = bmkg.parse(sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("f", NOW))
    main = [e for e in result.events if e.magnitude and e.magnitude >= 7]
    # One quake, although the list holds three M7.4 rows and the preliminary M7.5.
    assert len(main) == 1
    (ev,) = main
    assert ev.magnitude == 7.4
    assert ev.tsunami is True
    assert (ev.lat, ev.lon) == (-7.59, 122.24)
    assert ev.time == datetime(2021, 12, 14, 3, 20, 23, tzinfo=UTC)
    assert all(e.tsunami is False for e in result.events if e is not ev)
    dropped = [r for r in result.rejected if r.reason is Reason.DUPLICATE_ITEM]
    assert len(dropped) == 3
    assert any("M7.5" in r.message for r in dropped)


def test_gempadirasakan_lists_and_utc_date_rollover():
    events = bmkg.parse(sample("bmkg-tews/gempadirasakan_2025-12-24_darcien.json"), Source("f", NOW)).events
    assert len(events) == 15
    by_id = {e.id: e for e in events}
    # Tanggal 21 Des 2025 05:59 WIB is 20 Dec in UTC.
    ev = by_id["bmkg-eq-20251220T225921Z"]
    assert ev.magnitude == 4.7
    ev = by_id["bmkg-eq-20251221T122146Z"]
    places = [f.place for f in ev.felt]
    assert places == ["Manado", "Bitung", "Minahasa", "Minahasa Utara", "Tomohon", "Ternate"]
    assert ev.felt[-1].mmi == "II-III" and (ev.felt[-1].mmi_min, ev.felt[-1].mmi_max) == (2, 3)


def test_legacy_xml_is_lon_lat_and_dd_mon_yy():
    (ev,) = bmkg.parse(sample("bmkg-tews/legacy_autogempa_2013-11-08_rezanii.xml"), Source("f", NOW)).events
    # <coordinates>126.40,3.90</coordinates> is lon,lat in the legacy feed.
    assert (ev.lat, ev.lon) == (3.90, 126.40)
    assert ev.magnitude == 5.0 and ev.depth_km == 24.0
    assert ev.time == datetime(2013, 11, 7, 18, 38, 53, tzinfo=UTC)
    assert ev.tsunami is False
    assert ev.place == "63 km BaratDaya KEP-TALAUD-SULUT"


def test_legacy_felt_formats():
    events = bmkg.parse(sample("bmkg-tews/legacy_gempadirasakan_2013-11-07_rezanii.xml"), Source("f", NOW)).events
    first = events[0]
    assert first.time == datetime(2013, 11, 7, 10, 47, 32, tzinfo=UTC)
    assert (first.lat, first.lon) == (-1.55, 138.83)
    assert [(f.mmi, f.place) for f in first.felt] == [("III", "Sarmi")]
    (last,) = bmkg.parse(sample("bmkg-tews/legacy_lastgempadirasakan_2013-11-07_rezanii.xml"), Source("f", NOW)).events
    # "Sentani II-III MMI": place first in this one.
    assert [(f.mmi, f.place) for f in last.felt] == [("II-III", "Sentani")]


def _doc(**fields):
    base = {
        "Tanggal": "10 Jan 2024",
        "Jam": "20:17:26 WIB",
        "DateTime": "2024-01-10T13:17:26+00:00",
        "Coordinates": "-6.83,107.95",
        "Lintang": "6.83 LS",
        "Bujur": "107.95 BT",
        "Magnitude": "2.8",
        "Kedalaman": "6 km",
        "Wilayah": "x",
        "Potensi": "",
        "Dirasakan": "-",
    }
    base.update(fields)
    import json

    return json.dumps({"Infogempa": {"gempa": [{k: v for k, v in base.items() if v is not None}]}}).encode()


def test_sign_error_in_pair_is_rejected_not_guessed():
    # BMKG once wrote a longitude's sign wrong and fixed it in place later; until then the item
    # disagrees with itself, and which half is right cannot be told from it.
    result = bmkg.parse(_doc(Coordinates="-6.83,-107.95"), Source("f", NOW))
    assert result.events == ()
    (r,) = result.rejected
    assert (r.field, r.reason, r.event_id) == ("Coordinates", Reason.INCONSISTENT, "bmkg-eq-20240110T131726Z")


def test_datetime_holding_access_date_is_rejected():
    result = bmkg.parse(_doc(DateTime="2024-01-12T02:00:00+00:00"), Source("f", NOW))
    assert result.events == ()
    (r,) = result.rejected
    assert (r.field, r.reason) == ("DateTime", Reason.INCONSISTENT)
    assert "2024-01-12T02:00:00+00:00" in r.message and "10 Jan 2024 20:17:26 WIB" in r.message


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"Magnitude": "77"}, "Magnitude", Reason.OUT_OF_RANGE),
        ({"Magnitude": None}, "Magnitude", Reason.MISSING_FIELD),
        ({"Magnitude": "besar"}, "Magnitude", Reason.MALFORMED),
        ({"Tanggal": "31 Feb 2024", "DateTime": None}, "Tanggal", Reason.MALFORMED),
        ({"Tanggal": "10 Jan 2031", "DateTime": None}, "Tanggal", Reason.FUTURE_TIME),
        ({"Coordinates": "NaN,107.9", "Lintang": None, "Bujur": None}, "Coordinates", Reason.OUT_OF_RANGE),
        ({"Coordinates": "-6.83", "Lintang": None, "Bujur": None}, "Coordinates", Reason.MALFORMED),
        ({"Kedalaman": "-300 km"}, "Kedalaman", Reason.OUT_OF_RANGE),
    ],
)
def test_bad_items_are_rejected_with_field_and_reason(fields, field, reason):
    result = bmkg.parse(_doc(**fields), Source("demo-feed", NOW))
    assert result.events == ()
    (r,) = result.rejected
    assert (r.feed, r.item, r.field, r.reason) == ("demo-feed", "gempa[0]", field, reason)


def test_one_bad_item_does_not_stop_the_rest():
    import json

    doc = json.loads(sample("bmkg-tews/gempaterkini_2023-07-12_muhk01.json"))
    doc["Infogempa"]["gempa"][3]["Magnitude"] = "-"
    result = bmkg.parse(json.dumps(doc).encode(), Source("f", NOW))
    assert len(result.events) == 14
    assert [r.item for r in result.rejected] == ["gempa[3]"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xef\xbb\xbf",
        b"hello",
        b"{",
        b'{"Infogempa": 3}',
        b"<Infogempa>",
        b"<rss/>",
        b"\xff\xfe{}",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Infogempa>&a;</Infogempa>',
    ],
)
def test_broken_documents_raise_feed_error(data):
    with pytest.raises(FeedError):
        bmkg.parse(data, Source("f", NOW))


def test_revision_hash_is_stable_across_releases():
    # The revision the first release stored for this quake. If a change to HazardEvent alters it,
    # every event in an upgraded state directory looks revised and gets a correction posted.
    (ev,) = bmkg.parse(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"), Source("f", NOW)).events
    assert ev.revision == "532778d960b2d0e2"
    # New fields count only once set.
    from dataclasses import replace

    assert replace(ev, stage="PD-1").revision != ev.revision
    assert replace(ev, sent=NOW, aliases=("x",)).revision == ev.revision
