"""Operator notices from conditions: raised once, cleared once with the recovery, across
restarts; relayed to a real webhook on loopback that is down for a while, signed."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.clock import FixedClock
from warnd.metrics import Metrics
from warnd.runtime.build import build
from warnd.runtime.conditions import Condition, Live, collect, overall
from warnd.runtime.notices import NoticeBoard, OpsRelay
from warnd.store.db import connect
from warnd.store.feedstate import FeedStates
from warnd.store.targets import Targets
from warnd.testing.webhook_sink import WebhookSink

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
FEEDS = "  - id: auto\n    format: bmkg-tews\n    url: http://127.0.0.1:9/auto.json\n    stale_after: 60s\n"


def stale(subject: str) -> Condition:
    return Condition("feed_stale", subject, "degraded", f"{subject} silent", "fresh again")


def test_conditions_from_the_state_database(tmp_path):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    b = build(cfg, with_senders=True)
    conn = connect(tmp_path / "w.db")
    live = Live(started=T0)
    assert collect(conn, b, T0, live) == []
    # A feed never polled counts from the start; past stale_after it is stale, and as the only
    # watched feed, warnd is blind: failing.
    found = collect(conn, b, T0.replace(minute=2), live)
    assert {c.kind for c in found} == {"feed_stale", "no_fresh_feed"} and overall(found) == "failing"
    FeedStates(conn).ok("auto", T0.replace(minute=2), etag=None, last_modified=None, body_hash="x", changed=True)
    Targets(conn).disable("account:jabar", T0, "auth", "HTTP 401")
    found = collect(conn, b, T0.replace(minute=2), live)
    assert [(c.kind, c.subject) for c in found] == [("target_disabled", "account:jabar")]
    assert overall(found) == "degraded" and "warnd outbox retry --target account:jabar" in found[0].message
    Targets(conn).disable("account:ntb", T0, "auth", "HTTP 401")
    found = collect(conn, b, T0.replace(minute=2), live)
    assert "no_account_can_post" in {c.kind for c in found} and overall(found) == "failing"
    refused = Live(T0, {"ok": False, "at": "t", "problems": ["rules/x.yaml:3: bad"]})
    Targets(conn).enable("account:jabar")
    Targets(conn).enable("account:ntb")
    (c,) = collect(conn, b, T0.replace(minute=2), refused)
    assert c.kind == "reload_failed" and "rules/x.yaml:3" in c.message


def test_the_relay_retries_a_webhook_that_is_down_and_delivers_in_order_signed(tmp_path, monkeypatch):
    sink = WebhookSink({"ops": "ops-secret"})
    sink.start()
    cfg = write_config(
        tmp_path,
        feeds=FEEDS,
        rules=RULES_ANY_QUAKE,
        extra=f'ops:\n  chat: {{channel: webhook, url: "{sink.url("ops")}", secret: ops-chat}}\n',
    )
    monkeypatch.setenv("WARND_SECRET_OPS_CHAT", "ops-secret")
    b = build(cfg, with_senders=True)
    conn = connect(tmp_path / "w.db")
    clock = FixedClock(datetime.now(UTC))
    board = NoticeBoard(conn, clock, Metrics(), lambda: sorted(b.ops))
    relay = OpsRelay(conn, clock, lambda: b.ops)
    sink.script("ops", "503")
    board.reconcile([stale("a")])
    board.reconcile([])

    async def go() -> None:
        await relay.round()  # the webhook answers 503: both wait, in order
        assert sink.receipts("ops") == []
        clock.advance(4)
        await relay.round()  # before the backoff: nothing
        assert sink.receipts("ops") == []
        clock.advance(2)
        await relay.round()
        for s in b.ops.values():
            await s.aclose()

    try:
        asyncio.run(go())
    finally:
        sink.stop()
    got = sink.receipts("ops")
    assert [json.loads(r.body)["phase"] for r in got] == ["raised", "cleared"]
    # Signed with the ops secret: the sink checks every signature and rejected none.
    assert sink.state.rejected == []
    # Signed as partner deliveries are, so the off-the-shelf Standard Webhooks verifier (the
    # plain secret's own bytes are the key, as for a partner) takes each one, and the
    # webhook-id is the Idempotency-Key.
    sent = [r for r in sink.state.requests if r.partner == "ops"]
    assert len(sent) == 3
    for r in sent:
        Webhook(base64.b64encode(b"ops-secret").decode()).verify(r.body, r.headers, json_parse=False)
        assert r.headers["webhook-id"] == r.headers["Idempotency-Key"]
    assert json.loads(got[0].body)["text"].startswith("[warnd NOTICE] feed_stale a")
    rows = conn.execute("SELECT outcome, attempts FROM ops_outbox ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("sent", 2), ("sent", 1)]
