"""Predicted shaking: the intraslab ground-motion model against its published verification table,
the intensity conversion at known points, monotonicity over the whole range rules use, and two
real Indonesian intermediate-depth quakes."""

import math
from itertools import pairwise

import pytest

from warnd.geo import haversine_km
from warnd.shaking import (
    INTRASLAB_DEPTH_KM,
    bchydro_slab_ln_pga,
    crustal_mmi,
    felt_radius_km,
    intraslab_mmi,
    mmi_from_log10_pga,
    predicted_mmi,
)

# Rows of OpenQuake's verification table for the BC Hydro intraslab model, central magnitude
# scaling branch: gem/oq-engine, openquake/hazardlib/tests/gsim/data/BCHYDRO/
# BCHYDRO_SSLAB_CENTRAL_MEAN.csv (version babca67b3ce9cc9e5494166f6607cce6715ea0a8), each row
# copied as it stands up to its PGA column: rup_mag, rup_hypo_depth, dist_rhypo, site_vs30,
# site_backarc, result_type, damping, pga (g). Forearc rows, every site velocity of the table
# (linear and nonlinear site response), depths on both sides of the 60 and 120 km hinges of the
# depth term, and magnitudes on both sides of the M7.5 break.
SSLAB_CENTRAL_MEAN_ROWS = [
    "5.0,45.0,1.0,180.0,0.0,MEAN,5.0,6.13167470e-01",
    "5.0,45.0,1.0,1200.0,0.0,MEAN,5.0,1.08468783e+00",
    "5.0,45.0,300.0,1200.0,0.0,MEAN,5.0,4.27941375e-04",
    "5.0,90.0,50.0,850.0,0.0,MEAN,5.0,3.41488880e-02",
    "5.0,90.0,100.0,360.0,0.0,MEAN,5.0,1.26629148e-02",
    "5.0,90.0,100.0,1200.0,0.0,MEAN,5.0,8.32751023e-03",
    "5.0,90.0,300.0,1200.0,0.0,MEAN,5.0,7.68150910e-04",
    "5.0,135.0,100.0,570.0,0.0,MEAN,5.0,1.54942477e-02",
    "5.0,135.0,300.0,1200.0,0.0,MEAN,5.0,1.13454414e-03",
    "7.0,45.0,50.0,1200.0,0.0,MEAN,5.0,2.33677689e-01",
    "7.0,90.0,100.0,360.0,0.0,MEAN,5.0,1.85475550e-01",
    "7.0,90.0,100.0,570.0,0.0,MEAN,5.0,1.67141150e-01",
    "7.0,90.0,300.0,1200.0,0.0,MEAN,5.0,1.72711148e-02",
    "7.0,135.0,100.0,180.0,0.0,MEAN,5.0,2.54584230e-01",
    "8.0,135.0,100.0,570.0,0.0,MEAN,5.0,5.42608718e-01",
    "8.0,135.0,100.0,1200.0,0.0,MEAN,5.0,4.97051653e-01",
    "8.0,135.0,300.0,850.0,0.0,MEAN,5.0,7.81917575e-02",
    "9.0,90.0,100.0,1200.0,0.0,MEAN,5.0,4.92766626e-01",
    "9.0,90.0,300.0,360.0,0.0,MEAN,5.0,1.21824689e-01",
    "9.0,135.0,50.0,180.0,0.0,MEAN,5.0,7.67017838e-01",
]


@pytest.mark.parametrize("row", SSLAB_CENTRAL_MEAN_ROWS)
def test_intraslab_pga_reproduces_the_published_verification_table(row: str) -> None:
    mag, depth, rhypo, vs30, backarc, kind, _, pga = row.split(",")
    assert backarc == "0.0" and kind == "MEAN"
    got = math.exp(bchydro_slab_ln_pga(float(mag), float(depth), float(rhypo), float(vs30)))
    # The table is printed to nine significant figures; OpenQuake's own test allows 0.1 %.
    assert got == pytest.approx(float(pga), rel=1e-6)


@pytest.mark.parametrize(
    ("log10_pga", "mmi"),
    [
        # Worden et al. (2012) Table 1, PGA: c1 + c2 x below t1 = 1.57, c3 + c4 x above.
        (0.0, 1.78),  # 1 cm/s^2: c1
        (1.0, 1.78 + 1.55),  # 10 cm/s^2
        (2.0, -1.60 + 2 * 3.70),  # 100 cm/s^2
        (math.log10(980.665), -1.60 + 3.70 * math.log10(980.665)),  # 1 g: MMI 9.5
        (1.57, 4.22),  # t1 maps to t2, the intensity the paper gives for the break
    ],
)
def test_intensity_from_pga_at_known_points(log10_pga: float, mmi: float) -> None:
    assert mmi_from_log10_pga(log10_pga) == pytest.approx(mmi, abs=0.01)


def test_intensity_from_pga_never_falls_as_pga_grows() -> None:
    xs = [i / 2000 for i in range(0, 7001)]  # 1 cm/s^2 to 3 g, through the break at 1.572
    mmis = [mmi_from_log10_pga(x) for x in xs]
    assert all(b > a for a, b in pairwise(mmis))


MAGNITUDES = [m / 10 for m in range(30, 86)]
DEPTHS = sorted({float(d) for d in range(0, 301, 10)} | {INTRASLAB_DEPTH_KM - 0.1, INTRASLAB_DEPTH_KM})
DISTANCES = [float(d) for d in range(0, 1001, 10)]


def test_intensity_grows_with_magnitude_everywhere() -> None:
    for depth in DEPTHS:
        for dist in DISTANCES:
            mmis = [predicted_mmi(m, depth, dist) for m in MAGNITUDES]
            bad = [(m, depth, dist) for m, (a, b) in zip(MAGNITUDES[1:], pairwise(mmis), strict=True) if not b > a]
            assert not bad, bad[:3]


def test_intensity_falls_with_distance_everywhere() -> None:
    for depth in DEPTHS:
        for m in MAGNITUDES:
            mmis = [predicted_mmi(m, depth, d) for d in DISTANCES]
            bad = [(m, depth, d) for d, (a, b) in zip(DISTANCES[1:], pairwise(mmis), strict=True) if not b < a]
            assert not bad, bad[:3]


def test_the_model_follows_the_depth() -> None:
    assert predicted_mmi(6.0, 100, 80) == intraslab_mmi(6.0, 100, 80)
    assert predicted_mmi(6.0, INTRASLAB_DEPTH_KM, 80) == intraslab_mmi(6.0, INTRASLAB_DEPTH_KM, 80)
    assert predicted_mmi(6.0, 59.9, 80) == crustal_mmi(6.0, 59.9, 80)
    assert predicted_mmi(6.0, None, 80) == crustal_mmi(6.0, 0.0, 80)


def test_a_quake_just_below_the_switch_never_warns_less_than_one_just_above() -> None:
    above = INTRASLAB_DEPTH_KM - 1e-6
    for m in MAGNITUDES:
        for dist in DISTANCES:
            deep, shallow = predicted_mmi(m, INTRASLAB_DEPTH_KM, dist), predicted_mmi(m, above, dist)
            if max(deep, shallow) >= 1.0:
                assert deep >= shallow, (m, dist, deep, shallow)
        for mmi in (2.0, 3.0, 4.0, 5.0, 6.0):
            assert felt_radius_km(m, INTRASLAB_DEPTH_KM, mmi) >= felt_radius_km(m, above, mmi)


@pytest.mark.parametrize(("magnitude", "depth"), [(5.0, 70.0), (5.9, 109.0), (7.0, 200.0), (8.5, 300.0)])
def test_felt_radius_bisects_the_intraslab_model(magnitude: float, depth: float) -> None:
    r = felt_radius_km(magnitude, depth, 3.0)
    assert 0 < r < 2000
    assert predicted_mmi(magnitude, depth, r - 0.5) >= 3.0 > predicted_mmi(magnitude, depth, r + 0.5)


def test_an_m59_at_109_km_is_felt_far_wider_than_the_crustal_equation_says() -> None:
    # A real M5.9 at 109 km depth was felt across North Sulawesi.
    radius = felt_radius_km(5.9, 109, 3.0)
    assert radius > 250
    # Intensity falls with distance, so this puts the crustal MMI III radius below 60 % of it.
    assert crustal_mmi(5.9, 109, 0.6 * radius) < 3.0


def test_the_mentawai_m73_at_84_km_reaches_mmi_v_in_padang() -> None:
    # Epicentre 0.93 S 98.39 E; Padang -0.95, 100.35. MMI VI was felt in Sumatera Barat.
    distance = haversine_km(-0.93, 98.39, -0.95, 100.35)
    assert 200 < distance < 230
    assert predicted_mmi(7.3, 84, distance) >= 5.0
    assert crustal_mmi(7.3, 84, distance) < 5.0
