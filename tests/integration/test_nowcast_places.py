"""A BMKG nowcast through the shipped configuration: the kecamatan its description names reach
the warning, and a name no region bears is logged with the event and counted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog

from tests.conftest import sample
from warnd.clock import FixedClock
from warnd.model import Source
from warnd.pollers.registry import detect
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest
from warnd.store import db

ROOT = Path(__file__).resolve().parents[2]
BANTEN = "bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"


def test_named_kecamatan_reach_the_warning_and_unknown_names_are_logged(tmp_path):
    bundle = build(ROOT / "config" / "warnd.yaml", with_senders=False)
    conn = db.connect(tmp_path / "w.db")
    clock = FixedClock(datetime(2026, 2, 16, 16, 0, tzinfo=UTC))
    ingest = Ingest(conn, clock, lambda: bundle)
    report = ingest.handle("bmkg-nowcast", detect(sample(BANTEN), Source("bmkg-nowcast", clock.now()))[1])
    (w,) = [w for w in report.warnings if w.account == "gempa-banten"]
    # Lebak and Cilegon from the polygons; Kabupaten and Kota Serang from the names.
    assert sorted(r.code for r in w.regions) == ["36.02", "36.04", "36.72", "36.73"]
    assert not report.unmapped_places["description"]

    doc = sample(BANTEN).replace(b"Sajira", b"Atlantis").replace(b".004</identifier>", b".005</identifier>")
    with structlog.testing.capture_logs() as logs:
        report = ingest.handle("bmkg-nowcast", detect(doc, Source("bmkg-nowcast", clock.now()))[1])
    assert report.unmapped_places["description"] == 1
    (line,) = [e for e in logs if e["event"] == "place.unmapped"]
    assert line["places"] == ["Atlantis"] and line["event_id"].endswith(".005") and "Atlantis" in line["text"]
