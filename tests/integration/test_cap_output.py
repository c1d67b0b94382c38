"""The CAP 1.2 documents warnd issues, from real feed documents through the real pipeline,
validated against the OASIS CAP 1.2 schema; and the per-account Atom feed read back by warnd's
own CAP poller."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree
from prometheus_client import CollectorRegistry

from tests.conftest import cap_links, sample
from tests.integration.test_tsunami_sequence import messages
from warnd.cap import INDEX
from warnd.channels.base import Job
from warnd.channels.cap_feed import CapFeedSender
from warnd.clock import FixedClock
from warnd.model import Source
from warnd.pollers import cap as cap_parser
from warnd.pollers.registry import detect
from warnd.runtime.build import build
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.http import Endpoint
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


def publish(tmp_path: Path) -> tuple[db.Database, CapFeedSender, int]:
    """The pipeline's warnings, and one account's CAP feed lane delivered to its end."""
    conn = run_pipeline(tmp_path)
    box = Outbox(conn)
    target = next(t for t in box.lanes() if t.startswith("feed:"))
    account = target.split(":", 1)[1]
    sender = CapFeedSender(account, tmp_path / "cap" / account, entries=50, title="test feed")

    async def deliver_all() -> int:
        n = 0
        while (d := box.head(target)) is not None:
            sent = await sender.send(Job(d))
            box.mark_sent(d.id, sent.remote_id, datetime.now(UTC))
            n += 1
        return n

    return conn, sender, asyncio.run(deliver_all())


def test_the_account_feed_embeds_valid_alerts_and_reads_back(tmp_path, schema):
    _, sender, n = publish(tmp_path)
    folder = sender.folder
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


def test_every_node_serves_the_same_feed_from_the_store_and_says_when_it_cannot(tmp_path):
    conn, sender, n = publish(tmp_path)
    conn.close()
    # Another node: its own connection to the store, and none of the files the publisher wrote.
    other = db.connect(tmp_path / "w.db")
    elsewhere = CapFeedSender(sender.account, tmp_path / "other-node" / "cap", entries=50, title=sender.title)
    feeds = CapFeeds(Outbox(other), lambda: {elsewhere.target: elsewhere})
    ep = Endpoint("127.0.0.1", 0, health=lambda: {"status": "ok"}, status=dict, registry=CollectorRegistry(), cap=feeds)

    async def scenario() -> dict[str, httpx.Response]:
        host, port = await ep.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
                got = {"list": await client.get("/cap/"), "index": await client.get(f"/cap/{sender.account}/{INDEX}")}
                hrefs = cap_links(got["index"].text)
                for href in hrefs:
                    got[href] = await client.get(f"/cap/{sender.account}/{href}")
                got["unknown"] = await client.get(f"/cap/nobody/{INDEX}")
                other.close()  # the store goes out of reach
                got["down"] = await client.get(f"/cap/{sender.account}/{INDEX}")
                return got
        finally:
            await ep.stop()

    got = asyncio.run(scenario())
    assert got["list"].json() == {"feeds": {sender.account: f"/cap/{sender.account}/{INDEX}"}}
    # Byte for byte the publisher's own copy: the same alerts, in the same order.
    assert got["index"].status_code == 200
    assert got["index"].content == (sender.folder / INDEX).read_bytes()
    alerts = [k for k in got if k.endswith(".xml")]
    assert len(alerts) == min(n, 50) >= 1
    for href in alerts:
        assert got[href].content == (sender.folder / href).read_bytes()
        assert got[href].headers["content-type"].startswith("application/cap+xml")
    assert not (tmp_path / "other-node").exists()
    assert got["unknown"].status_code == 404
    assert got["down"].status_code == 503 and "store" in got["down"].json()["error"]


def test_with_a_public_url_each_info_names_the_map_and_the_alert_is_still_valid(tmp_path, schema):
    import dataclasses

    from warnd.config.schema import MapsSettings

    plain = build(ROOT / "config" / "warnd.yaml", with_senders=False)
    maps = MapsSettings(public_url="https://warnd.example.org/")
    file = plain.config.file.model_copy(update={"maps": maps})
    bundle = dataclasses.replace(plain, config=dataclasses.replace(plain.config, file=file))
    conn = db.connect(tmp_path / "w.db")
    clock = FixedClock(datetime(2026, 8, 15, 0, 0, tzinfo=UTC))
    ingest = Ingest(conn, clock, lambda: bundle)
    for doc in messages():
        clock.set(clock.now() + timedelta(minutes=5))
        ingest.handle("last30tsunamievent", detect(doc, Source("last30tsunamievent", clock.now()))[1])
    rows = conn.execute("SELECT id, kind, cap FROM warnings ORDER BY rowid").fetchall()
    assert {"new", "update"} <= {r["kind"] for r in rows}
    for r in rows:
        doc = etree.fromstring(r["cap"].encode())
        assert schema.validate(doc), (r["id"], schema.error_log.last_error)
        infos = doc.findall("cap:info", NS)
        resources = [i.find("cap:resource", NS) for i in infos]
        if r["kind"] in ("cancel", "all_clear"):
            assert resources == [None] * len(infos)
            continue
        # The Indonesian block describes the map as a screen reader says it (warnd.maps.alt),
        # naming the warning's regencies; the English block keeps "Warning map".
        alt, english = (res.findtext("cap:resourceDesc", namespaces=NS) for res in resources)
        assert alt.startswith("Peta Peringatan dini tsunami") and english == "Warning map", alt
        names = infos[0].findtext("cap:area/cap:areaDesc", namespaces=NS).split(", ")
        assert all(name in alt for name in names), (alt, names)
        for res in resources:
            assert res.findtext("cap:mimeType", namespaces=NS) == "image/png"
            assert res.findtext("cap:uri", namespaces=NS) == f"https://warnd.example.org/maps/{r['id']}.png"
