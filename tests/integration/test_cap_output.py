"""The CAP 1.2 documents warnd issues, from real feed documents through the real pipeline,
validated against the OASIS CAP 1.2 schema; and the per-account Atom feed read back by warnd's
own CAP poller."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import sample
from tests.integration.test_tsunami_sequence import messages
from warnd.channels.base import Job
from warnd.channels.cap_feed import INDEX, CapFeedSender
from warnd.clock import FixedClock
from warnd.model import Source
from warnd.pollers import cap as cap_parser
from warnd.pollers.registry import detect
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest
from warnd.store import db
from warnd.store.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "feeds" / "samples" / "cap-other" / "schema" / "CAP-v1.2.xsd_oasis_via-ibmcap.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}


@pytest.fixture(scope="module")
def schema():
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def run_pipeline(tmp_path):
    bundle = build(ROOT / "config" / "warnd.yaml", with_senders=False)
    conn = db.connect(tmp_path / "w.db")
    docs = messages()
    clock = FixedClock(datetime(2026, 8, 15, 0, 0, tzinfo=UTC))
    ingest = Ingest(conn, clock, lambda: bundle)
    for i, doc in enumerate(docs):
        clock.set(clock.now() + timedelta(minutes=5))
        ingest.handle("last30tsunamievent", detect(doc, Source("last30tsunamievent", clock.now()))[1])
        assert i < 20
    nowcast = sample("bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml")
    clock.set(datetime(2026, 2, 16, 2, 0, tzinfo=UTC))
    ingest.handle("nowcast", detect(nowcast, Source("nowcast", clock.now()))[1])
    return conn


def test_every_issued_alert_is_valid_cap_1_2_and_updates_reference_the_first(tmp_path, schema):
    conn = run_pipeline(tmp_path)
    rows = conn.execute("SELECT id, account, event_id, kind, cap, created_at FROM warnings ORDER BY rowid").fetchall()
    kinds = {r["kind"] for r in rows}
    assert {"new", "update"} <= kinds and len(rows) >= 5
    hazards = {json.loads(r[0])["hazard"] for r in conn.execute("SELECT event FROM warnings")}
    assert {"tsunami", "weather"} <= hazards
    first: dict[tuple[str, str], str] = {}
    for r in rows:
        doc = etree.fromstring(r["cap"].encode())
        assert schema.validate(doc), (r["id"], schema.error_log.last_error)
        ident = doc.findtext("cap:identifier", namespaces=NS)
        assert ident == f"warnd.{r['id']}"
        msg_type = doc.findtext("cap:msgType", namespaces=NS)
        key = (r["account"], r["event_id"])
        if r["kind"] == "new":
            assert msg_type == "Alert" and doc.find("cap:references", NS) is None
            first.setdefault(key, ident)
        else:
            assert msg_type in ("Update", "Cancel")
            refs = doc.findtext("cap:references", namespaces=NS).split()
            assert any(ref.split(",")[1] == first[key] for ref in refs)
        assert "Z" not in doc.findtext("cap:sent", namespaces=NS)


def test_the_account_feed_embeds_valid_alerts_and_reads_back(tmp_path, schema):
    conn = run_pipeline(tmp_path)
    box = Outbox(conn)
    target = next(t for t in box.lanes() if t.startswith("feed:"))
    folder = tmp_path / "cap" / target.split(":", 1)[1]
    sender = CapFeedSender(target.split(":", 1)[1], folder, entries=50, title="test feed")

    async def deliver_all() -> int:
        n = 0
        while (d := box.head(target)) is not None:
            sent = await sender.send(Job(d))
            box.mark_sent(d.id, sent.remote_id, datetime.now(UTC))
            n += 1
        return n

    n = asyncio.run(deliver_all())
    atom = etree.parse(str(folder / INDEX))
    entries = atom.findall("atom:entry", NS)
    assert len(entries) == n >= 1
    for entry in entries:
        (alert,) = entry.find("atom:content", NS)
        assert schema.validate(alert), schema.error_log.last_error
        assert (folder / entry.find("atom:link", NS).get("href")).is_file()
    # warnd's own CAP poller reads the feed (a partner running warnd can chain from it).
    newest = datetime.fromisoformat(entries[0].findtext("atom:updated", namespaces=NS))
    result = cap_parser.parse((folder / INDEX).read_bytes(), Source("partner-feed", newest))
    assert len(result.events) >= 1 and not result.rejected
