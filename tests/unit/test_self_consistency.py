"""A document that disagrees with itself is rejected, naming feed, item and field.

Every real document (feeds/samples, feeds/demo) goes through untouched: the tolerances follow
how the redundant fields agree in them. Each bad document here is a real one with one field
contradicted, the change said beside it."""

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES, sample
from warnd.model import Reason, Source
from warnd.pollers import bmkg, inatews, usgs
from warnd.pollers.registry import detect

NOW = datetime(2026, 11, 29, tzinfo=UTC)
REAL = sorted(
    p
    for folder in (SAMPLES, ROOT / "feeds" / "demo")
    for p in folder.rglob("*")
    if p.is_file() and p.suffix not in (".md", ".xsd")
)
# What a real document is still rejected for, the feeds working as meant: BMKG's copies of one
# quake in one list, CAP alerts expired by the test's clock, NWIS series that are not gage height.
AS_MEANT = {Reason.DUPLICATE_ITEM, Reason.EXPIRED, Reason.UNSUPPORTED}


@pytest.mark.parametrize("path", REAL, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_real_document_is_rejected(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    _, result = detect(data, Source("real", NOW, str(path)))
    assert [r for r in result.rejected if r.reason not in AS_MEANT] == []


def test_every_message_of_the_history_files_is_consistent() -> None:
    # A history file keeps only the newest message per quake as an event; each older one must
    # still pass the checks (a bad one would be a rejection above, but say it for the record).
    for name in (
        "last30tsunamievent_2026-08-15_nagekeo-m7.7_ridwaanhall.xml",
        "last30event_2026-09-22_ridwaanhall.xml",
    ):
        result = inatews.parse(sample(f"bmkg-inatews/{name}"), Source("real", NOW))
        assert result.rejected == ()


# --- BMKG TEWS: autogempa, gempaterkini, gempadirasakan, JSON and XML -------------------------

DOMPU = "bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"


def dompu(**changes: str) -> bytes:
    doc = json.loads(sample(DOMPU))
    doc["Infogempa"]["gempa"].update(changes)
    return json.dumps(doc).encode()


def test_tews_datetime_that_disagrees_with_tanggal_jam_is_rejected() -> None:
    # The real DateTime is 2021-10-05T11:00:27+00:00, Tanggal+Jam 05 Okt 2021 18:00:27 WIB: one hour off.
    result = bmkg.parse(dompu(DateTime="2021-10-05T12:00:27+00:00"), Source("bmkg-autogempa", NOW))
    assert result.events == ()
    (r,) = result.rejected
    assert (r.feed, r.item, r.field, r.reason) == ("bmkg-autogempa", "gempa[0]", "DateTime", Reason.INCONSISTENT)
    assert "2021-10-05T12:00:27+00:00" in r.message and "05 Okt 2021 18:00:27 WIB" in r.message
    assert "+3600 s" in r.message


def test_tews_times_a_second_apart_agree_and_two_do_not() -> None:
    (ev,) = bmkg.parse(dompu(DateTime="2021-10-05T11:00:28+00:00"), Source("f", NOW)).events
    assert ev.id == "bmkg-eq-20211005T110028Z"
    (r,) = bmkg.parse(dompu(DateTime="2021-10-05T11:00:29+00:00"), Source("f", NOW)).rejected
    assert r.field == "DateTime" and r.reason is Reason.INCONSISTENT


def test_tews_coordinates_that_disagree_with_lintang_bujur_are_rejected() -> None:
    # Real: Coordinates "-8.15,118.10", Lintang "8.15 LS": the latitude's sign flipped.
    result = bmkg.parse(dompu(Coordinates="8.15,118.10"), Source("bmkg-autogempa", NOW))
    (r,) = result.rejected
    assert (r.item, r.field, r.reason) == ("gempa[0]", "Coordinates", Reason.INCONSISTENT)
    assert r.event_id == "bmkg-eq-20211005T110027Z"
    assert "'8.15,118.10'" in r.message and "-8.15,118.1" in r.message
    # Lintang contradicted instead: the same.
    (r,) = bmkg.parse(dompu(Lintang="9.15 LS"), Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("Coordinates", Reason.INCONSISTENT)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"Coordinates": "95.00,118.10", "Lintang": "95.00 LU"}, "Coordinates"),  # latitude 95
        ({"Magnitude": "15.0"}, "Magnitude"),
    ],
)
def test_tews_impossible_values_are_rejected(changes: dict[str, str], field: str) -> None:
    (r,) = bmkg.parse(dompu(**changes), Source("f", NOW)).rejected
    assert (r.item, r.field, r.reason) == ("gempa[0]", field, Reason.OUT_OF_RANGE)


def test_tews_xml_point_that_disagrees_is_rejected() -> None:
    # Real autogempa.xml of 4 Oct 2021: <coordinates>1.04,126.96</coordinates>, Lintang 1.04 LU.
    data = sample("bmkg-tews/autogempa_2021-10-04_ternate_arraysyams.xml")
    bad = data.replace(b"<coordinates>1.04,126.96</coordinates>", b"<coordinates>1.04,128.96</coordinates>")
    assert bad != data
    (r,) = bmkg.parse(bad, Source("bmkg-autogempa-xml", NOW)).rejected
    assert (r.feed, r.item, r.field, r.reason) == ("bmkg-autogempa-xml", "gempa[0]", "Coordinates", Reason.INCONSISTENT)
    bad = data.replace(b"<DateTime>2021-10-04T10:59:19", b"<DateTime>2021-10-04T10:58:19")
    (r,) = bmkg.parse(bad, Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("DateTime", Reason.INCONSISTENT)


def test_legacy_xml_pair_that_disagrees_with_lintang_is_rejected() -> None:
    data = sample("bmkg-tews/legacy_autogempa_2013-11-08_rezanii.xml")
    result = bmkg.parse(data, Source("f", NOW))
    (good,) = result.events
    lat = f"{abs(good.lat):.2f}".encode()
    assert data.count(b"<Lintang>" + lat) == 1
    bad = data.replace(b"<Lintang>" + lat, b"<Lintang>" + f"{abs(good.lat) + 1:.2f}".encode())
    (r,) = bmkg.parse(bad, Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("Coordinates", Reason.INCONSISTENT)


def test_one_inconsistent_item_of_a_list_is_rejected_the_rest_come_through() -> None:
    doc = json.loads(sample("bmkg-tews/gempadirasakan_2025-12-24_darcien.json"))
    item = doc["Infogempa"]["gempa"][4]
    item["DateTime"] = item["DateTime"].replace("+00:00", "+02:00")  # two hours off
    result = bmkg.parse(json.dumps(doc).encode(), Source("bmkg-gempadirasakan", NOW))
    assert len(result.events) == 14
    (r,) = result.rejected
    assert (r.feed, r.item, r.field, r.reason) == ("bmkg-gempadirasakan", "gempa[4]", "DateTime", Reason.INCONSISTENT)


# --- InaTEWS: datagempa.json and the last30 XML histories ----------------------------------

PD2 = (ROOT / "feeds" / "demo" / "nagekeo" / "2_PD-2.xml").read_bytes()
ENGGANO = "bmkg-inatews/datagempa_2022-02-14_felt_enggano_arraysyams.json"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"<point><coordinates>121.39,-8.41", b"<point><coordinates>121.39,8.41", "Coordinates"),
        (b"<longitude>121.39 BT", b"<longitude>122.39 BT", "Coordinates"),
        (b"Gempa Mag:7.7,", b"Gempa Mag:7.0,", "headline"),
        (b"15-Agu-26 04:58:24 WIB, Lok", b"15-Agu-26 04:59:24 WIB, Lok", "headline"),
        (b"Lok:8.41 LS, 121.39 BT", b"Lok:8.41 LU, 121.39 BT", "headline"),
        (b"Kedlmn:15 Km", b"Kedlmn:150 Km", "headline"),
    ],
)
def test_inatews_message_that_disagrees_with_itself_is_rejected(old: bytes, new: bytes, field: str) -> None:
    assert PD2.count(old) == 1
    result = inatews.parse(PD2.replace(old, new), Source("bmkg-inatews-datagempa", NOW))
    assert result.events == ()
    (r,) = result.rejected
    assert (r.feed, r.item, r.field, r.reason) == (
        "bmkg-inatews-datagempa",
        "info (eventid 20260815050954)",
        field,
        Reason.INCONSISTENT,
    )
    # The id the message itself names (PD-2's origin second); the ledger knows the warning by
    # PD-1's, 20260814T215823Z.
    assert r.event_id == "bmkg-tsunami-20260814T215824Z"


def test_inatews_impossible_values_are_rejected() -> None:
    doc = json.loads(sample(ENGGANO))
    doc["info"]["magnitude"] = "15.0"
    doc["info"]["headline"] = doc["info"]["headline"].replace("Mag:4.2", "Mag:15.0")
    (r,) = inatews.parse(json.dumps(doc).encode(), Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("magnitude", Reason.OUT_OF_RANGE)
    doc = json.loads(sample(ENGGANO))
    doc["info"]["point"]["coordinates"] = "100.93,-95.00"
    doc["info"]["latitude"] = "95.00 LS"
    (r,) = inatews.parse(json.dumps(doc).encode(), Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("Coordinates", Reason.OUT_OF_RANGE)


def test_inatews_json_headline_that_disagrees_is_rejected() -> None:
    doc = json.loads(sample(ENGGANO))
    doc["info"]["magnitude"] = "5.2"  # the headline still says Mag:4.2
    (r,) = inatews.parse(json.dumps(doc).encode(), Source("bmkg-inatews-datagempa", NOW)).rejected
    assert (r.item, r.field, r.reason) == ("info (eventid 20220214125747)", "headline", Reason.INCONSISTENT)
    assert r.event_id == "bmkg-eq-20220214T055747Z"


# --- USGS GeoJSON --------------------------------------------------------------------------

USGS = "usgs-geojson/usgs_2.5_day_2021-11-26T0113Z_dcardosos-f945c0a.geojson"


def test_usgs_title_that_disagrees_with_mag_is_rejected() -> None:
    doc = json.loads(sample(USGS))
    f = doc["features"][0]
    assert f["properties"]["title"].startswith("M 6.1 - ")
    f["properties"]["mag"] = 7.1
    result = usgs.parse(json.dumps(doc).encode(), Source("usgs-2.5-day", NOW))
    assert len(result.events) == len(doc["features"]) - 1
    (r,) = result.rejected
    assert (r.feed, r.item, r.field, r.reason) == (
        "usgs-2.5-day",
        "features[0] (us7000fx45)",
        "title",
        Reason.INCONSISTENT,
    )
    assert r.event_id == "usgs-us7000fx45"


def test_usgs_title_rounding_is_not_a_disagreement() -> None:
    doc = json.loads(sample(USGS))
    doc["features"][0]["properties"]["mag"] = 6.05  # titled "M 6.1": rounded half up
    assert usgs.parse(json.dumps(doc).encode(), Source("f", NOW)).rejected == ()


def test_usgs_update_before_the_quake_is_rejected() -> None:
    doc = json.loads(sample(USGS))
    p = doc["features"][0]["properties"]
    p["updated"] = p["time"] - 60_000
    (r,) = usgs.parse(json.dumps(doc).encode(), Source("f", NOW)).rejected
    assert (r.field, r.reason) == ("updated", Reason.INCONSISTENT)
