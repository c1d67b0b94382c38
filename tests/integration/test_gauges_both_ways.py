"""Water gates going up and coming down, through `simulate` (ledger, rules, lifecycle, render):
the April 2019 Jakarta export, the DSDA snapshot and the DSDA history of one of its gates."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ROOT
from warnd.model import WarningKind
from warnd.runtime.simulate import Document, simulate

CONFIG = ROOT / "config" / "warnd.yaml"
GAUGES = ROOT / "feeds" / "samples" / "gauges"
APRIL = GAUGES / "jakarta-opendata_tinggi-muka-air_2019-04_commonlabs.csv"
XMLDATA = GAUGES / "dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"
HISTORY = GAUGES / "dsda-history_id122_2026-09-06_trimmed_fakmalpradana.txt"
# The history endpoint names the gate only in its query, as the catalogue's feed polls it.
HISTORY_URL = (
    "https://poskobanjir.dsdadki.web.id/Pages/GenerateDataTinggiAir.aspx"
    "?IdPintuAir=122&StartDate=06-09-2026&EndDate=06-09-2026"
)


def wib(text: str) -> datetime:
    return datetime.fromisoformat(text + "+07:00")


def ticks(start: str, end: str, minutes: int = 30) -> list[datetime]:
    t, out = wib(start), []
    while t <= wib(end):
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


@pytest.fixture(scope="module")
def flood_night():
    """The Ciliwung flood night of 25-26 April 2019, the export read every 30 minutes."""
    doc = Document(str(APRIL), APRIL.read_bytes(), "drill-jakarta-2019-04")
    return simulate(CONFIG, [doc], ticks("2019-04-25T20:00:00", "2019-04-26T03:30:00"))


def posts(run, gate):
    return [(w.kind, w.level) for w in run.warnings if w.event_id == f"gauge-jakarta-{gate}"]


def test_katulampa_up_down_and_up_again_then_normal(flood_night):
    # Katulampa: Siaga 3 at 20:20, Siaga 2 at 20:50, back to Siaga 3 (132 cm) at 21:50, up to
    # Siaga 2 again (161 cm) at 22:50 on the way to its 175 cm peak, normal (79 cm) at 02:40.
    assert posts(flood_night, "ps-katulampa-hulu") == [
        (WarningKind.NEW, "siaga3"),
        (WarningKind.ESCALATE, "siaga2"),
        (WarningKind.DEESCALATE, "siaga3"),
        (WarningKind.ESCALATE, "siaga2"),
        (WarningKind.ALL_CLEAR, "normal"),
    ]
    ws = [w for w in flood_night.warnings if w.event_id == "gauge-jakarta-ps-katulampa-hulu"]
    lowered = ws[2]
    assert lowered.account == "gempa-jawa-barat"
    assert lowered.text.startswith("TURUN: tinggi muka air PS. Katulampa (Hulu) 132 cm, kini SIAGA 3")
    assert "info awal 25 Apr 2019 20:30:00 WIB" in lowered.text
    # The lowering waits as long as an all-clear would after the last level post.
    assert lowered.created_at - ws[1].created_at >= timedelta(hours=1)


def test_jembatan_merah_lowered_from_siaga_1(flood_night):
    # Siaga 1 (2000 mm) at 01:10, Siaga 2 (1970 mm) from 02:10 on.
    assert posts(flood_night, "p-a-jembatan-merah") == [
        (WarningKind.NEW, "siaga2"),
        (WarningKind.ESCALATE, "siaga1"),
        (WarningKind.DEESCALATE, "siaga2"),
    ]


def gauge_doc(t, cm, previous):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [106.8486, -6.2078]},
        "properties": {
            "station": "uji-1",
            "name": "Pintu Air Uji",
            "time": t.isoformat(),
            "level_cm": cm,
            "previous_cm": previous,
            "thresholds_cm": {"siaga3": 150, "siaga2": 200, "siaga1": 250},
        },
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def test_a_gate_flapping_between_two_levels_is_lowered_once_per_level():
    t0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
    # Every 10 minutes: Siaga 2, Siaga 1, then around the Siaga 1 threshold for two hours, down
    # through Siaga 3 around its threshold, and normal.
    series = [210, 260, 245, 255, 246, 251, 247, 252, 248, 249, 246, 253, 247, 252, 246]
    series += [190, 205, 195, 204, 196, 185, 180, 140, 130, 120, 110, 100, 100, 100, 100]
    documents = [
        Document(f"g{i}", gauge_doc(t0 + timedelta(minutes=10 * i), cm, series[i - 1] if i else cm), "gauge")
        for i, cm in enumerate(series)
    ]
    run = simulate(CONFIG, documents, [t0 + timedelta(hours=8)], follow=True)
    got = [(w.kind, w.level, (w.created_at - t0).total_seconds() / 60) for w in run.warnings]
    assert got == [
        (WarningKind.NEW, "siaga2", 0),
        (WarningKind.ESCALATE, "siaga1", 10),
        # Below Siaga 1 at 20, 40 and 60 minutes: too soon after the Siaga 1 post; at 80, an hour
        # after it, the lowering is posted. The rises back to Siaga 1 (110, 130) come too soon
        # after that.
        (WarningKind.DEESCALATE, "siaga2", 80),
        # Siaga 3 at 150 is an hour past the last post; the Siaga 2 readings around it (160, 180)
        # are too soon after it, and Siaga 3 again is not news.
        (WarningKind.DEESCALATE, "siaga3", 150),
        (WarningKind.ALL_CLEAR, "normal", 220),
    ]
    reasons = {h["reason"] for s in run.trace for r in s["rules"] for h in r.get("held", [])}
    assert {"no_level_change", "hysteresis"} <= reasons


def dsda_docs(history: bytes) -> list[Document]:
    return [
        Document(str(XMLDATA), XMLDATA.read_bytes(), "dsda-xmldata"),
        Document(HISTORY_URL, history, "dsda-history-manggarai"),
    ]


def test_the_history_of_a_gate_keeps_the_position_the_snapshot_gave():
    # The snapshot has P.A. Manggarai 2 (ID 122, thresholds 7500/8500/9500 mm as in the history's
    # trailer) at -6.207825, 106.848458; the history of the same gate has no coordinates.
    run = simulate(CONFIG, dsda_docs(HISTORY.read_bytes()), [datetime(2026, 9, 6, tzinfo=UTC)])
    steps = [s for s in run.trace if s["event_id"] == "gauge-dsda-122"]
    assert [(Path(s["document"]).name[:13], s["change"]) for s in steps] == [
        ("dsda-xmldata_", "new"),
        ("GenerateDataT", "updated"),
    ]
    snapshot, history = (next(r for r in s["rules"] if r["rule"] == "pintu-air-jakarta") for s in steps)
    # Placed, so the rule reaches the gate's regency; at 491 cm it is normal, nothing to post.
    assert history["fired"] and history["regions"] == snapshot["regions"] != []
    assert [h["reason"] for h in history["held"]] == ["no_level_change"]


def test_a_siaga_reading_from_the_history_posts_with_the_gate_named():
    # The real response, with two more points past the gate's own Siaga 3 threshold (7500 mm).
    body = HISTORY.read_text().replace(
        "01.30.00,491;|",
        "01.30.00,491;2026-09-06 01.40.00,560;2026-09-06 01.50.00,640;"
        "2026-09-06 02.00.00,700;2026-09-06 02.10.00,760;2026-09-06 02.20.00,772;|",
    )
    run = simulate(CONFIG, dsda_docs(body.encode()), ticks("2026-09-06T02:20:00", "2026-09-06T02:20:00"))
    (w,) = [w for w in run.warnings if w.event_id == "gauge-dsda-122"]
    assert (w.kind, w.level, w.account) == (WarningKind.NEW, "siaga3", "gempa-jakarta")
    assert w.text.startswith("TINGGI MUKA AIR P.A. Manggarai 2: 772 cm, status SIAGA 3 (06 Sep 2026 02:20:00 WIB)")
    # Where the snapshot placed the gate.
    (snapshot,) = [s for s in run.trace if s["event_id"] == "gauge-dsda-122" and s["change"] == "new"]
    (rule,) = [r for r in snapshot["rules"] if r["rule"] == "pintu-air-jakarta"]
    assert [r.code for r in w.regions] == rule["regions"]
