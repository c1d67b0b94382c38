from datetime import UTC, datetime

import pytest

from tests.conftest import SAMPLES, sample
from warnd.errors import FeedError
from warnd.model import Hazard, Reason, Source
from warnd.pollers import gdacs, usgs

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize("path", sorted((SAMPLES / "usgs-geojson").iterdir()), ids=lambda p: p.name)
def test_every_usgs_sample_parses(path):
    result = usgs.parse(path.read_bytes(), Source(path.name, NOW))
    assert result.events
    assert {r.reason for r in result.rejected} <= {Reason.UNSUPPORTED}
    for ev in result.events:
        assert ev.id.startswith("usgs-") and ev.sent is not None and ev.sent >= ev.time


def test_usgs_revision_between_two_polls_is_the_same_event_revised():
    early = usgs.parse(sample("usgs-geojson/usgs_2.5_day_2021-11-26T0113Z_dcardosos-f945c0a.geojson"), Source("a", NOW))
    late = usgs.parse(sample("usgs-geojson/usgs_2.5_day_2021-11-26T0628Z_dcardosos-69c02b0.geojson"), Source("a", NOW))
    a = next(e for e in early.events if e.id == "usgs-us7000fx45")
    b = next(e for e in late.events if e.id == "usgs-us7000fx45")
    assert (a.magnitude, b.magnitude) == (6.1, 6.2)
    assert a.revision != b.revision
    assert b.sent > a.sent
    # Myanmar: lon,lat in the GeoJSON, lat,lon here.
    assert 20 < b.lat < 25 and 90 < b.lon < 95


def test_usgs_old_api_uppercase_status_and_null_tsunami():
    events = usgs.parse(sample("usgs-geojson/usgs_significant_month_2014-03-24_petermooney.geojson"), Source("s", NOW))
    assert len(events.events) == 12


def test_usgs_tsunami_flag_is_kept_as_a_flag_never_as_a_tsunami_potential():
    # The 2014 sample holds `tsunami` 1 (Iquique M6.7 among them), 0 never, and null.
    events = usgs.parse(sample("usgs-geojson/usgs_significant_month_2014-03-24_petermooney.geojson"), Source("s", NOW))
    flagged = {e.source_id for e in events.events if usgs.OCEANIC in e.flags}
    assert flagged == {"ci15476961", "usc000ndnj", "usc000n7bm", "nc72182046", "usb000mzmn"}
    assert all(e.tsunami is None for e in events.events)


def test_usgs_preferred_id_switch_is_an_alias():
    doc = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","id":"ak021f9ectas","properties":'
        b'{"mag":4.1,"time":1637904509580,"updated":1637905813606,"ids":",us7000fxtb,ak021f9ectas,",'
        b'"type":"earthquake","status":"reviewed"},"geometry":{"type":"Point","coordinates":[-150.1,61.2,30]}}]}'
    )
    (ev,) = usgs.parse(doc, Source("u", NOW)).events
    assert ev.id == "usgs-ak021f9ectas" and ev.aliases == ("usgs-us7000fxtb",)


def test_usgs_rejects_bad_items_and_keeps_the_rest():
    doc = (
        b'{"type":"FeatureCollection","features":['
        b'{"type":"Feature","id":"a","properties":{"mag":99,"time":1637904509580},"geometry":{"coordinates":[1,2,3]}},'
        b'{"type":"Feature","id":"b","properties":{"mag":3,"time":1637904509580},"geometry":{"coordinates":[1,200,3]}},'
        b'{"type":"Feature","id":"c","properties":{"mag":3,"time":1637904509580,"type":"quarry blast"},'
        b'"geometry":{"coordinates":[1,2,3]}},'
        b'{"type":"Feature","id":"d","properties":{"mag":3,"time":1637904509580},"geometry":{"coordinates":[1,2,3]}}]}'
    )
    result = usgs.parse(doc, Source("u", NOW))
    assert [e.id for e in result.events] == ["usgs-d"]
    assert [(r.field, r.reason) for r in result.rejected] == [
        ("mag", Reason.OUT_OF_RANGE),
        ("geometry.coordinates", Reason.OUT_OF_RANGE),
        ("type", Reason.UNSUPPORTED),
    ]


@pytest.mark.parametrize("path", sorted((SAMPLES / "gdacs-rss").iterdir()), ids=lambda p: p.name)
def test_every_gdacs_sample_parses(path):
    result = gdacs.parse(path.read_bytes(), Source(path.name, NOW))
    assert len(result.events) >= 10
    assert {r.reason for r in result.rejected} <= {Reason.DUPLICATE_ITEM}


def test_gdacs_values():
    result = gdacs.parse(sample("gdacs-rss/gdacs_rss_2019-12-30_exxamalte.xml"), Source("g", NOW))
    tc = next(e for e in result.events if e.id == "gdacs-TC1000643")
    assert tc.hazard is Hazard.WEATHER and tc.level == "green" and (tc.lat, tc.lon) == (-19.4, 59.8)
    assert tc.place == "CALVINIA-19, Mauritius"
    archive = gdacs.parse(
        sample("gdacs-rss/gdacs_rss_archive-orange-india_2016-04-09_erectus-rss.xml"), Source("g", NOW)
    )
    eq = next(e for e in archive.events if e.id == "gdacs-EQ1077755")
    assert eq.hazard is Hazard.EARTHQUAKE and eq.magnitude == 6.7 and eq.level == "red"


def test_gdacs_refuses_other_rss():
    with pytest.raises(FeedError):
        gdacs.parse(sample("bmkg-nowcast/nowcast-rss_id_2026-02-16_dhanyyudi.xml"), Source("g", NOW))


def test_gdacs_earthquake_names_its_usgs_event_as_an_alias():
    result = gdacs.parse(sample("gdacs-rss/gdacs_rss_2019-12-30_exxamalte.xml"), Source("g", NOW))
    quakes = {e.id: e.aliases for e in result.events if e.hazard is Hazard.EARTHQUAKE}
    assert quakes == {"gdacs-EQ1199929": ("usgs-us70006rx5",), "gdacs-EQ1199647": ("usgs-us70006r3m",)}
    assert all(not e.aliases for e in result.events if e.hazard is not Hazard.EARTHQUAKE)
