"""Predicted shaking: the Modified Mercalli intensity (MMI) a quake causes at a distance from its
epicentre, and how far out it reaches an intensity. Pure math.

Two published models, chosen by focal depth. Shallow quakes (crustal, and the interface) use an
intensity prediction equation fitted to felt reports. Quakes at INTRASLAB_DEPTH_KM or deeper
are intraslab under Indonesia (the Sunda and Banda slabs, the Molucca Sea plate); they are felt
far wider than a crustal equation says: for their size they shake harder (the depth term of
slab ground-motion models is positive) and their waves lose less on the way up. For them, the
chain ShakeMap uses: peak ground acceleration from a subduction intraslab ground-motion model,
converted to intensity with a ground-motion to intensity conversion equation.

At the switch (60 km) the intraslab chain predicts at least as much shaking as the crustal
equation at every magnitude from 3 to 8.5 and every distance at which either reaches MMI I (the
tests check it over that grid): a quake just deeper than 60 km warns as widely as, or more
widely than, one just shallower, never less. The step is upward and can be large (an M5.0's
MMI III radius goes from 50 to about 110 km); that is the intraslab character the switch is
for, and a warning rule erring wide at a depth BMKG gives to within ten kilometres or so is
the safe side. A blend over a band would put a mixture of two models, fitted to neither kind of
quake, on exactly the depths that are most uncertain, for no gain in that direction.
"""

from __future__ import annotations

import math

INTRASLAB_DEPTH_KM = 60.0

# Atkinson, G.M., Worden, C.B. and Wald, D.J. (2014). Intensity prediction equations for North
# America. Bull. Seismol. Soc. Am. 104(6), 3084-3093, doi:10.1785/0120140178: the form for active
# crustal regions (no eastern North America correction), as USGS DYFI uses it. MMI from moment
# magnitude and hypocentral distance; no site term. Indonesia has no published national IPE in
# open form; this one is used as a screening estimate, which is what a warning rule needs.
_AWW14 = (0.309, 1.864, -1.672, -0.00219, 1.77, -0.383)

# Abrahamson, N., Gregor, N. and Addo, K. (2016). BC Hydro ground motion prediction equations
# for subduction earthquakes. Earthquake Spectra 32(1), 23-44, doi:10.1193/051712EQS188MR: the
# median of their model with F_event = 1 (intraslab: hypocentral distance, the theta10 and
# theta14 terms, the depth term), f_FABA = 0 (forearc; a backarc site would get less), and their
# site term. Period-independent constants of their Table 2 (theta3, theta4, theta5, theta9, c4,
# n, c, C1); the PGA row of their Table 3; Delta C1 = -0.3 for slab events, the central branch of
# their magnitude-scaling adjustment (the break in magnitude scaling at C1 + Delta C1 = M7.5,
# above which the linear magnitude slope is theta5 = 0). Taken as reproduced in OpenQuake hazardlib
# (gem/oq-engine, openquake/hazardlib/gsim/abrahamson_2015.py, class AbrahamsonEtAl2015SSlab)
# and checked against the USGS nshmp-haz table (usgs/nshmp-haz, BCHydro12.csv, row PGA), which
# agrees on every coefficient used here; the tests reproduce OpenQuake's verification table.
_BCH_THETA1 = 4.2203
_BCH_THETA2 = -1.35
_BCH_THETA6 = -0.0012
_BCH_THETA10 = 3.12
_BCH_THETA11 = 0.013
_BCH_THETA12 = 0.98
_BCH_THETA13 = -0.0135
_BCH_THETA14 = -0.40
_BCH_VLIN = 865.1
_BCH_B = -1.186
_BCH_THETA3 = 0.1
_BCH_THETA4 = 0.9
_BCH_THETA5 = 0.0
_BCH_THETA9 = 0.4
_BCH_C4 = 10.0
_BCH_N = 1.18
_BCH_C = 1.88
_BCH_C1 = 7.8
_BCH_DELTA_C1_SLAB = -0.3
_BCH_M_BREAK = _BCH_C1 + _BCH_DELTA_C1_SLAB

# The site the intraslab chain predicts for. Intensity is what people feel where they live, and
# Indonesian towns stand mostly on alluvium and coastal plains; the crustal equation above is
# fitted to such reports, and Worden et al. fitted their conversion to acceleration recorded at
# ordinary stations, not corrected to rock. Rock (Vs30 = 1000 m/s, the model's reference) would
# put the Mentawai M7.3 at 84 km at MMI 4.4 in Padang; Sumatera Barat felt MMI VI. Site class D is
# what ASCE 7-16 section 11.4.3 prescribes where the ground is not known; its Vs30 range is 180 to
# 360 m/s (ASCE 7-16 Table 20.3-1), and its geometric middle, 255 m/s, stands for it here.
SITE_VS30 = math.sqrt(180.0 * 360.0)

# Worden, C.B., Gerstenberger, M.C., Rhoades, D.A. and Wald, D.J. (2012). Probabilistic
# relationships between ground-motion parameters and Modified Mercalli intensity in California.
# Bull. Seismol. Soc. Am. 102(1), 204-221, doi:10.1785/0120110156: their bilinear MMI from
# log10 PGA (cm/s^2) with the PGA row of their Table 1 (c1, c2, c3, c4; t1 = 1.57), without the
# optional distance and magnitude terms (c5, c6, c7). USGS ShakeMap converts with it (shakelib,
# gmice/wgrw12.py).
_WGRW12_PGA = (1.78, 1.55, -1.60, 3.70)
_G_CM_S2 = 980.665
_LOG10_G = math.log10(_G_CM_S2)
_LN10 = math.log(10.0)


def predicted_mmi(magnitude: float, depth_km: float | None, distance_km: float) -> float:
    """Expected Modified Mercalli intensity at `distance_km` (epicentral) from a quake: the
    intraslab chain at INTRASLAB_DEPTH_KM and deeper, the crustal equation above it (and when
    the depth is not known)."""
    if depth_km is not None and depth_km >= INTRASLAB_DEPTH_KM:
        return intraslab_mmi(magnitude, depth_km, distance_km)
    return crustal_mmi(magnitude, depth_km, distance_km)


def crustal_mmi(magnitude: float, depth_km: float | None, distance_km: float) -> float:
    """Atkinson, Worden & Wald (2014), active crustal regions."""
    c1, c2, c3, c4, c5, c6 = _AWW14
    hypo = math.hypot(distance_km, depth_km or 0.0)
    r = math.hypot(hypo, 14.0)
    log_r = math.log10(r)
    b = max(0.0, math.log10(r / 50.0))
    return c1 + c2 * magnitude + c3 * log_r + c4 * r + c5 * b + c6 * magnitude * log_r


def intraslab_mmi(magnitude: float, depth_km: float, distance_km: float) -> float:
    """BC Hydro (2016) intraslab PGA at a site of SITE_VS30, to MMI by Worden et al. (2012)."""
    ln_pga_g = bchydro_slab_ln_pga(magnitude, depth_km, math.hypot(distance_km, depth_km))
    return mmi_from_log10_pga(_LOG10_G + ln_pga_g / _LN10)


def bchydro_slab_ln_pga(magnitude: float, depth_km: float, rhypo_km: float, vs30: float = SITE_VS30) -> float:
    """Natural log of the median PGA (g) of an intraslab quake at hypocentral distance
    `rhypo_km`, at a forearc site of `vs30` m/s: Abrahamson, Gregor & Addo (2016).

    It falls with distance while theta2 + theta14 + theta3 (M - 7.8) < 0, that is for every M
    below 25. It grows with magnitude at every hypocentral distance an intraslab quake can have
    (60 km and more), above the M7.5 break too, where the linear slope stops: theta3 ln(R + ...)
    and theta13 still outweigh the near-source saturation there."""
    m = magnitude
    slope = _BCH_THETA4 if m <= _BCH_M_BREAK else _BCH_THETA5
    f_mag = slope * (m - _BCH_M_BREAK) + _BCH_THETA13 * (10.0 - m) ** 2
    # The depth term stops growing at 120 km (their equation 3).
    f_depth = _BCH_THETA11 * (min(depth_km, 120.0) - 60.0)
    f_dist = (_BCH_THETA2 + _BCH_THETA14 + _BCH_THETA3 * (m - _BCH_C1)) * math.log(
        rhypo_km + _BCH_C4 * math.exp((m - 6.0) * _BCH_THETA9)
    ) + _BCH_THETA6 * rhypo_km
    ln_ref = _BCH_THETA1 + _BCH_THETA4 * _BCH_DELTA_C1_SLAB + f_mag + f_dist + _BCH_THETA10 + f_depth
    ratio = min(vs30, 1000.0) / _BCH_VLIN
    if vs30 >= _BCH_VLIN:
        return ln_ref + (_BCH_THETA12 + _BCH_B * _BCH_N) * math.log(ratio)
    # Soil answers less than linearly to strong shaking: the amplification depends on the PGA
    # the same quake gives on rock (Vs30 = 1000 m/s, where the linear form holds).
    pga_rock = math.exp(ln_ref + (_BCH_THETA12 + _BCH_B * _BCH_N) * math.log(1000.0 / _BCH_VLIN))
    nonlinear = math.log(pga_rock + _BCH_C * ratio**_BCH_N) - math.log(pga_rock + _BCH_C)
    return ln_ref + _BCH_THETA12 * math.log(ratio) + _BCH_B * nonlinear


def mmi_from_log10_pga(log10_pga_cm_s2: float) -> float:
    """Worden et al. (2012), MMI from PGA with the coefficients of their Table 1.

    Their two lines meet at log10 PGA = (c1 - c3) / (c4 - c2) = 1.572, which the paper rounds to
    t1 = 1.57; switching at the rounded value would step the intensity down by 0.005 just past
    it, so that a stronger shaking would read as a weaker one. The larger of the two lines is
    the same equation with the break where they meet: continuous and rising."""
    c1, c2, c3, c4 = _WGRW12_PGA
    return max(c1 + c2 * log10_pga_cm_s2, c3 + c4 * log10_pga_cm_s2)


def felt_radius_km(magnitude: float, depth_km: float | None, mmi: float) -> float:
    """The epicentral distance out to which `predicted_mmi` stays at or above `mmi` (0 if not
    even at the epicentre). Intensity falls monotonically with distance in both models, so
    bisection works."""
    if predicted_mmi(magnitude, depth_km, 0.0) < mmi:
        return 0.0
    lo, hi = 0.0, 2000.0
    if predicted_mmi(magnitude, depth_km, hi) >= mmi:
        return hi
    for _ in range(40):
        mid = (lo + hi) / 2
        if predicted_mmi(magnitude, depth_km, mid) >= mmi:
            lo = mid
        else:
            hi = mid
    return lo
