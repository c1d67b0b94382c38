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
    from warnd.pipeline.stages import material_change

    ev = quake(1.6, 126.0, 5.6, 27)
    same = replace(ev, felt=(), tsunami=None, place="another wording")
    assert material_change(ev, same) is None
    assert material_change(replace(ev, tsunami=False), replace(ev, tsunami=None)) is None
    assert material_change(ev, replace(ev, magnitude=5.7)) is None
    assert "magnitude" in (material_change(ev, replace(ev, magnitude=5.8)) or "")
    assert "depth" in (material_change(ev, replace(ev, depth_km=40)) or "")
    assert "epicentre" in (material_change(ev, replace(ev, lat=1.75)) or "")
    assert "tsunami" in (material_change(replace(ev, tsunami=False), replace(ev, tsunami=True)) or "")
