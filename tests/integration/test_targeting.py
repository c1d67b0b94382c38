"""Whom a quake warns, with the shipped configuration and starter rules: shaking judged at the
kecamatan points, the epicentre's regency always named, and a reach that never shrinks as the
magnitude grows."""

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.conftest import ROOT
from warnd.model import ChangeKind, EventChange, Hazard, HazardEvent, MsgType, Status
from warnd.rules.engine import evaluate
from warnd.runtime.build import Bundle, build

CONFIG = ROOT / "config" / "warnd.yaml"


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build(CONFIG, with_senders=False)


def quake(lat: float, lon: float, magnitude: float, depth_km: float) -> HazardEvent:
    return HazardEvent(
        id=f"test-{lat}-{lon}-{magnitude}-{depth_km}",
        feed="test",
        feed_format="bmkg-tews",
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        lat=lat,
        lon=lon,
        magnitude=magnitude,
        depth_km=depth_km,
    )


def warned(bundle: Bundle, ev: HazardEvent) -> set[str]:
    matches, _ = evaluate(bundle.ruleset, bundle.regions, EventChange(ChangeKind.NEW, ev), explain=False)
    return {r.code for m in matches for r in m.regions}


# Onshore and offshore places where Indonesia's felt quakes happen: south of Yogyakarta (the
# Java trench side), Palu (a crustal fault on land), the Molucca Sea off Bitung, and off Bengkulu.
PLACES = {
    "south of Yogyakarta": (-8.45, 110.30),
    "Palu": (-0.90, 119.87),
    "Molucca Sea": (1.30, 126.40),
    "off Bengkulu": (-4.00, 101.90),
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("depth", [10, 30, 70, 120])
def test_a_larger_quake_never_warns_a_smaller_area(bundle, place, depth):
    lat, lon = PLACES[place]
    reach = [warned(bundle, quake(lat, lon, m, depth)) for m in (4.9, 5.0, 5.5, 6.0)]
    for smaller, larger in itertools.pairwise(reach):
        assert smaller <= larger, f"{place} at {depth} km: {sorted(smaller - larger)} lost"
    # And an M6.0 warns somebody wherever it is.
    assert reach[-1], f"an M6.0 {place} at {depth} km warns nobody"


def test_the_epicentre_regency_is_named_however_weak_the_predicted_shaking(bundle):
    # M3.0 at 150 km under Kabupaten Garut: predicted MMI at the surface is below II, yet the
    # quake passed the rule's magnitude test and it is under Garut.
    ev = quake(-7.35, 107.80, 3.0, 150)
    assert "32.05" in warned(bundle, ev)


def test_shaking_is_judged_at_the_kecamatan_not_at_the_polygon_edge(bundle):
    """A quake 9 km outside Kabupaten Kepulauan Seribu's nearest island is near its polygon, but
    the islands' kecamatan points are farther: a small quake there must not name a regency
    because its edge is close, only where its people are shaken."""
    index = bundle.regions
    points = index.points
    # Whatever the quake, every named regency other than the epicentre's has a kecamatan point
    # within the felt radius of the rule that named it.
    ev = quake(-6.60, 106.40, 4.5, 10)
    named = warned(bundle, ev)
    epicentre = {h.region.code for h in index.locate(-6.60, 106.40, "regency", 2.0)}
    dist = points.distances_km(-6.60, 106.40)
    from warnd.shaking import felt_radius_km

    radius = max(felt_radius_km(4.5, 10, r.intensity.value) for r in bundle.ruleset.rules if r.intensity)
    for code in named - epicentre:
        near = [d for c, d in zip(points.codes, dist.tolist(), strict=True) if c.startswith(code + ".")]
        assert min(near) <= radius + 1e-6, code


def test_every_regency_has_kecamatan_points(bundle):
    index = bundle.regions
    regencies = {r.code for r in index.regions if r.level == "regency"}
    with_points = {c.rsplit(".", 1)[0] for c in index.points.codes}
    assert regencies <= with_points
    assert index.points.source.endswith("district-points.csv")


def test_a_revision_without_material_change_is_not_a_correction(bundle):
    from warnd.pipeline.changes import material_change

    ev = quake(1.6, 126.0, 5.6, 27)
    same = replace(ev, felt=(), tsunami=None, place="another wording")
    assert material_change(ev, same) is None
    assert material_change(replace(ev, tsunami=False), replace(ev, tsunami=None)) is None
    assert material_change(ev, replace(ev, magnitude=5.7)) is None
    assert "magnitude" in (material_change(ev, replace(ev, magnitude=5.8)) or "")
    assert "depth" in (material_change(ev, replace(ev, depth_km=40)) or "")
    assert "epicentre" in (material_change(ev, replace(ev, lat=1.75)) or "")
    assert "tsunami" in (material_change(replace(ev, tsunami=False), replace(ev, tsunami=True)) or "")


def _terkini_shape(entry: dict) -> dict:
    """The same quake as gempaterkini shows it: no felt list, a Potensi sentence."""
    out = {k: v for k, v in entry.items() if k != "Dirasakan"}
    out["Potensi"] = "Tidak berpotensi tsunami"
    return out


def _dirasakan(match: str) -> tuple[bytes, bytes]:
    """One real quake of gempadirasakan (16-24 Dec 2025), first as a document without its felt
    list (as gempaterkini and the first automatic report carry it), then as BMKG listed it."""
    import json

    doc = json.loads((ROOT / "feeds/samples/bmkg-tews/gempadirasakan_2025-12-24_darcien.json").read_bytes())
    (entry,) = [g for g in doc["Infogempa"]["gempa"] if g["Wilayah"].startswith(match)]
    first = json.dumps({"Infogempa": {"gempa": [_terkini_shape(entry)]}}).encode()
    felt = json.dumps({"Infogempa": {"gempa": [entry]}}).encode()
    return first, felt


def test_a_felt_list_naming_unwarned_regencies_extends_the_warning_never_corrects_it():
    from warnd.model import WarningKind
    from warnd.runtime.simulate import Document, simulate

    # M4.6 at 43 km, 79 km east of Bitung: predicted MMI II-III reaches Bitung's kecamatan, not
    # Manado's (105 km) nor Minahasa's; BMKG then lists III Bitung, III Tondano, III Manado.
    first, felt = _dirasakan("Pusat gempa berada di laut 79 km Timur Bitung")
    run = simulate(
        CONFIG,
        [Document("terkini", first, "bmkg-gempaterkini"), Document("dirasakan", felt, "bmkg-gempadirasakan")],
        [datetime.now(UTC)],
        follow=True,
    )
    sulut = [w for w in run.warnings if w.account == "gempa-sulawesi-utara"]
    assert [w.kind for w in sulut] == [WarningKind.NEW, WarningKind.EXTEND]
    new, extend = sulut
    named_first = {r.code for r in new.regions}
    assert "71.72" in named_first  # Kota Bitung
    # The update names only what the account had not named: Kota Manado and Kabupaten Minahasa
    # (Tondano is its seat).
    assert {r.code for r in extend.regions} == {"71.71", "71.02"}
    assert not named_first & {r.code for r in extend.regions}
    assert extend.text.startswith("UPDATE gempa M4.6") and "juga dirasakan di" in extend.text
    assert "RALAT" not in extend.text
    assert not [w for w in run.warnings if w.kind is WarningKind.UPDATE]


def test_the_same_quake_from_another_endpoint_is_not_a_correction():
    from warnd.runtime.simulate import Document, simulate

    # Jailolo M5.6 (21 Dec 2025): gempaterkini's shape, then gempadirasakan's, then gempaterkini's
    # again. Same values; only the endpoint's shape differs.
    first, felt = _dirasakan("Pusat gempa berada di laut 133 Km Barat laut Jailolo")
    docs = [
        Document("terkini", first, "bmkg-gempaterkini"),
        Document("dirasakan", felt, "bmkg-gempadirasakan"),
        Document("terkini-2", first, "bmkg-gempaterkini"),
    ]
    run = simulate(CONFIG, docs, [datetime.now(UTC)], follow=True)
    assert run.warnings and all(w.kind.value in ("new", "extend") for w in run.warnings), [
        (w.account, w.kind.value) for w in run.warnings
    ]
    assert not [w for w in run.warnings if "RALAT" in w.text]
    held = [h for s in run.trace for r in s["rules"] for h in r.get("held", [])]
    assert "not_material" in {h["reason"] for h in held}
