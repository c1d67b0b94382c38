"""InaTEWS warning zones to regencies, on every zone of the real documents, region by region."""

import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import ROOT, SAMPLES, TEMPLATES
from warnd.model import ChangeKind, EventChange, Priority, Source, WarningKind, Zone, ZonePart
from warnd.pipeline.issue import AccountView
from warnd.pipeline.render import Renderer
from warnd.pollers import inatews
from warnd.rules.compiled import compile_rules
from warnd.rules.engine import evaluate
from warnd.rules.zones import ZoneMap, readings

NOW = datetime(2026, 11, 24, tzinfo=UTC)
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
DOCUMENTS = sorted(p for p in (SAMPLES / "bmkg-inatews").iterdir() if p.suffix in (".json", ".xml"))
NAGEKEO = ROOT / "feeds" / "demo" / "nagekeo"

# Every zone of the real InaTEWS documents: its Kemendagri regency (config/regions/codes.csv)
# and the part of it the zone covers.
EXPECTED = {
    # last30tsunamievent_2026-08-15 (Nagekeo M7.7, PD-1 .. PD-3.4)
    "NTT/NGADA BAGIAN UTARA": ("53.09", "BAGIAN UTARA"),
    "NTT/MANGGARAI BAGIAN UTARA": ("53.10", "BAGIAN UTARA"),
    "NTT/MANGGARAI-BARAT BAGIAN UTARA": ("53.15", "BAGIAN UTARA"),
    "NTT/ENDE BAGIAN UTARA": ("53.08", "BAGIAN UTARA"),
    "NTT/SIKKA BAGIAN UTARA": ("53.07", "BAGIAN UTARA"),
    "NTT/PULAU ENDE": ("53.08", "PULAU ENDE"),
    "NTT/PULAU SIKKA": ("53.07", "PULAU SIKKA"),
    "NTT/FLORES-TIMUR BAGIAN UTARA": ("53.06", "BAGIAN UTARA"),
    "NTB/BIMA PULAU SANGIANG": ("52.06", "PULAU SANGIANG"),
    "NTB/BIMA PULAU GILI": ("52.06", "PULAU GILI"),
    "NTB/KOTA-BIMA BAGIAN UTARA": ("52.72", "BAGIAN UTARA"),
    "NTB/DOMPU BAGIAN UTARA": ("52.05", "BAGIAN UTARA"),
    "SULSEL/SELAYAR": ("73.01", ""),
    "SULSEL/JENEPONTO": ("73.04", ""),
    "SULSEL/BANTAENG": ("73.03", ""),
    "SULSEL/TAKALAR": ("73.05", ""),
    "SULSEL/BONE": ("73.08", ""),
    "SULSEL/WAJO": ("73.13", ""),
    "SULSEL/LUWU BAGIAN TIMUR": ("73.17", "BAGIAN TIMUR"),  # Kabupaten Luwu, not Luwu Timur (73.24)
    "SULSEL/LUWU BAGIAN UTARA": ("73.17", "BAGIAN UTARA"),  # Kabupaten Luwu, not Luwu Utara (73.22)
    "SULSEL/KOTA-PALOPO": ("73.73", ""),
    "SULTRA/KOTA-BAU-BAU": ("74.72", ""),
    # datagempa_2021-02-05_TES_PD-1 (Jayapura exercise)
    "PAPUA/JAYAPURA": ("91.03", ""),
    "PAPUA/KOTA-JAYAPURA": ("91.71", ""),
    "PAPUA/SARMI": ("91.10", ""),
    "PAPUA/WAROPEN": ("91.15", ""),
    "PAPUA/BIAKNUMFOR": ("91.06", ""),
    "PAPUA/SUPIORI": ("91.19", ""),
    "PAPUABAR/RAJAAMPAT BAGIAN UTARA": ("96.03", "BAGIAN UTARA"),  # Papua Barat Daya since 2022
    "PAPUABAR/TELUKWONDAMA": ("92.07", ""),
    "PAPUABAR/SORONG BAGIAN SELATAN": ("96.01", "BAGIAN SELATAN"),  # Kabupaten Sorong, not Sorong Selatan
    "MALUT/HALMAHERA-TENGAH": ("82.02", ""),
    # datagempa_2023-04-25_PD-1 (Mentawai M7.3)
    "SUMUT/NIAS-SELATAN PULAU TANABALA": ("12.14", "PULAU TANABALA"),
}


def raw_zones(path):
    """The wzarea entries of a document as written, read without the poller."""
    data = path.read_bytes()
    if path.suffix == ".json":
        items = json.loads(data).get("info", {}).get("wzarea") or []
        items = [items] if isinstance(items, dict) else items
        return [(z["province"], z["district"], z["level"].lower()) for z in items]
    root = ET.fromstring(data)
    if not root.tag.endswith("alert"):
        return []
    return [
        (w.findtext(NS + "province"), w.findtext(NS + "district"), w.findtext(NS + "level").lower())
        for w in root.iter(NS + "wzarea")
    ]


def messages(path):
    """Each <info> of an InaTEWS history file as a document of its own, oldest first."""
    root = ET.fromstring(path.read_bytes())
    out = []
    for info in reversed(root.findall(NS + "info")):
        doc = ET.Element(root.tag)
        doc.extend(el for el in root if el.tag != NS + "info")
        doc.append(info)
        out.append(ET.tostring(doc))
    return out


@pytest.fixture(scope="module")
def zm(index):
    return ZoneMap(index)


def test_the_table_covers_every_zone_of_every_real_document():
    seen = {f"{p}/{d}" for path in DOCUMENTS for p, d, _ in raw_zones(path)}
    assert len(seen) == len(EXPECTED) and seen == set(EXPECTED)


@pytest.mark.parametrize("zone", sorted(EXPECTED))
def test_every_real_zone_maps_to_its_regency_and_part(zm, zone):
    province, district = zone.split("/", 1)
    found = zm.locate(Zone(province, district, "waspada"))
    assert found is not None, zone
    region, part = found
    assert (region.code, part) == EXPECTED[zone]
    assert region.level == "regency"


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if raw_zones(p)], ids=lambda p: p.name)
def test_every_zone_of_every_message_is_a_region_of_the_match(index, path):
    """Through the poller and the rules engine, message by message: each zone's regency is a
    region of the match, with the zone's level (the worst of its zones) and its part."""
    docs = messages(path) if path.suffix == ".xml" else [path.read_bytes()]
    rs = compile_rules([_tsunami_rule()], 2.0, ["a"])
    checked = 0
    for doc in docs:
        for ev in inatews.parse(doc, Source(path.name, NOW)).events:
            if not ev.zones:
                continue
            (m,), _ = evaluate(rs, index, EventChange(ChangeKind.NEW, ev))
            assert m.unmapped == ()
            notes = dict(m.region_notes)
            for z in ev.zones:
                code, part = EXPECTED[f"{z.province}/{z.district}"]
                assert code in {r.code for r in m.regions}
                assert ZonePart(code, z.level, part) in m.zone_parts
                worst = min((y.level for y in ev.zones if EXPECTED[f"{y.province}/{y.district}"][0] == code), key=_rank)
                assert notes[code] == worst
            assert len(m.regions) == len({EXPECTED[f"{z.province}/{z.district}"][0] for z in ev.zones})
            checked += len(ev.zones)
    assert checked >= 1


@pytest.mark.parametrize(
    ("district", "name", "part"),
    [
        # A space ends the name; hyphens join its words.
        ("LUWU BAGIAN TIMUR", "LUWU", "BAGIAN TIMUR"),
        ("LUWU-TIMUR", "LUWUTIMUR", ""),
        ("NIAS-SELATAN PULAU TANABALA", "NIASSELATAN", "PULAU TANABALA"),
        ("PULAU ENDE", "ENDE", "PULAU ENDE"),
        ("KOTA-BAU-BAU", "KOTABAUBAU", ""),
    ],
)
def test_the_first_reading_is_bmkg_s_own(district, name, part):
    first = readings(district)[0]
    assert (first.name, first.part) == (name, part)


@pytest.mark.parametrize(
    ("province", "district", "code"),
    [
        # The rule, not the strings: written with a hyphen, the same words are another regency.
        ("SULSEL", "LUWU-TIMUR BAGIAN SELATAN", "73.24"),
        ("SULSEL", "LUWU-UTARA", "73.22"),
        ("PAPUABAR", "SORONG-SELATAN", "96.02"),
        ("PAPUABAR", "KOTA-SORONG", "96.71"),
        # A name written with spaces is read whole before its first word alone.
        ("SUMUT", "NIAS SELATAN BAGIAN BARAT", "12.14"),
        # A bare name is the Kabupaten, or the Kota where no Kabupaten bears it.
        ("NTB", "BIMA", "52.06"),
        ("SULSEL", "PALOPO", "73.73"),
        # Papua's zones are looked for in the provinces carved out of it in 2022.
        ("PAPUA", "MERAUKE", "93.01"),
        ("PAPUA", "NABIRE BAGIAN BARAT", "94.01"),
        # The full name of a province works as well as BMKG's abbreviation.
        ("NUSA-TENGGARA-TIMUR", "ENDE", "53.08"),
    ],
)
def test_the_rule_on_other_zones(zm, province, district, code):
    region = zm.region(Zone(province, district, "waspada"))
    assert region is not None and region.code == code


def test_a_name_that_only_begins_a_regency_s_name_is_not_it(zm):
    # "BONE" is Kabupaten Bone, "BONE-BOLANGO" is in Gorontalo; neither is read as the other.
    assert zm.region(Zone("SULSEL", "BONE BAGIAN TIMUR", "waspada")).code == "73.08"
    assert zm.region(Zone("SULSEL", "BONEBOL", "waspada")) is None


def test_an_unknown_zone_is_carried_by_the_province_named_and_quoted(index):
    pd1 = _nagekeo_pd(1)
    ev = _with_district(pd1, "NGADA BAGIAN UTARA", "TELUK KHAYALAN BAGIAN UTARA", province="PAPUABAR")
    (m,), _ = evaluate(compile_rules([_tsunami_rule()], 2.0, ["a"]), index, EventChange(ChangeKind.NEW, ev))
    # Papua Barat and Papua Barat Daya: the zone may be in either since the split.
    assert [r.code for r in m.regions] == ["92", "96"]
    assert m.unmapped == ("PAPUABAR/TELUK KHAYALAN BAGIAN UTARA",)
    assert m.zone_parts == (
        ZonePart("92", "waspada", quoted="TELUK KHAYALAN BAGIAN UTARA"),
        ZonePart("96", "waspada", quoted="TELUK KHAYALAN BAGIAN UTARA"),
    )
    text = _post(m, ["96"]).text
    assert 'WASPADA: Papua Barat Daya (zona "TELUK KHAYALAN BAGIAN UTARA")' in text


def test_an_unknown_province_goes_to_the_provinces_near_the_epicentre(index):
    ev = _with_district(_nagekeo_pd(1), "NGADA BAGIAN UTARA", "NEGERI ANTAH", province="ANTAHBERANTAH")
    (m,), _ = evaluate(compile_rules([_tsunami_rule()], 2.0, ["a"]), index, EventChange(ChangeKind.NEW, ev))
    codes = [r.code for r in m.regions]
    # 38 km off Mbay (Nagekeo, NTT): NTT first; nothing as far as Java or Papua.
    assert codes[0] == "53" and all(len(c) == 2 for c in codes)
    assert not {"31", "32", "91", "92", "96"} & set(codes)
    assert m.unmapped == ("ANTAHBERANTAH/NEGERI ANTAH",)
    text = _post(m, ["53"]).text
    assert 'Nusa Tenggara Timur (zona "ANTAHBERANTAH/NEGERI ANTAH")' in text


def test_an_unknown_province_without_an_epicentre_reaches_every_province(index):
    from dataclasses import replace

    ev = _with_district(_nagekeo_pd(1), "NGADA BAGIAN UTARA", "NEGERI ANTAH", province="ANTAHBERANTAH")
    ev = replace(ev, lat=None, lon=None)
    (m,), _ = evaluate(compile_rules([_tsunami_rule()], 2.0, ["a"]), index, EventChange(ChangeKind.NEW, ev))
    provinces = sorted(r.code for r in index.regions if r.level == "province")
    assert sorted(r.code for r in m.regions) == provinces and len(provinces) == 38


def test_the_post_names_the_parts_worst_level_first(index):
    """PD-2: Kabupaten Ende is at Siaga for its north coast and at Waspada for Pulau Ende; Bima
    has two islands at Waspada; Luwu two sides."""
    (m,), _ = evaluate(compile_rules([_tsunami_rule()], 2.0, ["a"]), index, EventChange(ChangeKind.NEW, _nagekeo_pd(2)))
    assert dict(m.region_notes)["53.08"] == "siaga"
    ntt = _post(m, ["53"]).text
    siaga = ntt.index("SIAGA: ")
    waspada = ntt.index("WASPADA: ")
    assert siaga < waspada
    assert "Kabupaten Ende bagian utara" in ntt[siaga:waspada]
    assert "Kabupaten Ende (Pulau Ende)" in ntt[waspada:]
    assert "Kabupaten Ngada bagian utara" in ntt[siaga:waspada]
    assert "Kabupaten Flores Timur bagian utara" in ntt[waspada:]
    assert "BAGIAN" not in ntt and "PULAU" not in ntt
    assert "WASPADA: Kabupaten Bima (Pulau Sangiang, Pulau Gili), Kota Bima bagian utara" in _post(m, ["52"]).text
    assert "Kabupaten Luwu (bagian timur dan utara)" in _post(m, ["73"]).text
    en = _post(m, ["53"], "en").text
    assert "Kabupaten Ende (north)" in en and "Kabupaten Ende (Pulau Ende)" in en


def test_the_all_clear_names_the_parts_of_the_zones_that_ended(index):
    pd2 = _nagekeo_pd(2)
    pd4 = next(
        ev
        for doc in messages(NAGEKEO.parent.parent / "samples" / "bmkg-inatews" / _NAGEKEO_FILE)
        for ev in inatews.parse(doc, Source("x", NOW)).events
        if ev.stage == "PD-4" and ev.time == pd2.time
    )
    (m,), _ = evaluate(compile_rules([_tsunami_rule()], 2.0, ["a"]), index, EventChange(ChangeKind.UPDATED, pd4, pd2))
    text = _post(m, ["53"], kind=WarningKind.ALL_CLEAR).text
    assert "BERAKHIR" in text and "Kabupaten Ende bagian utara (Pulau Ende)" in text


_NAGEKEO_FILE = "last30tsunamievent_2026-08-15_nagekeo-m7.7_ridwaanhall.xml"


def _nagekeo_pd(n):
    (ev,) = inatews.parse(sorted(NAGEKEO.iterdir())[n - 1].read_bytes(), Source("x", NOW)).events
    return ev


def _with_district(ev, old, new, province=None):
    from dataclasses import replace

    zones = tuple(
        replace(z, district=new, province=province or z.province) if z.district == old else z for z in ev.zones
    )
    assert zones != ev.zones
    return replace(ev, zones=zones)


def _tsunami_rule():
    from warnd.config.schema import Rule

    return Rule.model_validate(
        {
            "id": "tsunami",
            # Exercises too: the Jayapura document is a drill (TES)
            "match": {
                "hazard": "tsunami",
                "level": ["awas", "siaga", "waspada"],
                "status": ["actual", "exercise", "test"],
            },
            "where": {"level": "regency"},
            "then": {"accounts": ["*"], "template": "tsunami", "priority": "life_safety"},
        }
    )


def _post(m, account_regions, lang="id", kind=WarningKind.NEW):
    from warnd.geo import covers

    regions = [r for r in m.regions if covers(r.code, account_regions)]
    return Renderer(TEMPLATES).render(
        event=m.event,
        kind=kind,
        rule=m.rule,
        template="tsunami",
        priority=Priority.LIFE_SAFETY,
        target=AccountView("a", lang, tuple(account_regions)),
        regions=regions,
        first_post=None,
        now=NOW,
        notes=dict(m.region_notes),
        parts=m.zone_parts,
    )


def _rank(level):
    return ["awas", "siaga", "waspada"].index(level)
