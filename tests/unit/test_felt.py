"""Felt lists of every real BMKG document in feeds/samples, read as regencies."""

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import SAMPLES
from warnd.model import Felt, Hazard, HazardEvent, MsgType, Source, Status
from warnd.pollers import bmkg, inatews
from warnd.pollers.bmkg_base import felt_list
from warnd.rules.felt import felt_regencies, map_felt

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def felt_events() -> list[tuple[str, HazardEvent]]:
    out = []
    for path in sorted((SAMPLES / "bmkg-tews").iterdir()):
        out += [(path.name, e) for e in bmkg.parse(path.read_bytes(), Source(path.name, NOW)).events if e.felt]
    for path in sorted((SAMPLES / "bmkg-inatews").iterdir()):
        if path.name.startswith(("datagempa", "last30")):
            out += [(path.name, e) for e in inatews.parse(path.read_bytes(), Source(path.name, NOW)).events if e.felt]
    return out


# Every place of every felt list in the samples -> the regency BMKG meant (codes from
# config/regions/codes.csv). Where the place is a kecamatan or a town, the comment says which.
EXPECTED = {
    "Aceh Barat Daya": "11.12",
    "Aceh Besar": "11.06",
    "Aceh Jaya": "11.14",
    "Agam": "13.06",
    "Alor": "53.05",
    "Ambon": "81.71",
    "Banda Aceh": "11.71",
    "Bandung": "32.73",  # Kota Bandung; the kabupaten would be written "Kab. Bandung"
    "Bantul": "34.02",
    "Bengkulu": "17.71",  # the kota, not the province
    "Bengkulu Selatan": "17.01",
    "Bengkulu Utara": "17.03",
    "Bima": "52.72",  # Kota Bima (a Kabupaten Bima exists too)
    "Bitung": "71.72",
    "Boalemo": "75.02",
    "Bonebolango": "75.03",  # Kabupaten Bone Bolango, written joined
    "Bukittinggi": "13.75",
    "Buol": "72.05",
    "Ciamis": "32.07",
    "Dompu": "52.05",
    "Enggano": "17.03",  # kecamatan Enggano, Bengkulu Utara
    "Garut": "32.05",
    "Gorontalo": "75.71",  # the kota: the same list says "Kab. Gorontalo" for the kabupaten
    "Gunung Sitoli": "12.78",  # Kota Gunungsitoli, written split
    "Gunungkidul": "34.03",
    "Jayapura": "91.71",  # Kota Jayapura, 11 km from the epicentre
    "Kab. Gorontalo": "75.01",
    "Kab. Gorontalo Utara": "75.05",
    "Kendari": "74.71",
    "Konawe Utara": "74.09",
    "Kota Bengkulu": "17.71",
    "Kulonprogo": "34.01",  # Kabupaten Kulon Progo, written joined
    "Labuan Bajo": "53.15",  # town in kecamatan Komodo (alias table)
    "Labuhan Batu": "12.10",  # Kabupaten Labuhanbatu, written split
    "Lemong": "18.13",  # kecamatan Lemong, Pesisir Barat
    "Limapuluhkota": "13.07",  # Kabupaten Lima Puluh Kota, written joined
    "Liwa": "18.04",  # town = kecamatan Balik Bukit, Lampung Barat (alias table)
    "Malili": "73.24",  # kecamatan Malili, Luwu Timur
    "Manado": "71.71",
    "Mentawai": "13.09",  # Kabupaten Kepulauan Mentawai
    "Meulaboh": "11.05",  # town in kecamatan Johan Pahlawan, Aceh Barat (alias table)
    "Minahasa": "71.02",
    "Minahasa Utara": "71.06",
    "Morotai": "82.07",  # Kabupaten Pulau Morotai
    "Muna": "74.03",
    "Muna Barat": "74.13",
    "Namlea": "81.04",  # kecamatan Namlea, Buru
    "Padang": "13.71",
    "Padang Panjang": "13.74",
    "Padang Pariaman": "13.05",
    "Padang Sidempuan": "12.77",  # Kota Padangsidimpuan, spelt with an e
    "Palu": "72.71",
    "Pangandaran": "32.18",
    "Pasaman Barat": "13.12",
    "Pesisir Selatan": "13.01",
    "Pohuwato": "75.04",
    "Ruteng": "53.10",  # town = kecamatan Langke Rembong, Manggarai (alias table)
    "Sarmi": "91.10",
    "Sentani": "91.03",  # kecamatan Sentani, Kabupaten Jayapura
    "Serui": "91.05",  # town in kecamatan Yapen Selatan, Kepulauan Yapen (alias table)
    "Siberut": "13.09",  # root of kecamatan Siberut Utara/Selatan/Barat/..., Kepulauan Mentawai
    "Sigli": "11.07",  # kecamatan Kota Sigli, Pidie
    "Sinabang": "11.09",  # town in kecamatan Simeulue Timur (alias table)
    "Sleman": "34.04",
    "Solok": "13.72",  # Kota Solok; "Solok Selatan" is named beside it
    "Solok Selatan": "13.11",
    "Sorong": "96.71",
    "Soroako": "73.24",  # Sorowako spelt without the w: kecamatan Nuha, Luwu Timur
    "Sorowako": "73.24",  # town in kecamatan Nuha (alias table)
    "Sumbawa": "52.04",
    "Sumedang Utara": "32.11",  # kecamatan Sumedang Utara, Sumedang
    "Sumur": "36.01",  # kecamatan Sumur, Pandeglang
    "Tambolaka": "53.18",  # kecamatan Kota Tambolaka, Sumba Barat Daya
    "Tangse": "11.07",  # kecamatan Tangse, Pidie
    "Tasikmalaya": "32.78",
    "Ternate": "82.71",
    "Tolitoli": "72.04",  # Kabupaten Toli-Toli
    "Tomohon": "71.73",
    "Tondano": "71.02",  # root of kecamatan Tondano Barat/Timur/Utara/Selatan, Minahasa
    "Ulu Belu": "18.06",  # kecamatan Ulu Belu, Tanggamus
    "Waingapu": "53.11",  # kecamatan Kota Waingapu, Sumba Timur
    "Wonogiri": "33.12",
    # Mata Ie is a gampong name in Aceh; which kecamatan BMKG meant is not established.
    "Mata ie": None,
}


def test_every_felt_place_in_the_samples_maps_to_its_regency(index):
    events = felt_events()
    # gempadirasakan 2025-12-24 holds 15 felt quakes; the legacy list 20, then 1, 1, 1, 1, 1.
    assert sum(name.startswith("gempadirasakan_2025") for name, _ in events) == 15
    assert sum(name.startswith("legacy_gempadirasakan") for name, _ in events) == 20
    seen = set()
    for name, ev in events:
        fm = map_felt(index, ev.felt, ev.lat, ev.lon)
        assert [p.felt for p in fm.places] == list(ev.felt)  # none dropped, order kept
        for p in fm.places:
            seen.add(p.felt.place)
            assert p.felt.place in EXPECTED, f"{name}: {p.felt.place!r} is not in the table"
            got = ".".join(p.region.code.split(".")[:2]) if p.region else None
            assert got == EXPECTED[p.felt.place], f"{name} {ev.id}: {p.felt.place!r} -> {p.region}"
    assert seen == set(EXPECTED)


def test_felt_regencies_gives_each_regency_its_highest_mmi(index):
    events = {e.id: e for _, e in felt_events()}
    gorontalo = felt_regencies(index, events["bmkg-eq-20251220T103327Z"])
    assert gorontalo.regencies == {
        "75.04": (4, 4),
        "75.02": (4, 4),
        "75.71": (3, 3),
        "75.03": (3, 3),
        "72.05": (3, 3),
        "72.04": (3, 3),
        "75.01": (2, 3),
        "75.05": (2, 2),
    }
    assert gorontalo.unmapped == () and gorontalo.provinces == {}
    aceh = felt_regencies(index, events["bmkg-eq-20131022T054034Z"])
    # "III Mata ie" stays, with its item, for the caller to log and count.
    assert aceh.unmapped == (Felt("III", 3, 3, "Mata ie"),)
    # Tangse (V) and Sigli (II-III) are both in Pidie: the higher range wins.
    assert aceh.regencies["11.07"] == (5, 5)


def test_a_place_known_only_as_a_province_is_reported_by_province(index):
    ev = HazardEvent(
        id="q",
        feed="f",
        feed_format="bmkg-tews",
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=NOW,
        lat=-6.9,
        lon=106.5,
        felt=felt_list("II-III Jakarta, III Sukabumi, II Zzyzx"),
    )
    got = felt_regencies(index, ev)
    assert got.provinces == {"31": (2, 3)}
    assert got.regencies == {"32.72": (3, 3)}  # Kota Sukabumi before the kabupaten
    assert [f.place for f in got.unmapped] == ["Zzyzx"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Iv Kepanjen", [("IV", 4, 4, "Kepanjen")]),
        ("III Madiun ,", [("III", 3, 3, "Madiun")]),
        (" III\tMata ie , II-III\tSigli,", [("III", 3, 3, "Mata ie"), ("II-III", 2, 3, "Sigli")]),
        ("Sentani II-III MMI", [("II-III", 2, 3, "Sentani")]),
        ("II \u2013 III Bantul", [("II-III", 2, 3, "Bantul")]),
        ("III MMI Bandung", [("III", 3, 3, "Bandung")]),
        ("-", []),
        # No readable intensity: the place is kept (it was felt there), at MMI 0 = unknown.
        ("Kepanjen, II Malang", [("", 0, 0, "Kepanjen"), ("II", 2, 2, "Malang")]),
    ],
)
def test_felt_list_reads_every_form_seen(text, expected):
    assert [(f.mmi, f.mmi_min, f.mmi_max, f.place) for f in felt_list(text)] == expected


def test_every_felt_list_in_the_samples_keeps_every_place():
    """Each comma-separated part of a raw Dirasakan/felt text becomes one item."""
    lists = 0
    for path in [*(SAMPLES / "bmkg-tews").iterdir(), *(SAMPLES / "bmkg-inatews").iterdir()]:
        raw = path.read_text(encoding="utf-8")
        texts = re.findall(r'"(?:Dirasakan|felt)"\s*:\s*"([^"]*)"|<(?:Dirasakan|felt)>([^<]*)<', raw)
        for pair in texts:
            text = pair[0] or pair[1]
            parts = [p for p in (" ".join(x.split()) for x in text.split(",")) if p and p != "-"]
            items = felt_list(text)
            assert len(items) == len(parts), (path.name, text)
            assert all(f.mmi_min >= 1 for f in items), (path.name, text)
            lists += 1
    # 15 gempadirasakan, 3 autogempa, 20 + 1 legacy, 2 InaTEWS felt messages.
    assert lists == 41
