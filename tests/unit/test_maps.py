"""The map image of a warning, drawn for real and read back with Pillow: its size, the colours
at the places the renderer's own projection puts the epicentre and the regions, the exercise
watermark, the legend, and the alt text. A small made-up region set keeps every position known."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely
from PIL import Image

from warnd.geo import RegionIndex
from warnd.maps import HEIGHT, WIDTH, Scale, alt_text, prepare, projection, render_map, shading, style
from warnd.maps.basemap import basemap
from warnd.maps.labels import Label, overlaps, place
from warnd.maps.png import encode
from warnd.model import (
    Hazard,
    HazardEvent,
    MsgType,
    Priority,
    Region,
    Status,
    Warning,
    WarningKind,
    ZonePart,
)

# Two provinces of Nusa Tenggara Barat's zone (52: WITA) side by side on the equator's south,
# each of two regencies, and sea around them.
BOXES = {
    "52": ("Nusa Tenggara Barat", (116.0, -9.0, 118.0, -8.0)),
    "52.01": ("Kabupaten Barat", (116.0, -9.0, 117.0, -8.0)),
    "52.02": ("Kabupaten Timur", (117.0, -9.0, 118.0, -8.0)),
    "53": ("Nusa Tenggara Timur", (118.2, -9.0, 120.2, -8.0)),
    "53.01": ("Kabupaten Pantai", (118.2, -9.0, 119.2, -8.0)),
    "53.02": ("Kabupaten Gunung", (119.2, -9.0, 120.2, -8.0)),
}


@pytest.fixture(scope="module")
def regions() -> RegionIndex:
    rs = [Region(code, name, "province" if "." not in code else "regency") for code, (name, _) in BOXES.items()]
    return RegionIndex(rs, [shapely.box(*box) for _, box in BOXES.values()])


def region(regions: RegionIndex, code: str) -> Region:
    return regions.by_code[code]


def quake(**kw) -> HazardEvent:
    base = {
        "id": "bmkg-eq-1",
        "feed": "bmkg-autogempa",
        "feed_format": "bmkg-autogempa-json",
        "hazard": Hazard.EARTHQUAKE,
        "msg_type": MsgType.ALERT,
        "status": Status.ACTUAL,
        "time": datetime(2026, 8, 14, 21, 58, 23, tzinfo=UTC),
        "lat": -8.3,
        "lon": 116.5,
        "magnitude": 6.2,
        "depth_km": 10.0,
        "place": "12 km BaratLaut Kab. Barat",
    }
    base.update(kw)
    return HazardEvent(**base)


def warning(regions_: list[Region], **kw) -> Warning:
    base = {
        "id": "w-1",
        "event_id": "bmkg-eq-1",
        "revision": "r",
        "rule": "gempa",
        "account": "gempa-ntb",
        "kind": WarningKind.NEW,
        "severity": None,
        "priority": Priority.HIGH,
        "regions": tuple(regions_),
        "lang": "id",
        "text": "",
        "status": Status.ACTUAL,
        "created_at": datetime(2026, 8, 14, 22, 0, tzinfo=UTC),
    }
    base.update(kw)
    return Warning(**base)


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img.convert("RGB")


def interior_colour(img: Image.Image, proj, box: tuple[float, float, float, float]) -> tuple[int, int, int]:
    """The most common colour over a grid of points well inside a box (names and borders take
    a few of them, never most)."""
    w, s, e, n = box
    seen: Counter[tuple[int, int, int]] = Counter()
    for i in range(1, 10):
        for j in range(1, 10):
            lon, lat = w + (e - w) * (0.1 + 0.8 * i / 10), s + (n - s) * (0.1 + 0.8 * j / 10)
            x, y = proj.px(lon, lat)
            if 0 <= x < WIDTH and 0 <= y < HEIGHT:
                seen[img.getpixel((int(x), int(y)))] += 1  # type: ignore[index]
    return seen.most_common(1)[0][0]


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_a_png_of_the_card_size_under_a_megabyte(regions):
    png = render_map(quake(), warning([region(regions, "52.01")]), regions, credit="BMKG")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) <= 1_000_000
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (WIDTH, HEIGHT) == (1200, 675)


def test_the_epicentre_is_drawn_where_the_projection_puts_it(regions):
    ev = quake()
    w = warning([region(regions, "52.01")])
    img = decode(render_map(ev, w, regions, credit="BMKG"))
    x, y = projection(ev, w, regions).px(ev.lon, ev.lat)
    assert near(img.getpixel((round(x), round(y))), style.EPICENTRE)
    # Moved elsewhere, it is drawn there and no longer here.
    moved = quake(lon=116.9, lat=-8.8)
    img2 = decode(render_map(moved, w, regions, credit="BMKG"))
    x2, y2 = projection(moved, w, regions).px(moved.lon, moved.lat)
    assert near(img2.getpixel((round(x2), round(y2))), style.EPICENTRE)
    x3, y3 = projection(moved, w, regions).px(ev.lon, ev.lat)
    assert not near(img2.getpixel((round(x3), round(y3))), style.EPICENTRE)


def test_tsunami_zones_colour_their_regions_by_level_and_leave_the_rest_as_land(regions):
    ev = quake(hazard=Hazard.TSUNAMI, stage="PD-1", lat=-9.6, lon=117.0)
    parts = (ZonePart("52.01", "awas", "BAGIAN SELATAN"), ZonePart("52.02", "waspada"), ZonePart("52.01", "waspada"))
    w = warning([region(regions, "52.01"), region(regions, "52.02")], zone_parts=parts, level="awas")
    img = decode(render_map(ev, w, regions, credit="BMKG"))
    proj = projection(ev, w, regions)
    assert interior_colour(img, proj, BOXES["52.01"][1]) == style.shading(ev, w, regions).levels["52.01"].colour
    assert interior_colour(img, proj, BOXES["52.01"][1]) == (215, 25, 28)  # Awas: red
    assert interior_colour(img, proj, BOXES["52.02"][1]) == (254, 217, 118)  # Waspada: yellow
    assert interior_colour(img, proj, BOXES["53.01"][1]) == style.LAND
    # Sea between the provinces.
    sx, sy = proj.px(118.1, -8.5)
    assert img.getpixel((int(sx), int(sy))) == style.SEA


def test_the_legend_lists_the_levels_drawn_and_only_those(regions):
    ev = quake(hazard=Hazard.TSUNAMI, lat=-9.6, lon=117.0)
    parts = (ZonePart("52.01", "awas"), ZonePart("52.02", "waspada"))
    w = warning([region(regions, "52.01"), region(regions, "52.02")], zone_parts=parts)
    shade = shading(ev, w, regions)
    assert shade.scale is Scale.TSUNAMI and shade.title == "Peringatan tsunami"
    assert [lv.label for lv in shade.legend()] == ["Awas", "Waspada"]
    img = decode(render_map(ev, w, regions, credit="BMKG"))
    # The legend's panel, bottom left, over the sea: its swatches are the levels used.
    panel = img.crop((0, HEIGHT - 200, 330, HEIGHT))
    colours = {c for _, c in panel.getcolors(1 << 20)}
    assert (215, 25, 28) in colours and (254, 217, 118) in colours
    assert (253, 141, 60) not in colours  # Siaga: not in this warning


def test_gauge_levels_and_cap_severities_have_their_own_scales(regions):
    gauge = quake(hazard=Hazard.FLOOD, magnitude=None, depth_km=None, level="siaga2", value=286.0, unit="cm")
    w = warning([region(regions, "52.02")], level="siaga2")
    shade = shading(gauge, w, regions)
    assert shade.scale is Scale.GAUGE and [lv.label for lv in shade.legend()] == ["Siaga 2"]
    img = decode(render_map(gauge, w, regions, credit="DSDA"))
    assert interior_colour(img, projection(gauge, w, regions), BOXES["52.02"][1]) == (253, 141, 60)
    cap = quake(
        hazard=Hazard.WEATHER,
        magnitude=None,
        severity="Severe",
        area={"type": "Polygon", "coordinates": [[[117.2, -8.8], [117.8, -8.8], [117.8, -8.2], [117.2, -8.8]]]},
    )
    shade = shading(cap, warning([region(regions, "52.02")]), regions)
    assert shade.scale is Scale.SEVERITY and [lv.label for lv in shade.legend()] == ["Berat"]


def test_quake_regions_are_shaded_by_the_intensity_the_rules_predicted(regions):
    ev = quake()
    w = warning([region(regions, "52.01"), region(regions, "52.02")])
    shade = shading(ev, w, regions, {"52.01": "MMI 6", "52.02": "MMI 4"})
    assert shade.scale is Scale.MMI
    assert [lv.label for lv in shade.legend()] == ["VI", "IV"]
    img = decode(render_map(ev, w, regions, credit="BMKG", notes={"52.01": "MMI 6", "52.02": "MMI 4"}))
    proj = projection(ev, w, regions)
    assert interior_colour(img, proj, BOXES["52.01"][1]) == shade.levels["52.01"].colour
    assert interior_colour(img, proj, BOXES["52.02"][1]) == shade.levels["52.02"].colour
    assert shade.levels["52.01"].colour != shade.levels["52.02"].colour
    # Without the rules' notes: predicted here, the epicentre's region the strongest.
    own = shading(ev, w, regions)
    assert own.scale is Scale.MMI and own.levels["52.01"].rank <= own.levels["52.02"].rank


def watermark_pixels(img: Image.Image) -> int:
    band = img.crop((0, HEIGHT // 2 - 80, WIDTH, HEIGHT // 2 + 120))
    return sum(n for n, c in band.getcolors(1 << 20) if near(c, style.WATERMARK, 20))


def test_an_exercise_carries_latihan_across_the_map_and_a_real_event_does_not(regions):
    w = warning([region(regions, "52.01")])
    real = decode(render_map(quake(), w, regions, credit="BMKG"))
    drill = decode(
        render_map(quake(status=Status.EXERCISE), replace(w, status=Status.EXERCISE), regions, credit="BMKG")
    )
    test = decode(render_map(quake(status=Status.TEST), w, regions, credit="BMKG"))
    assert watermark_pixels(real) == 0
    assert watermark_pixels(drill) > 2000
    assert watermark_pixels(test) > 2000


def test_the_frame_holds_the_warned_regions_and_the_epicentre_not_the_archipelago(regions):
    ev = quake(lat=-9.7, lon=116.2)
    w = warning([region(regions, "52.02")])
    proj = projection(ev, w, regions)
    for lon, lat in [(117.0, -9.0), (118.0, -8.0), (116.2, -9.7)]:
        x, y = proj.px(lon, lat)
        assert 40 < x < WIDTH - 40 and 76 + 20 < y < HEIGHT - 20, (lon, lat)
    assert proj.east - proj.west < 10
    # The pixels are square on the ground: a degree of longitude is cos(lat) of one of latitude.
    x0, y0 = proj.px(117.0, -8.5)
    x1, _ = proj.px(118.0, -8.5)
    _, y1 = proj.px(117.0, -9.5)
    assert abs((x1 - x0) / (y1 - y0) - 0.9888) < 0.01
    lon, lat = proj.lonlat(*proj.px(117.3, -8.4))
    assert abs(lon - 117.3) < 1e-9 and abs(lat + 8.4) < 1e-9


def test_labels_are_placed_most_important_first_and_never_over_one_another():
    from PIL import ImageDraw

    draw = ImageDraw.Draw(Image.new("RGB", (400, 300)))
    names = ["Kabupaten Besar", "Kota Dua", "Kota Tiga", "Kota Empat", "Kota Lima", "Kota Enam", "Kota Tujuh"]
    labels = [Label(name, 200, 150) for name in names] + [Label("Jauh", 50, 30)]
    placed = place(draw, labels, 16, (0, 0, 400, 300), [], 2)
    texts = [lb.text for lb, _ in placed]
    # The first on its point, the next ones just above and below it while there is room, in
    # their order; the rest left out.
    assert texts[:3] == names[:3] and texts[-1] == "Jauh"
    assert 4 <= len(texts) < len(labels)
    assert placed[0][0].y == 150 and placed[1][0].y != 150 and placed[2][0].y != 150
    assert [t for t in names if t in texts] == texts[:-1]
    boxes = [b for _, b in placed]
    assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # A label that would leave the map is left out; so is one over a panel.
    assert place(draw, [Label("Tepi", 2, 100)], 16, (0, 0, 400, 300), [], 2) == []
    assert place(draw, [Label("Panel", 100, 100)], 16, (0, 0, 400, 300), [(0, 0, 400, 300)], 2) == []


def test_the_alt_text_says_in_indonesian_what_the_map_shows(regions):
    ev = quake()
    w = warning([region(regions, "52.01"), region(regions, "52.02")])
    text = alt_text(ev, w, regions, credit="BMKG", notes={"52.01": "MMI 6", "52.02": "MMI 4"})
    assert text.startswith("Peta Gempa bumi, M 6.2, kedalaman 10 km.")
    assert "Lokasi: 12 km BaratLaut Kab. Barat." in text
    assert "VI: Kabupaten Barat; IV: Kabupaten Timur." in text
    # The event's time in the region's own zone: 21:58:23 UTC is 05:58:23 WITA the next day.
    assert "Waktu: 15 Agu 2026 05:58:23 WITA." in text
    assert "Sumber: BMKG." in text
    assert "LATIHAN" not in text
    drill = alt_text(quake(status=Status.EXERCISE), w, regions, credit="BMKG")
    assert drill.startswith("LATIHAN, bukan kejadian sebenarnya.")


def test_the_time_is_in_the_zone_the_post_uses(regions):
    # 53 is WITA too; a region of a WIT province (91) would say WIT: the first warned region's.
    ev = quake()
    wib = Region("31.71", "Kota Jakarta Pusat", "regency")
    text = alt_text(ev, warning([wib]), regions, credit="BMKG")
    assert "Waktu: 15 Agu 2026 04:58:23 WIB." in text
    wit = Region("91.01", "Kabupaten Merauke", "regency")
    assert "Waktu: 15 Agu 2026 06:58:23 WIT." in alt_text(ev, warning([wit]), regions, credit="BMKG")


def test_the_png_writer_gives_back_every_pixel():
    import random

    data = random.Random(1).randbytes(37 * 11 * 3)
    img = Image.frombytes("RGB", (37, 11), data)
    back = decode(encode(img))
    assert back.size == (37, 11) and back.tobytes() == data


def test_the_outlines_are_prepared_once_per_region_set(regions):
    prepare(regions)
    prepared = regions.derived(basemap)
    render_map(quake(), warning([region(regions, "52.01")]), regions, credit="BMKG")
    assert regions.derived(basemap) is prepared
    assert set(prepared.by_code) == set(BOXES)


def test_a_map_over_a_megabyte_is_kept_under_it_in_256_colours_or_refused() -> None:
    from warnd.maps import png as png_out

    # Noise deflates badly: well over the limit as 24-bit PNG, under it in 256 colours.
    noise = Image.frombytes(
        "RGB", (WIDTH, HEIGHT), np.random.default_rng(7).integers(0, 256, WIDTH * HEIGHT * 3, dtype=np.uint8).tobytes()
    )
    assert len(png_out.encode(noise)) > png_out.MAX_BYTES
    small = png_out.encode_within(noise)
    assert len(small) <= png_out.MAX_BYTES
    assert decode(small).size == (WIDTH, HEIGHT)
    with pytest.raises(png_out.TooLarge, match="over the 1000 allowed"):
        png_out.encode_within(noise, limit=1000)
    # A map as drawn is left as it was encoded.
    flat = Image.new("RGB", (WIDTH, HEIGHT), (200, 220, 240))
    assert png_out.encode_within(flat) == png_out.encode(flat)
