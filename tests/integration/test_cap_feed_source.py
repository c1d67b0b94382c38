"""The feeds the HTTP endpoint serves are the running config's, one per account, and an index is
dated by the daemon's clock, not the machine's, until it has an alert of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from warnd.cap import INDEX, atom
from warnd.clock import FixedClock
from warnd.runtime.build import build
from warnd.runtime.cap_feeds import CapFeeds
from warnd.store import db
from warnd.store.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]
ATOM = {"atom": "http://www.w3.org/2005/Atom"}
WHEN = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_an_empty_feed_is_dated_by_the_time_given():
    index = etree.fromstring(atom("jabar", "Jabar: warnd CAP feed", [], now=WHEN))
    assert index.findtext("atom:updated", namespaces=ATOM) == "2031-05-06T07:08:09+00:00"
    assert index.findall("atom:entry", namespaces=ATOM) == []


def test_the_served_feeds_are_the_configs_accounts_without_any_sender(tmp_path):
    # Built without senders: what is served comes from the config alone.
    bundle = build(ROOT / "config" / "warnd.yaml", with_senders=False)
    assert bundle.senders == {}
    cfg = bundle.config.file
    feeds = CapFeeds.of_config(Outbox(db.connect(tmp_path / "w.db")), lambda: cfg, FixedClock(WHEN))
    assert feeds.accounts() == sorted(cfg.accounts)
    account = sorted(cfg.accounts)[0]
    doc = feeds.get(account, INDEX)
    assert doc is not None and doc.kind == "atom"
    index = etree.fromstring(doc.body)
    assert index.findtext("atom:title", namespaces=ATOM) == f"{cfg.accounts[account].name}: warnd CAP feed"
    assert index.findtext("atom:updated", namespaces=ATOM) == "2031-05-06T07:08:09+00:00"
    assert feeds.get("nobody", INDEX) is None
