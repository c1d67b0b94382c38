import json
from datetime import UTC, datetime

import pytest

from tests.conftest import SAMPLES, sample
from warnd.errors import FeedError
from warnd.model import Hazard, MsgType, Source, Status
from warnd.pollers import bmkg_realtime, inatews

NOW = datetime(2026, 11, 24, tzinfo=UTC)
INATEWS = sorted(p for p in (SAMPLES / "bmkg-inatews").iterdir() if not p.name.startswith(("gempaQL", "live30")))


def parse(name, module=inatews):
    return module.parse(sample("bmkg-inatews/" + name), Source(name, NOW))


@pytest.mark.parametrize("path", INATEWS, ids=lambda p: p.name)
def test_every_inatews_sample_parses(path):
    result = inatews.parse(path.read_bytes(), Source(path.name, NOW))
    assert result.events and not result.rejected
    for ev in result.events:
        assert abs(ev.lat) <= 90 and abs(ev.lon) <= 180 and 0 < ev.magnitude < 10
        assert ev.sent is not None and ev.sent >= ev.time


def test_pd1_is_a_tsunami_event_with_deduplicated_zones():
    (ev,) = parse("datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json").events
    assert ev.hazard is Hazard.TSUNAMI and ev.stage == "PD-1" and ev.msg_type is MsgType.ALERT
    assert ev.status is Status.ACTUAL
    # point is "98.39,-0.93" (lon,lat); the lettered text says 0.93 LS, 98.39 BT.
    assert (ev.lat, ev.lon) == (-0.93, 98.39)
    assert ev.magnitude == 7.3 and ev.depth_km == 84
    assert ev.time == datetime(2023, 4, 24, 20, 0, 57, tzinfo=UTC)
    assert ev.sent == datetime(2023, 4, 24, 20, 5, 33, tzinfo=UTC)
    # The two wzarea entries are identical: one zone, with its arrival time in UTC.
    assert len(ev.zones) == 1
    zone = ev.zones[0]
    assert (zone.province, zone.district, zone.level) == ("SUMUT", "NIAS-SELATAN PULAU TANABALA", "waspada")
    assert zone.eta == datetime(2023, 4, 24, 20, 9, 54, tzinfo=UTC)
    assert ev.level == "waspada" and ev.tsunami is True


def test_felt_message_of_the_same_quake_is_an_earthquake_with_the_tews_id():
    (felt,) = parse("datagempa_2023-04-25_felt_mentawai-m7.3_arraysyams.json").events
    (warn,) = parse("datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json").events
    assert felt.hazard is Hazard.EARTHQUAKE and felt.time == warn.time
    assert felt.id == "bmkg-eq-20230424T200057Z"
    assert felt.id != warn.id


def test_exercise_is_kept_apart():
    (ev,) = parse("datagempa_2021-02-05_TES_PD-1_jayapura_arraysyams.json").events
    assert ev.status is Status.EXERCISE
    assert ev.id.endswith("-exercise")
    assert ev.hazard is Hazard.TSUNAMI and ev.magnitude == 8.5


def test_exercise_marked_only_by_iowave_id_is_still_an_exercise():
    doc = json.loads(sample("bmkg-inatews/datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json"))
    doc["info"]["eventid"] = "iowave_20230425030533"
    (ev,) = inatews.parse(json.dumps(doc).encode(), Source("f", NOW)).events
    assert ev.status is Status.EXERCISE


def test_foreign_quake_west_longitude():
    (ev,) = parse("datagempa_2023-06-16_M5_fiji_arraysyams.json").events
    assert (ev.lat, ev.lon) == (-22.82, -176.44)
    assert ev.tsunami is False


def test_history_file_keeps_the_latest_stage_per_quake_and_fixes_swapped_gauges():
    events = parse("last30tsunamievent_2026-08-15_nagekeo-m7.7_ridwaanhall.xml").events
    nagekeo = next(e for e in events if e.time.date().isoformat() == "2026-08-14")
    assert nagekeo.stage == "PD-4" and nagekeo.ended and nagekeo.magnitude == 7.7
    assert len(events) == 2  # Nagekeo and an earlier event's PD-4


def test_obsarea_swapped_coordinates_are_repaired():
    data = sample("bmkg-inatews/last30tsunamievent_2026-08-15_nagekeo-m7.7_ridwaanhall.xml").decode()
    # Keep only the PD-3.1 message, whose obsarea has latitude and longitude swapped.
    from xml.etree import ElementTree as ET

    root = ET.fromstring(data)
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    for info in list(root.findall(ns + "info")):
        if info.findtext(ns + "subject") != "Warning Tsunami PD-3.1":
            root.remove(info)
    (ev,) = inatews.parse(ET.tostring(root), Source("f", NOW)).events
    assert ev.stage == "PD-3.1" and ev.observations
    for o in ev.observations:
        assert -15 < o.lat < 5 and 110 < o.lon < 130, o
        assert 0 <= o.height_m < 5


def test_not_inatews_is_a_feed_error():
    with pytest.raises(FeedError):
        inatews.parse(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"), Source("f", NOW))


def test_live30event_times_are_utc_and_ids_are_aliases():
    events = parse("live30event_2026-09-26_ridwaanhall.xml", bmkg_realtime).events
    assert len(events) == 3
    first = events[0]
    assert first.time == datetime(2026, 9, 26, 8, 10, 21, tzinfo=UTC)
    assert (first.lat, first.lon, first.magnitude, first.depth_km) == (-8.16, 120.23, 3.2, 10.0)
    assert first.aliases == ("bmkg-rt-bmg2026swgz",)
    assert "automatic" in first.flags
    assert any(e.place == "New Caledonia" for e in events)


def test_gempaql_strings_become_numbers():
    (ev,) = parse("gempaQL_2022-09-25_arraysyams.geojson", bmkg_realtime).events
    assert ev.time == datetime(2022, 9, 25, 13, 3, 33, tzinfo=UTC)
    assert (ev.lat, ev.lon) == (0.3193, 122.0909)
    assert ev.magnitude == 2.6 and ev.depth_km == 153.2
