"""Maps of real warnings: recorded BMKG, InaTEWS, nowcast and gauge documents through the shipped
national configuration (`simulate`: ledger, rules, lifecycle, as the daemon takes them), each
warning drawn and read back. The PNGs are left in the test's temporary folder for a look."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
from PIL import Image

from tests.conftest import ROOT, SAMPLES
from warnd.maps import HEIGHT, WIDTH, Scale, alt_text, projection, render_map, shading, style
from warnd.model import HazardEvent, Source, Warning
from warnd.pollers.registry import detect
from warnd.runtime.build import Bundle, build
from warnd.runtime.simulate import Document, simulate

CONFIG = ROOT / "config" / "warnd.yaml"
NAGEKEO = sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir())


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build(CONFIG, with_senders=False)


def warnings_of(paths: list[Path], feed: str, at: datetime | None = None) -> list[tuple[HazardEvent, Warning]]:
    """Each warning the documents make, with the event as its document told it (matched by the
    revision the warning was made from)."""
    now = at or datetime.now(UTC)
    docs = [Document(str(p), p.read_bytes(), feed) for p in paths]
    run = simulate(CONFIG, docs, [now], follow=at is None)
    events: dict[str, HazardEvent] = {}
    for d in docs:
        _, result = detect(d.data, Source(d.feed, now, d.name))
        events.update({e.revision: e for e in result.events})
    return [(events[w.revision], w) for w in run.warnings]


def draw(bundle: Bundle, event: HazardEvent, warning: Warning, out: Path, name: str) -> Image.Image:
    png = render_map(event, warning, bundle.regions, credit=bundle.renderer.credit(event))
    assert png.startswith(b"\x89PNG") and len(png) <= 1_000_000
    (out / f"{name}.png").write_bytes(png)
    img = Image.open(io.BytesIO(png))
    assert img.size == (WIDTH, HEIGHT)
    return img.convert("RGB")


def inside_colours(img: Image.Image, bundle: Bundle, event: HazardEvent, warning: Warning, code: str) -> Counter:
    """The colours at points spread inside a region (its largest part), in the image; none when
    it is drawn too small to tell."""
    proj = projection(event, warning, bundle.regions)
    geom = bundle.regions.geometry(code)
    assert geom is not None
    part = max(shapely.get_parts(geom), key=lambda g: g.area)
    w, s, e, n = part.bounds
    seen: Counter = Counter()
    (x0, y0), (x1, y1) = proj.px(w, n), proj.px(e, s)
    if x1 - x0 < 80 or y1 - y0 < 80:
        # Too small on this map for a name not to cover most of it.
        return seen
    for i in range(1, 20):
        for j in range(1, 20):
            lon, lat = w + (e - w) * i / 20, s + (n - s) * j / 20
            if part.contains(shapely.Point(lon, lat)):
                x, y = proj.px(lon, lat)
                if not (0 <= x < WIDTH and HEIGHT // 8 < y < HEIGHT):
                    continue
                colour = img.getpixel((int(x), int(y)))
                # A name's white halo may cover a small island: what is under it is unknown.
                if colour != style.HALO:
                    seen[colour] += 1
    return seen


def test_a_tsunami_warning_colours_each_zone_s_regency_by_its_level(bundle, tmp_path):
    pairs = warnings_of(NAGEKEO[:2], "bmkg-inatews-last30tsunamievent")
    escalated = [(e, w) for e, w in pairs if w.account == "gempa-nusa-tenggara-timur" and w.kind.value == "escalate"]
    assert escalated
    event, warning = escalated[0]
    img = draw(bundle, event, warning, tmp_path, "nagekeo-pd2-ntt")
    shade = shading(event, warning, bundle.regions)
    assert shade.scale is Scale.TSUNAMI
    assert {lv.label for lv in shade.legend()} <= {"Awas", "Siaga", "Waspada"}
    checked = 0
    for region in warning.regions:
        seen = inside_colours(img, bundle, event, warning, region.code)
        if sum(seen.values()) >= 20:
            assert seen.most_common(1)[0][0] == shade.levels[region.code].colour, region.name
            checked += 1
    assert checked >= 3
    x, y = projection(event, warning, bundle.regions).px(event.lon, event.lat)
    assert img.getpixel((round(x), round(y))) == style.EPICENTRE
    text = alt_text(event, warning, bundle.regions, credit="BMKG")
    assert "M 7.7" in text and "WITA." in text and "Kabupaten Ngada" in text and "Sumber: BMKG." in text
    # Framed on the province's coast, not the archipelago.
    proj = projection(event, warning, bundle.regions)
    assert proj.east - proj.west < 15


def test_a_felt_quake_shades_its_regencies_and_leaves_its_neighbours_as_land(bundle, tmp_path):
    pairs = warnings_of([SAMPLES / "bmkg-tews" / "gempadirasakan_2025-12-24_darcien.json"], "bmkg-gempadirasakan")
    assert len(pairs) >= 5
    warned = unwarned = 0
    for n, (event, warning) in enumerate(pairs[:6]):
        img = draw(bundle, event, warning, tmp_path, f"felt-{n}")
        proj = projection(event, warning, bundle.regions)
        x, y = proj.px(event.lon, event.lat)
        assert img.getpixel((round(x), round(y))) == style.EPICENTRE
        shade = shading(event, warning, bundle.regions)
        for region in warning.regions[:3]:
            seen = inside_colours(img, bundle, event, warning, region.code)
            if sum(seen.values()) >= 20:
                assert seen.most_common(1)[0][0] == shade.levels[region.code].colour, region.name
                warned += 1
        # A regency of the same province the warning does not name: drawn as land.
        province = warning.regions[0].code.split(".")[0]
        named = {r.code for r in warning.regions}
        others = [
            r
            for r in bundle.regions.regions
            if r.level == "regency" and r.code.startswith(province + ".") and r.code not in named
        ]
        for other in others:
            seen = inside_colours(img, bundle, event, warning, other.code)
            if sum(seen.values()) >= 40:
                assert seen.most_common(1)[0][0] == style.LAND, other.name
                unwarned += 1
    assert warned >= 3 and unwarned >= 3


def test_a_nowcast_and_a_gauge_have_their_scales_and_credits(bundle, tmp_path):
    nowcast = SAMPLES / "bmkg-nowcast" / "nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"
    pairs = warnings_of([nowcast], "bmkg-nowcast", datetime(2026, 2, 16, 16, 45, tzinfo=UTC))
    assert pairs
    event, warning = pairs[0]
    assert event.area is not None
    img = draw(bundle, event, warning, tmp_path, "nowcast-banten")
    shade = shading(event, warning, bundle.regions)
    assert shade.scale is Scale.SEVERITY
    # The source's own polygon is outlined.
    assert any(c == style.CAP_AREA for _, c in img.getcolors(1 << 20))
    assert "Hujan Lebat" in alt_text(event, warning, bundle.regions, credit="BMKG")

    gauge = SAMPLES / "gauges" / "dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"
    pairs = warnings_of([gauge], "dsda-xmldata")
    assert pairs
    event, warning = pairs[0]
    img = draw(bundle, event, warning, tmp_path, "gauge-jakarta")
    shade = shading(event, warning, bundle.regions)
    assert shade.scale is Scale.GAUGE
    credit = bundle.renderer.credit(event)
    assert credit != "BMKG"
    text = alt_text(event, warning, bundle.regions, credit=credit)
    assert f"Sumber: {credit}." in text and "WIB." in text
