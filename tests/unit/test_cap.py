from datetime import datetime

import pytest

from tests.conftest import sample
from warnd.errors import FeedError
from warnd.model import Hazard, MsgType, Reason, Source, Status
from warnd.pollers import cap

# Each real CAP document read at a moment when it was current.
WHEN = {
    "bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml": "2026-02-16T16:00:00Z",
    "cap-other/ipaws-cap12_cancel_2019-04-19_oasiscap.xml": "2019-04-19T18:00:00Z",
    "cap-other/ntwc-cap12_tsunami-cancellation_2013-01-05_oasiscap.xml": "2013-01-05T10:00:00Z",
    "cap-other/nws-cap11_blizzard-warning_2021-12-27_oasiscap.xml": "2021-12-27T12:00:00Z",
    "cap-other/nws-atom-cap11-index_2018-08-15_ibmcap.xml": "2018-08-15T22:57:00Z",
    "cap-other/meteoalarm-legacy-atom_poland_2023-04-28_meteoalarmpy.xml": "2023-04-27T13:00:00Z",
}


def at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse(name, when=None):
    return cap.parse(sample(name), Source(name, at(when or WHEN[name])))


@pytest.mark.parametrize("name", sorted(WHEN))
def test_every_cap_sample_parses_when_current_and_is_rejected_as_expired_later(name):
    current = parse(name)
    assert current.events and not current.rejected
    later = parse(name, "2026-11-24T00:00:00Z")
    expired = [r for r in later.rejected if r.reason is Reason.EXPIRED]
    # A Cancel never expires: it must always be able to withdraw what it names.
    assert all(e.msg_type is MsgType.CANCEL for e in later.events)
    assert len(expired) + len(later.events) == len(current.events)


def test_bmkg_nowcast_values():
    (ev,) = parse("bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml").events
    assert ev.id == "cap-cuaca.ekstrem@bmkg.go.id/2.49.0.1.360.0.2026.02.16.16.36.004"
    assert ev.hazard is Hazard.WEATHER and ev.msg_type is MsgType.ALERT and ev.status is Status.ACTUAL
    assert ev.severity == "moderate" and ev.urgency == "immediate" and ev.certainty == "observed"
    assert ev.event_name == "Hujan Lebat dan Petir" and ev.place == "Banten"
    assert ev.time == at("2026-02-16T16:00:00Z") and ev.expires == at("2026-02-16T19:00:00Z")
    # CAP writes lat,lon; GeoJSON is lon,lat.
    assert ev.area["type"] == "MultiPolygon"
    assert ev.area["coordinates"][0][0][0] == [105.994, -5.981]
    assert -7.5 < ev.lat < -5.5 and 105 < ev.lon < 107


def test_nowcast_rss_index_gives_links():
    result = cap.parse(
        sample("bmkg-nowcast/nowcast-rss_id_2026-02-16_dhanyyudi.xml"), Source("rss", at(WHEN[next(iter(WHEN))]))
    )
    assert not result.events
    assert len(result.links) == 3
    assert result.links[0] == "https://www.bmkg.go.id/alerts/nowcast/id/CBT20260216004_alert.xml"


def test_cancel_without_info_references_the_original():
    (ev,) = parse("cap-other/ipaws-cap12_cancel_2019-04-19_oasiscap.xml").events
    assert ev.msg_type is MsgType.CANCEL
    assert ev.references == ("cap-bbrundage@dps.state.nv.us/AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd",)


def test_tsunami_cancellation_update_references_three_alerts_and_ends():
    (ev,) = parse("cap-other/ntwc-cap12_tsunami-cancellation_2013-01-05_oasiscap.xml").events
    assert ev.hazard is Hazard.TSUNAMI and ev.msg_type is MsgType.UPDATE and ev.ended
    assert len(ev.references) == 3
    assert (ev.lat, ev.lon) == (55.3, -134.9)  # EventLatLon parameter, no area polygon


def test_cap_11_is_read():
    (ev,) = parse("cap-other/nws-cap11_blizzard-warning_2021-12-27_oasiscap.xml").events
    assert ev.severity == "severe" and "Blizzard" in (ev.event_name or "")


def test_atom_index_with_inline_cap():
    result = parse("cap-other/nws-atom-cap11-index_2018-08-15_ibmcap.xml")
    assert len(result.events) == 163
    assert not result.links
    high_wind = next(e for e in result.events if e.event_name == "High Wind Warning")
    assert high_wind.severity == "severe" and high_wind.place == "Eastern Beaufort Sea Coast"


ALERT = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>X-1</identifier><sender>ops@example.id</sender><sent>2026-11-24T08:00:00+07:00</sent>
<status>{status}</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>en-US</language><category>Met</category><event>Heavy rain</event><urgency>Expected</urgency>
<severity>Minor</severity><certainty>Likely</certainty><headline>English</headline>
<area><areaDesc>Circle</areaDesc><circle>-6.2,106.8 10</circle></area></info>
<info><language>id-ID</language><category>Met</category><event>Hujan lebat</event><urgency>Expected</urgency>
<severity>Severe</severity><certainty>Likely</certainty><headline>Bahasa</headline>
<area><areaDesc>Jakarta</areaDesc><polygon>-6.1,106.7 -6.1,106.9 -6.3,106.9 -6.1,106.7</polygon></area></info>
</alert>"""


def test_indonesian_info_is_chosen_and_circles_become_polygons():
    now = at("2026-11-24T01:00:00Z")
    (ev,) = cap.parse(ALERT.format(status="Actual").encode(), Source("x", now)).events
    assert ev.headline == "Bahasa" and ev.severity == "severe" and ev.place == "Jakarta"
    doc = ALERT.format(status="Exercise").replace("id-ID", "fr").replace("<language>en-US", "<language>de")
    (ev,) = cap.parse(doc.encode(), Source("x", now)).events
    assert ev.status is Status.EXERCISE
    assert ev.headline == "English"  # neither id nor en: the first language listed
    assert ev.area["type"] == "Polygon" and len(ev.area["coordinates"][0]) == 33


def test_bad_polygon_rejects_the_alert_with_its_field():
    doc = ALERT.format(status="Actual").replace("-6.3,106.9 -6.1,106.7", "-6.3,106.9 -6.1,999")
    result = cap.parse(doc.encode(), Source("x", at("2026-11-24T01:00:00Z")))
    assert not result.events
    assert result.rejected[0].field == "polygon" and result.rejected[0].reason is Reason.OUT_OF_RANGE


def test_not_cap():
    with pytest.raises(FeedError):
        cap.parse(b"<html><body>maintenance</body></html>", Source("x", at("2026-11-24T01:00:00Z")))
