"""Every post, webhook and stored event credits its source as the feed catalogue says: the short
`credit` in the text, the full `attribution` in what partners receive. From real documents
through the shipped configuration."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from tests.conftest import ROOT
from tests.integration.test_gauges_both_ways import APRIL, XMLDATA, ticks
from warnd.channels.webhook import json_body
from warnd.cli import main
from warnd.clock import FixedClock
from warnd.config.load import load
from warnd.model import Source
from warnd.pollers.registry import detect
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest
from warnd.runtime.simulate import Document, simulate
from warnd.store import db
from warnd.store.outbox import Outbox

CONFIG = ROOT / "config" / "warnd.yaml"


def test_every_catalogue_feed_has_a_credit_a_post_can_carry_and_the_attribution_it_shortens():
    cfg = load(CONFIG)
    assert len(cfg.catalogue) >= 15
    for f in cfg.catalogue:
        assert f.spec.attribution and f.spec.credit, f.spec.id
        assert len(f.spec.credit) <= 40
    # Every shipped template says it.
    assert build(CONFIG, with_senders=False).renderer.omits_credit() == []


def test_a_gauge_post_credits_the_gauge_source_not_bmkg():
    # The April 2019 Jakarta export, replayed under its catalogue entry (not polled by the
    # shipped config: the credit still comes from the catalogue).
    run = simulate(
        CONFIG,
        [Document(str(APRIL), APRIL.read_bytes(), "drill-jakarta-2019-04")],
        ticks("2019-04-25T20:00:00", "2019-04-25T23:00:00"),
    )
    assert run.warnings
    for w in run.warnings:
        assert "Sumber: Data Jakarta (April 2019)." in w.text, w.text
        assert "BMKG" not in w.text


def test_a_quake_post_credits_bmkg_in_the_line_it_ends_with():
    # USGS's own credit is tested with its reports (test_agencies: "Sumber: USGS.").
    path = ROOT / "feeds" / "samples" / "bmkg-tews" / "autogempa_2021-10-05_dompu_arraysyams.json"
    run = simulate(CONFIG, [Document(str(path), path.read_bytes(), "bmkg-autogempa")], [datetime.now(UTC)], follow=True)
    assert run.warnings
    for w in run.warnings:
        assert w.text.rsplit("\n", 1)[-1].startswith("Sumber: BMKG. #"), w.text


def test_partners_and_the_store_carry_the_full_attribution(tmp_path):
    bundle = build(CONFIG, with_senders=False)
    conn = db.connect(tmp_path / "w.db")
    clock = FixedClock(datetime(2026, 4, 30, 16, 55, tzinfo=UTC))
    ingest = Ingest(conn, clock, lambda: bundle)
    ingest.handle("dsda-xmldata", detect(XMLDATA.read_bytes(), Source("dsda-xmldata", clock.now()))[1])
    attribution = load(CONFIG).feed_spec("dsda-xmldata").attribution
    assert attribution and "Dinas Sumber Daya Air" in attribution
    events = [json.loads(r["event"]) for r in conn.execute("SELECT event FROM warnings")]
    assert events and all(e["attribution"] == attribution for e in events)
    # contoh-radio subscribes gempa-jakarta to floods: its JSON body names the source in full.
    head = Outbox(conn).head("partner:contoh-radio")
    assert head is not None
    body = json.loads(json_body(head, "contoh-radio"))
    assert body["attribution"] == attribution and body["event"]["attribution"] == attribution
    assert "Sumber: DSDA DKI Jakarta." in body["warning"]["text"]


def test_check_refuses_a_template_that_does_not_credit_its_source(tmp_path, capsys):
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir, ignore=shutil.ignore_patterns("regions"))
    (config_dir / "regions").symlink_to(ROOT / "config" / "regions")
    cfg = config_dir / "warnd.yaml"
    cfg.write_text(cfg.read_text().replace("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}"))
    flood = config_dir / "templates" / "flood" / "new.id.j2"
    flood.write_text(flood.read_text().replace("Sumber: {{ credit }}. ", ""))
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{flood}: the text does not credit its source" in err
    assert "new.en.j2" not in err
