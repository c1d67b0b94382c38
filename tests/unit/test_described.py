"""BMKG nowcasts: the places a description names, united with what the polygons give."""

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.conftest import sample
from warnd.config.schema import Rule
from warnd.model import ChangeKind, EventChange, Hazard, HazardEvent, MsgType, Source, Status
from warnd.pollers import cap
from warnd.rules.compiled import compile_rules
from warnd.rules.described import described, listed_places
from warnd.rules.engine import evaluate

NOW = datetime(2026, 2, 16, 16, 0, tzinfo=UTC)
BANTEN = "bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"


@pytest.fixture(scope="module")
def banten():
    (ev,) = cap.parse(sample(BANTEN), Source("bmkg-nowcast", NOW)).events
    return ev


def rss_descriptions() -> dict[str, str]:
    root = ET.fromstring(sample("bmkg-nowcast/nowcast-rss_id_2026-02-16_dhanyyudi.xml"))
    return {i.findtext("title"): i.findtext("description") for i in root.iter("item")}


def weather(description: str, place: str | None = None) -> HazardEvent:
    return HazardEvent(
        id="cap-x",
        feed="bmkg-nowcast",
        feed_format="cap",
        hazard=Hazard.WEATHER,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=NOW,
        description=description,
        place=place,
    )


def rule(level: str) -> Rule:
    return Rule.model_validate(
        {"id": f"cuaca-{level}", "match": {"hazard": "weather"}, "where": {"level": level}, "then": {"accounts": ["a"]}}
    )


# The Banten nowcast's kecamatan, as read within Banten (codes from config/regions/codes.csv).
BANTEN_PLACES = {
    "Bojonegara": "36.04.07",  # Kabupaten Serang
    "Cibeber": "36.72.01",  # Cilegon's, under the first polygon; Lebak and Cianjur have one too
    "Cipanas": "36.02.04",  # Lebak's (Cianjur's is in Jawa Barat)
    "Citangkil": "36.72.08",
    "Ciwandan": "36.72.04",
    "Curug Bitung": "36.02.23",  # Curugbitung, Lebak
    "Gerogol": "36.72.06",
    "Jombang": "36.72.05",  # Cilegon's kecamatan, not Kabupaten Jombang (Jawa Timur)
    "Kasemen": "36.73.02",  # Kota Serang
    "Kramatwatu": "36.04.05",
    "Lebakgedong": "36.02.25",
    "Muncang": "36.02.05",
    "Pontang": "36.04.12",
    "Pulo Ampel": "36.04.08",
    "Pulomerak": "36.72.03",
    "Purwakarta": "36.72.07",  # Cilegon's kecamatan, not Kabupaten Purwakarta (Jawa Barat)
    "Sajira": "36.02.12",
    "Sobang": "36.02.22",  # Lebak's, under the second polygon; Pandeglang has one too
    "Tanara": "36.04.14",
    "Tirtayasa": "36.04.13",
}


def test_the_banten_nowcast_names_twenty_kecamatan_of_banten(index, banten):
    assert listed_places(banten.description) == tuple(BANTEN_PLACES)
    d = described(index, banten)
    assert d.province.code == "36"
    assert {name: p.region.code for name, p in d.places} == BANTEN_PLACES
    assert d.unmapped == ()


def test_the_polygons_alone_miss_both_serangs_the_union_has_them(index, banten):
    """The two polygons overlap Lebak and Cilegon; the description also names kecamatan of
    Kabupaten Serang (Bojonegara, Kramatwatu, Pontang, ...) and Kota Serang (Kasemen)."""
    polygon = [h.region.code for h in index.intersecting(banten.area, "regency")]
    assert polygon == ["36.02", "36.72"]
    rs = compile_rules([rule("regency"), rule("district")], 2.0, ["a"])
    matches, _ = evaluate(rs, index, EventChange(ChangeKind.NEW, banten))
    by_rule = {m.rule: m for m in matches}
    regencies = [r.code for r in by_rule["cuaca-regency"].regions]
    assert regencies[:2] == polygon  # the polygons' order first (largest overlap)
    assert sorted(regencies) == ["36.02", "36.04", "36.72", "36.73"]
    # No district polygons are loaded: at district level the names alone say where.
    assert sorted(r.code for r in by_rule["cuaca-district"].regions) == sorted(BANTEN_PLACES.values())
    assert by_rule["cuaca-regency"].unmapped_places == ()


def test_a_name_that_is_a_kecamatan_and_another_regency_is_read_in_its_province(index):
    text = rss_descriptions()["Hujan Lebat disertai Petir di Jawa Tengah"]
    assert listed_places(text) == ("Wiradesa", "Kajen", "Karanganyar", "Pekalongan")
    d = described(index, weather(text))
    assert d.province.code == "33"  # from "di sebagian wilayah Jawa Tengah"
    got = {name: p.region.code for name, p in d.places}
    # Karanganyar beside Wiradesa and Kajen is Kabupaten Pekalongan's kecamatan, not the
    # regency near Surakarta; Pekalongan is the kota (a kabupaten of that name exists too).
    assert got == {"Wiradesa": "33.26.16", "Kajen": "33.26.08", "Karanganyar": "33.26.07", "Pekalongan": "33.75"}


def test_sumatera_utara_nowcast(index):
    text = rss_descriptions()["Hujan Lebat disertai Petir di Sumatera Utara"]
    d = described(index, weather(text))
    assert d.province.code == "12"
    assert {name: p.region.code[:5] for name, p in d.places} == {
        "Alasa": "12.24",  # Nias Utara
        "Amandraya": "12.14",  # Nias Selatan
        "Aramo": "12.14",
        "Bandar Pasir Mandoge": "12.09",  # Asahan
    }


def test_unknown_names_are_kept_for_the_caller_and_the_polygon_still_counts(index, banten):
    ev = replace(banten, description=banten.description.replace("Sajira", "Atlantis"), id="cap-y")
    rs = compile_rules([rule("regency")], 2.0, ["a"])
    (m,), _ = evaluate(rs, index, EventChange(ChangeKind.NEW, ev))
    assert m.unmapped_places == ("Atlantis",)
    assert {"36.02", "36.72"} <= {r.code for r in m.regions}


def test_an_alert_that_lists_no_places_is_left_to_its_polygons(index, banten):
    ev = replace(banten, description="Hujan lebat di Banten.", id="cap-z")
    assert described(index, ev) is None
    rs = compile_rules([rule("regency")], 2.0, ["a"])
    (m,), _ = evaluate(rs, index, EventChange(ChangeKind.NEW, ev))
    assert [r.code for r in m.regions] == ["36.02", "36.72"]
