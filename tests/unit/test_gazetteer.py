import time

import pytest

from warnd.geo import RegionError, read_place_aliases
from warnd.rules.gazetteer import ALIAS, BY_ROOT, BY_SPELLING, Gazetteer, gazetteer


@pytest.fixture(scope="module")
def g(index):
    return gazetteer(index)


def point(index, code):
    i = index.points.codes.index(code)
    return float(index.points.lat[i]), float(index.points.lon[i])


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bone Bolango", "75.03"),
        ("BONE-BOLANGO", "75.03"),
        ("bonebolango", "75.03"),
        ("  Kab.Bone   Bolango ", "75.03"),
        ("Kabupaten Kulon Progo", "34.01"),
        ("Kulonprogo", "34.01"),
        ("Kab Sumedang", "32.11"),
        ("Kota Administrasi Jakarta Pusat", "31.71"),
        ("jakarta pusat", "31.71"),
        ("Toli-Toli", "72.04"),
        ("Kepulauan Mentawai", "13.09"),
        ("Kec. Sumedang Utara", "32.11.18"),
        ("Kota Waingapu", "53.11.01"),  # a kecamatan's own name, not a kota
        ("Kotamobagu", "71.74"),  # "Kota" glued to a name is part of it
        ("Kepanjen", "35.07.13"),  # InaTEWS "Iv Kepanjen": kecamatan of Kabupaten Malang
        ("Madiun", "35.77"),  # InaTEWS "III Madiun ,": the kota
    ],
)
def test_case_spacing_hyphens_and_prefixes(g, text, code):
    place = g.lookup(text)
    assert place is not None and place.region.code == code


def test_kota_before_the_kabupaten_of_the_same_name_unless_kab_is_written(g):
    assert g.lookup("Gorontalo").region.code == "75.71"
    assert g.lookup("Kota Gorontalo").region.code == "75.71"
    assert g.lookup("Kab. Gorontalo").region.code == "75.01"
    assert g.lookup("Kabupaten Gorontalo").region.code == "75.01"
    # Even with the kabupaten nearer to the epicentre: the written name decides.
    near_kab = g.near([(0.62, 122.85)])
    assert g.lookup("Gorontalo", near_kab).region.code == "75.71"


def test_a_province_only_when_nothing_finer_bears_the_name(g):
    assert g.lookup("Bengkulu").region.code == "17.71"  # the capital, a kota
    assert g.lookup("Provinsi Bengkulu").region.code == "17"
    assert g.lookup("Jakarta").region.code == "31"
    assert g.lookup("DKI Jakarta").region.code == "31"
    assert g.lookup("DI Yogyakarta").region.code == "34"
    assert g.province("Banten").code == "36"
    assert g.province("Sulteng").code == "72"


def test_a_kecamatan_in_several_regencies_is_the_nearest_to_the_event(index, g):
    # Grogol is a kecamatan of Sukoharjo (33.11) and of Kediri (35.06).
    assert g.lookup("Grogol", g.near([(-7.62, 110.80)])).region.code == "33.11.09"
    assert g.lookup("Grogol", g.near([(-7.80, 112.00)])).region.code == "35.06.13"
    # Without a position, a name left in two regencies is not guessed.
    assert g.lookup("Grogol") is None
    # Kabupaten Kotabaru, and kecamatan Kota Baru in Jambi, Karawang and Ende.
    assert g.lookup("Kotabaru") is None
    assert g.lookup("Kotabaru", g.near([(-3.3, 116.2)])).region.code == "63.02"
    assert g.lookup("Kota Baru", g.near([(-8.5, 121.9)])).region.code == "53.08.13"
    # Cibeber: Cianjur (Jawa Barat), Lebak and Cilegon (Banten).
    assert g.lookup("Cibeber", g.near([point(index, "36.72.02")]), province="36").region.code == "36.72.01"
    assert g.lookup("Cibeber", province="32").region.code == "32.03.03"


def test_a_kecamatan_and_another_regency_of_one_name_resolved_in_the_province(index, g):
    # "Wiradesa, Kajen, Karanganyar, Pekalongan" (BMKG nowcast, Jawa Tengah): Karanganyar is a
    # regency and five kecamatan of Jawa Tengah; beside Kajen it is the kecamatan of Pekalongan.
    kajen = g.lookup("Kajen", province="33")
    assert kajen.region.code == "33.26.08" or kajen.region.code.startswith("33.26.")
    near = g.near([point(index, kajen.region.code)])
    assert g.lookup("Karanganyar", near, province="33").region.code == "33.26.07"
    # Far from Pekalongan, near Surakarta, it is the regency.
    assert g.lookup("Karanganyar", g.near([(-7.60, 111.00)]), province="33").region.code == "33.13"
    # Pekalongan is a kota and a kabupaten of one province: the kota.
    assert g.lookup("Pekalongan", near, province="33").region.code == "33.75"


def test_roots_and_near_spellings(g):
    tondano = g.lookup("Tondano", g.near([(1.38, 125.83)]))
    assert tondano.how == BY_ROOT and tondano.region.code.startswith("71.02.")
    soroako = g.lookup("Soroako", g.near([(-2.47, 121.47)]))
    assert soroako.how == BY_SPELLING and soroako.kind == ALIAS and soroako.region.code == "73.24.02"
    assert g.lookup("Padang Sidempuan").region.code == "12.77"
    # One letter in a short name makes another place: never matched.
    assert g.lookup("Bantol") is None


def test_an_alias_is_the_operators_reading_of_a_town(g):
    # Ruteng is also the name of a rural kecamatan; the town is kecamatan Langke Rembong.
    ruteng = g.lookup("Ruteng", g.near([(-8.6, 120.46)]))
    assert ruteng.kind == ALIAS and ruteng.region.code == "53.10.12"


def test_unknown_names_map_to_nothing(g):
    assert g.lookup("Mata ie") is None
    assert g.lookup("Zzyzx", g.near([(0.0, 120.0)])) is None
    assert g.lookup("") is None
    assert g.lookup("Kab.") is None


def test_built_once_per_index_and_fast(index):
    assert gazetteer(index) is gazetteer(index)
    start = time.perf_counter()
    g = Gazetteer(index)
    built = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(1000):
        g.lookup("Bonebolango")
    per_lookup = (time.perf_counter() - start) / 1000
    # Generous bounds for a shared test machine; typical figures are far below.
    assert built < 1.0 and per_lookup < 0.001


def test_alias_file_problems_name_the_line(tmp_path):
    f = tmp_path / "aliases.csv"
    f.write_text("# comment\nname,code,source\nSorowako,73.24.02,wiki\nSorowako,73.24.02,again\n")
    with pytest.raises(RegionError, match=r"aliases.csv:4: 'Sorowako' is already on line 3"):
        read_place_aliases(f)
    f.write_text("name,code,source\nSinabang,11.9.4,wiki\n")
    with pytest.raises(RegionError, match=r"aliases.csv:2: '11.9.4' is not a regency"):
        read_place_aliases(f)
    f.write_text("name,code,source\nSinabang,11.09.04,\n")
    with pytest.raises(RegionError, match=r"aliases.csv:2: say where the fact comes from"):
        read_place_aliases(f)
    f.write_text("name,code\n")
    with pytest.raises(RegionError, match=r"aliases.csv:1: the header must be name,code,source"):
        read_place_aliases(f)
    f.write_text('# made by hand\n\nname,code,source\n"Labuan Bajo",53.15.05,"a, b"\n')
    (a,) = read_place_aliases(f)
    assert (a.name, a.code, a.source, a.line) == ("Labuan Bajo", "53.15.05", "a, b", 4)
