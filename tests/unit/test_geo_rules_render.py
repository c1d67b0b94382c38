from datetime import UTC, datetime

import pytest

from tests.conftest import REGIONS, TEMPLATES, sample
from warnd.channels.x import split, weighted
from warnd.config.schema import Rule
from warnd.geo import load_layers, zone_name
from warnd.model import ChangeKind, EventChange, Priority, Reason, Source, WarningKind
from warnd.pipeline.issue import AccountView
from warnd.pipeline.render import Renderer
from warnd.pollers import bmkg
from warnd.rules.compiled import compile_rules
from warnd.rules.engine import evaluate

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (-6.1754, 106.8272, "31.71"),
        (5.5483, 95.3238, "11.71"),
        (-2.5337, 140.7181, "91.71"),
        (-0.8917, 119.8707, "72.71"),
        (-7.7956, 110.3695, "34.71"),
    ],
)
def test_points_fall_in_their_regency(index, lat, lon, code):
    (hit,) = index.locate(lat, lon, "regency", 2.0)
    assert hit.region.code == code and hit.distance_km == 0


def test_small_island_just_outside_its_triangle_is_matched_within_tolerance(index):
    # Pulau Pramuka, Kepulauan Seribu, lies ~0.1 km outside its simplified polygon.
    assert index.locate(-5.7448, 106.6144, "regency", 0) == []
    (hit,) = index.locate(-5.7448, 106.6144, "regency", 2.0)
    assert hit.region.code == "31.01" and 0 < hit.distance_km < 2


def test_distances_are_kilometres(index):
    hits = index.within(1.04, 126.96, "regency", 60)  # at sea off Ternate
    ternate = next(h for h in hits if h.region.name == "Kota Ternate")
    assert 35 < ternate.distance_km < 50
    assert all(h.distance_km <= 60 for h in hits)


def test_zones():
    assert (zone_name("32.11"), zone_name("53.07"), zone_name("94.01")) == ("WIB", "WITA", "WIT")


def _rule(**over):
    data = {
        "id": "r",
        "match": {"hazard": "earthquake", "magnitude": ">= 5"},
        "where": {"within_km": 150},
        "then": {"accounts": ["ntt"]},
    }
    data.update(over)
    return Rule.model_validate(data)


def test_engine_matches_and_explains(index):
    events = bmkg.parse(
        sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("f", NOW)
    ).events
    big = next(e for e in events if e.magnitude == 7.4)
    rs = compile_rules([_rule(), _rule(id="kecil", match={"hazard": "earthquake", "magnitude": ["< 5"]})], 2.0, ["ntt"])
    matches, skips = evaluate(rs, index, EventChange(ChangeKind.NEW, big))
    (m,) = matches
    codes = [r.code for r in m.regions]
    # Flores Sea: Flores (NTT) regencies and Selayar's islands (Sulawesi Selatan) are in reach;
    # Java and Papua are not.
    assert m.rule == "r" and "53.07" in codes and "73.01" in codes
    assert not any(c.startswith(("3", "9")) for c in codes)
    # Nearest first: the islands of Selayar in the Flores Sea are the closest land.
    assert codes[0] == "73.01"
    (s,) = skips
    assert s.rule == "kecil" and s.reason is Reason.BELOW_THRESHOLD
    assert evaluate(rs, index, EventChange(ChangeKind.UNCHANGED, big)) == ([], [])


def test_render_names_every_region_and_a_long_text_threads_within_x_limits(index):
    events = bmkg.parse(
        sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("f", NOW)
    ).events
    big = next(e for e in events if e.magnitude == 7.4)
    rs = compile_rules([_rule(where={"within_km": 400})], 2.0, ["ntt"])
    (m,) = evaluate(rs, index, EventChange(ChangeKind.NEW, big))[0]
    assert len(m.regions) > 10
    r = Renderer(TEMPLATES)
    assert r.check() == []

    def quake_post(lang, regions):
        return r.render(
            event=big,
            kind=WarningKind.NEW,
            rule="r",
            template="earthquake",
            priority=Priority.HIGH,
            target=AccountView("ntt", lang, ()),
            regions=regions,
            first_post=None,
            now=NOW,
        )

    w = quake_post("id", m.regions)
    assert "lainnya" not in w.text and "BERPOTENSI TSUNAMI" in w.text
    assert all(r.name in w.text for r in m.regions)
    parts = split(w.text)
    assert weighted(w.text) > 280 and len(parts) > 1 and all(weighted(p) <= 280 for p in parts)
    assert len(w.regions) == len(m.regions)  # the warning still records every region
    en = quake_post("en", m.regions[:2])
    assert en.text.startswith("M7.4 earthquake, 14 Dec 2021 11:20:23 WITA")


def test_unmapped_zones_are_reported_not_dropped(index):
    from datetime import UTC, datetime

    from warnd.model import Hazard, HazardEvent, MsgType, Status, Zone, ZonePart

    ev = HazardEvent(
        id="t",
        feed="f",
        feed_format="bmkg-inatews",
        hazard=Hazard.TSUNAMI,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=datetime(2026, 8, 14, 21, 58, tzinfo=UTC),
        lat=-8.4,
        lon=121.4,
        magnitude=7.7,
        zones=(Zone("NTT", "ENDE BAGIAN UTARA", "siaga"), Zone("NTT", "ATLANTIS TIMUR", "awas")),
    )
    rs = compile_rules([_rule(match={"hazard": "tsunami"}, where={})], 2.0, ["ntt"])
    (m,), _ = evaluate(rs, index, EventChange(ChangeKind.NEW, ev))
    # The unknown zone is worse (Awas) and comes first; its province stands in for it.
    assert [r.code for r in m.regions] == ["53", "53.08"]
    assert m.unmapped == ("NTT/ATLANTIS TIMUR",)
    assert dict(m.region_notes) == {"53": "awas", "53.08": "siaga"}
    assert m.zone_parts == (ZonePart("53", "awas", quoted="ATLANTIS TIMUR"), ZonePart("53.08", "siaga", "BAGIAN UTARA"))


def test_operator_layer_of_named_points(tmp_path):
    import json as _json

    layer = tmp_path / "stasiun.geojson"
    layer.write_text(
        _json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "tma.katulampa", "name": "Bendung Katulampa", "level": "station"},
                        "geometry": {"type": "Point", "coordinates": [106.836806, -6.633167]},
                    }
                ],
            }
        )
    )
    idx = load_layers([layer])
    assert idx.levels == ["station"]
    (hit,) = idx.within(-6.60, 106.84, "station", 5.0)
    assert hit.region.name == "Bendung Katulampa" and 3.0 < hit.distance_km < 4.5
    assert idx.within(-6.50, 106.84, "station", 5.0) == []


def test_predicted_intensity_falls_with_distance_and_grows_with_magnitude():
    from warnd.shaking import felt_radius_km, predicted_mmi

    assert predicted_mmi(6.0, 10, 10) > predicted_mmi(6.0, 10, 100) > predicted_mmi(6.0, 10, 300)
    assert predicted_mmi(7.0, 10, 50) > predicted_mmi(6.0, 10, 50)
    r = felt_radius_km(6.0, 10, 4)
    assert predicted_mmi(6.0, 10, r - 1) >= 4 > predicted_mmi(6.0, 10, r + 1)
    assert felt_radius_km(2.0, 10, 5) == 0.0


def test_fast_region_reader_gives_exactly_what_the_plain_reader_gives():
    import shapely

    from warnd.geo.layers import _read_fast, _read_slow

    path = REGIONS / "regencies.geojson"
    fast, slow = _read_fast(path.read_text()), _read_slow(path, path.read_text())
    assert fast is not None and len(fast) == len(slow) == 514
    for (r1, g1), (r2, g2) in zip(fast, slow, strict=True):
        assert r1 == r2
        assert shapely.get_type_id(g1) == shapely.get_type_id(g2) and shapely.equals_exact(g1, g2, 0)


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        ({"properties": {"code": "x", "name": "X"}, "geometry": None}, "features[1] (x): bad geometry"),
        ({"properties": {"name": "X"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}, "features[1]: needs"),
        (
            {
                "properties": {"code": "x", "name": "X"},
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1], [1, 0], [0, 0]]]},
            },
            "features[1] (x): geometry is empty or invalid",
        ),
        (
            {
                "properties": {"code": "x", "name": "X"},
                "geometry": {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]},
            },
            None,
        ),
    ],
)
def test_region_file_problems_name_the_feature(tmp_path, feature, problem):
    import json as _json

    from warnd.geo import RegionError

    good = {"type": "Feature", "properties": {"code": "ok", "name": "OK"}}
    good["geometry"] = {"type": "Point", "coordinates": [106.8, -6.6]}
    layer = tmp_path / "layer.geojson"
    layer.write_text(_json.dumps({"type": "FeatureCollection", "features": [good, {"type": "Feature", **feature}]}))
    if problem is None:
        assert sorted(r.code for r in load_layers([layer]).regions) == ["ok", "x"]
        return
    with pytest.raises(RegionError) as e:
        load_layers([layer])
    assert str(e.value).startswith(f"{layer}: {problem}")


def test_trial_render_passes_templates_written_before_the_agency_and_catches_a_bad_branch(tmp_path):
    # An operator's template of before the agency variables still passes the trial render.
    (tmp_path / "earthquake").mkdir()
    (tmp_path / "earthquake" / "new.id.j2").write_text("Gempa M{{ magnitude }}, {{ time }}. #gempa #BMKG")
    (tmp_path / "earthquake" / "update.id.j2").write_text(
        "{% if source_changed %}INFO {{ agency }} ({{ previous_agency }}){% else %}RALAT{% endif %} M{{ magnitude }}"
    )
    assert Renderer(tmp_path).check() == []
    # A misspelt variable in the branch taken only after another agency's post is still found.
    (tmp_path / "earthquake" / "update.id.j2").write_text(
        "{% if source_changed %}INFO {{ agensi }}{% else %}RALAT{% endif %} M{{ magnitude }}"
    )
    (problem,) = Renderer(tmp_path).check()
    assert problem.file.endswith("update.id.j2") and "agensi" in str(problem)


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_text_names_the_area_of_the_account_that_posts_it(lang):
    from warnd.model import Region

    (quake,) = bmkg.parse(sample("bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"), Source("a", NOW)).events
    dompu = (Region("52.05", "Kabupaten Dompu", "regency", "52"),)
    r = Renderer(TEMPLATES)

    def text(area):
        return r.render(
            event=quake,
            kind=WarningKind.NEW,
            rule="r",
            template="earthquake",
            priority=Priority.NORMAL,
            target=AccountView("a", lang, (), area=area),
            regions=dompu,
            first_post=None,
            now=NOW,
        ).text

    credit, tag = ("Sumber: BMKG.", "#gempa") if lang == "id" else ("Source: BMKG.", "#earthquake")
    assert text(("Nusa Tenggara Barat",)).endswith(f"\n{credit} #NusaTenggaraBarat {tag}")
    assert text(("Nusa Tenggara Barat", "Kota Bau-Bau")).endswith(f"\n{credit} #NusaTenggaraBarat #KotaBauBau {tag}")
    # No home regions: every region of the country.
    national = text(())
    assert national.endswith(f"\n{credit} #Indonesia {tag}")
    assert national.replace("#Indonesia", "#NusaTenggaraBarat") == text(("Nusa Tenggara Barat",))
    # Every shipped template names it.
    assert r.ignores_area() == []
