"""The CAP 1.2 alerts warnd issues, as a consumer reads them: the real documents of feeds/samples
and feeds/demo (the Nagekeo tsunami sequence, a Mentawai tsunami warning, BMKG quakes, the DSDA
water gates, a BMKG nowcast) through the real pipeline and the shipped configuration, each alert
checked against the OASIS schema and read back by an independent CAP library (cap-tools, xsdata
bindings of the standard): both language blocks, the grading table, an expiry, and regions as
polygons that hold where the region's people live."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from cap_tools.models import Alert
from lxml import etree
from xsdata.formats.dataclass.parsers import XmlParser

from tests.conftest import REGIONS
from warnd.cap import MAX_POINTS, grade
from warnd.clock import FixedClock
from warnd.geo import read_points, representative_point
from warnd.model import HazardEvent, Source, Warning
from warnd.pollers.registry import FORMATS
from warnd.runtime.build import Bundle, build
from warnd.runtime.ingest import Ingest
from warnd.store import db

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "feeds" / "samples"
SCHEMA = SAMPLES / "cap-other" / "schema" / "CAP-v1.2.xsd_oasis_via-ibmcap.xsd"
NAGEKEO = sorted((ROOT / "feeds" / "demo" / "nagekeo").glob("*.xml"))

# (catalogue feed id, document, when it was polled): the catalogue's own feed ids, so that the
# alerts credit the feed's attribution as the daemon's would.
DOCUMENTS: list[tuple[str, Path, datetime]] = [
    *(
        ("bmkg-inatews-last30tsunamievent", path, datetime(2026, 8, 14, 22, 5, tzinfo=UTC) + timedelta(minutes=5 * i))
        for i, path in enumerate(NAGEKEO)
    ),
    (
        "bmkg-inatews-datagempa",
        SAMPLES / "bmkg-inatews" / "datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json",
        datetime(2023, 4, 24, 20, 10, tzinfo=UTC),
    ),
    (
        "bmkg-autogempa",
        SAMPLES / "bmkg-tews" / "autogempa_2024-01-10_sumedang_aldii.json",
        datetime(2024, 1, 10, 13, 30, tzinfo=UTC),
    ),
    (
        "bmkg-autogempa",
        SAMPLES / "bmkg-tews" / "autogempa_2021-10-05_dompu_arraysyams.json",
        datetime(2021, 10, 5, 11, 10, tzinfo=UTC),
    ),
    (
        "bmkg-gempaterkini",
        SAMPLES / "bmkg-tews" / "gempaterkini_2021-12-14_flores-m7.4_arraysyams.json",
        datetime(2021, 12, 14, 6, 0, tzinfo=UTC),
    ),
    (
        "bmkg-gempadirasakan",
        SAMPLES / "bmkg-tews" / "gempadirasakan_2025-12-24_darcien.json",
        datetime(2025, 12, 24, 6, 0, tzinfo=UTC),
    ),
    (
        "dsda-xmldata",
        SAMPLES / "gauges" / "dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml",
        datetime(2026, 4, 30, 17, 0, tzinfo=UTC),
    ),
    (
        "bmkg-nowcast",
        SAMPLES / "bmkg-nowcast" / "nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml",
        datetime(2026, 2, 16, 16, 0, tzinfo=UTC),
    ),
]


@dataclasses.dataclass
class Issued:
    warning: Warning
    event: dict[str, Any]
    cap: str


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build(ROOT / "config" / "warnd.yaml", with_senders=False)


@pytest.fixture(scope="module")
def issued(bundle, tmp_path_factory) -> list[Issued]:
    conn = db.connect(tmp_path_factory.mktemp("cap") / "w.db")
    clock = FixedClock(DOCUMENTS[0][2])
    # `replay`: a document is current at the time it was polled, however old the sample.
    ingest = Ingest(conn, clock, lambda: bundle, replay=True)
    for feed, path, when in DOCUMENTS:
        clock.set(when)
        spec = next(f.spec for f in bundle.config.feeds if f.spec.id == feed)
        # Polled from the catalogue's URL, as the daemon does: links in a document resolve there.
        result = FORMATS[spec.format](path.read_bytes(), Source(feed, when, spec.url))
        assert result.events, path
        ingest.handle(feed, result)
    rows = conn.execute("SELECT data, event, cap FROM warnings ORDER BY rowid").fetchall()
    conn.close()
    return [Issued(Warning.from_json(json.loads(r[0])), json.loads(r[1]), r[2]) for r in rows]


def read(cap: str) -> Alert:
    return XmlParser().from_string(cap, Alert)


def ring(text: str) -> list[tuple[float, float]]:
    """A CAP polygon as (lat, lon) pairs."""
    return [(float(la), float(lo)) for la, lo in (p.split(",") for p in text.split())]


def test_the_samples_make_alerts_of_every_hazard(issued):
    hazards = {i.event["hazard"] for i in issued}
    assert {"tsunami", "earthquake", "flood", "weather"} <= hazards, hazards
    assert {i.warning.kind.value for i in issued} >= {"new", "update", "all_clear"}


def test_every_alert_is_valid_cap_and_reads_back_with_two_languages(issued, bundle):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    for i in issued:
        assert schema.validate(etree.fromstring(i.cap.encode())), (i.warning.id, schema.error_log.last_error)
        alert = read(i.cap)
        assert [info.language for info in alert.infos] == ["id-ID", "en-US"]
        ident, en = alert.infos
        # CAP 1.2 3.2.2: the blocks differ by language only; a consumer of either targets alike.
        for name in ("categories", "urgency", "severity", "certainty", "effective", "expires", "areas"):
            assert getattr(ident, name) == getattr(en, name), (i.warning.id, name)
        assert ident.event != en.event
        assert ident.description and en.description and ident.description != en.description
        assert ident.sender_name == en.sender_name == bundle.config.file.cap.sender_name
        assert ident.expires is not None and ident.expires.to_datetime() > alert.sent.to_datetime()
        # The feed catalogue's credit line travels with the alert.
        attribution = bundle.attribution(i.event["feed"])
        assert attribution and attribution in (alert.source or "")
        (area,) = ident.areas
        codes = [g.value.value for g in area.geocodes if g.value_name.value == "KEMENDAGRI"]
        assert codes == [r.code for r in i.warning.regions]


def test_tsunami_alerts_say_tsunami_and_follow_the_grading_table(issued):
    tsunami = [i for i in issued if i.event["hazard"] == "tsunami"]
    assert len(tsunami) >= 10
    for i in tsunami:
        ident, en = read(i.cap).infos
        # InaTEWS names the cause ("Gempabumi"); the alert names the hazard warned of.
        assert (ident.event, en.event) == ("Peringatan Dini Tsunami", "Tsunami Warning")
        g = (ident.severity.value, ident.urgency.value, ident.certainty.value)
        if i.warning.kind.value in ("cancel", "all_clear") or i.event["ended"]:
            assert g == ("Minor", "Past", "Observed")
            continue
        assert g != ("Unknown", "Unknown", "Unknown")
        if i.event["observations"]:
            assert g[2] == "Observed"
        elif i.warning.level == "waspada":
            assert g == ("Moderate", "Expected", "Likely")
        elif i.warning.level == "siaga":
            assert g == ("Severe", "Immediate", "Likely")
        if i.warning.level in ("awas", "siaga"):
            assert "evacuate" in (en.instruction or "").lower()
            assert "evakuasi" in (ident.instruction or "").lower()
        if i.event["feed"] == "bmkg-inatews-last30tsunamievent":
            # InaTEWS' own instruction, in its language, and its shakemap beside the document.
            assert "Ikuti arahan peringatan dini TSUNAMI" in (ident.instruction or "")
            assert "Ikuti arahan" not in (en.instruction or "")
            assert ident.web == en.web and (ident.web or "").endswith(".mmi.jpg")
    levels = {i.warning.level for i in tsunami}
    assert {"siaga", "waspada"} <= levels
    # No real document here has an Awas zone: the table is asked about the real PD-2 event with
    # its level at Awas, and about the same event before any gauge measured the wave.
    pd2 = next(i for i in tsunami if i.event["stage"] == "PD-2" and i.warning.level == "waspada")
    awas = dataclasses.replace(pd2.warning, level="awas")
    event = HazardEvent.from_json(pd2.event)
    assert dataclasses.astuple(grade(awas, event)) == ("Extreme", "Immediate", "Observed")
    assert grade(pd2.warning, event).certainty != "Observed"


def test_quakes_gauges_and_weather_are_graded(issued):
    for i in issued:
        info = read(i.cap).infos[0]
        g = (info.severity.value, info.urgency.value, info.certainty.value)
        hazard = i.event["hazard"]
        if hazard == "earthquake":
            assert g[1:] == ("Past", "Observed") and g[0] != "Unknown"
            if i.event["feed"] == "bmkg-autogempa":
                assert info.web and info.web.startswith("https://data.bmkg.go.id/DataMKG/TEWS/")
            m = i.event["magnitude"]
            if not i.event["felt"]:
                assert g[0] == ("Extreme" if m >= 7 else "Severe" if m >= 6 else "Moderate" if m >= 5 else "Minor")
        elif hazard == "flood" and i.warning.kind.value != "all_clear":
            expected = {"siaga1": "Extreme", "siaga2": "Severe", "siaga3": "Moderate", "normal": "Minor"}
            assert g[0] == expected[i.warning.level] and g[2] == "Observed"
        elif hazard == "weather":
            # The nowcast's own values, passed on.
            assert g == (i.event["severity"].capitalize(), i.event["urgency"].capitalize(), "Observed")
            assert info.event == "Hujan Lebat dan Petir"
            assert info.web and info.web.startswith("https://nowcasting.bmkg.go.id/")


def test_regions_are_polygons_within_budget_that_hold_their_people(issued, bundle):
    points = read_points(REGIONS / "district-points.csv")
    by_regency: dict[str, list[tuple[float, float]]] = {}
    for code, lat, lon in zip(points.codes, points.lat.tolist(), points.lon.tolist(), strict=True):
        by_regency.setdefault(code.rsplit(".", 1)[0], []).append((lat, lon))
    checked = 0
    for i in issued:
        alert = read(i.cap)
        (area,) = alert.infos[0].areas
        if not i.warning.regions:
            continue
        assert area.polygons, i.warning.id
        source = sum(len(p[0]) for p in (i.event.get("area") or {}).get("coordinates") or ())
        total = sum(len(ring(p)) for info in alert.infos for a in info.areas for p in a.polygons)
        assert total <= MAX_POINTS + 2 * (source + 1), (i.warning.id, total)
        shapes = []
        for text in area.polygons:
            pts = ring(text)
            assert len(pts) >= 4 and pts[0] == pts[-1]
            assert all(len(p.split(",")[0].split(".")[-1]) <= 4 for p in text.split())
            poly = shapely.Polygon([(lo, la) for la, lo in pts])
            assert poly.is_valid, (i.warning.id, shapely.is_valid_reason(poly))
            shapes.append(poly)
        # The epicentre is no longer the only area of a warning that names regions.
        assert not area.circles
        covered = shapely.union_all(shapes)
        for region in i.warning.regions:
            if region.level != "regency":
                continue
            geom = bundle.regions.geometry(region.code)
            largest = max(shapely.get_parts(geom), key=lambda p: p.area)
            lat, lon = representative_point(largest)
            assert covered.contains(shapely.Point(lon, lat)), (i.warning.id, region.code)
            # Where its people live: every kecamatan of the regency, the seafront and the islets
            # too (a simplified coast must not cut them off).
            people = by_regency.get(region.code, [])
            outside = [p for p in people if not covered.contains(shapely.Point(p[1], p[0]))]
            assert people and not outside, (i.warning.id, region.code, outside)
            checked += 1
    assert checked >= 20
