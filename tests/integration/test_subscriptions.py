"""Partners subscribing themselves: the store on both backends, and the whole path on loopback —
a real aiohttp endpoint, a real partner receiver that answers the challenge and checks every
signature, real ingest and dispatch over a real SQLite outbox."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.clock import SystemClock
from warnd.config.schema import DispatchSettings
from warnd.errors import OperatorError
from warnd.metrics import Metrics
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Status
from warnd.runtime.build import Bundle, build
from warnd.runtime.conditions import Live, collect
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.http import Endpoint
from warnd.runtime.ingest import Ingest
from warnd.runtime.notices import NoticeBoard
from warnd.runtime.operations import approve_subscription, revoke_subscription
from warnd.runtime.subscribe import SubscribeDesk
from warnd.runtime.subscribers import Subscribers, levels_from
from warnd.store.db import connect
from warnd.store.notices import Notices
from warnd.store.outbox import Outbox
from warnd.store.subscriptions import ACTIVE, PAUSED, PENDING, REVOKED, Subscription, Subscriptions
from warnd.testing.webhook_sink import WebhookSink

FEEDS = "  - id: gempa\n    format: bmkg-tews\n    url: /nonexistent.json\n"
SETTINGS = """http:
  proxy: none
subscriptions:
  enabled: {enabled}
  requests_per_minute: {rate}
  challenge_timeout: 2s
  pause_after_dead: 1
  allow_loopback: {loopback}
"""


def config(
    tmp_path: Path,
    *,
    enabled: bool = True,
    rate: int = 100,
    loopback: bool = True,
    extra: str = "",
    rules: str = RULES_ANY_QUAKE,
) -> Bundle:
    settings = SETTINGS.format(enabled=str(enabled).lower(), rate=rate, loopback=str(loopback).lower())
    cfg = write_config(tmp_path, feeds=FEEDS, rules=rules, extra=settings + extra)
    return build(cfg, with_senders=True)


def quake(i: int) -> HazardEvent:
    """M5.0 under Bandung: the `jabar` account's."""
    return HazardEvent(
        id=f"q-{i}",
        feed="gempa",
        feed_format="bmkg-tews",
        hazard=Hazard.EARTHQUAKE,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        # Quakes apart in time: not one event seen again.
        time=datetime.now(UTC) - timedelta(minutes=1 + 20 * i),
        lat=-6.95 + i / 100,
        lon=107.6,
        magnitude=5.0 + i / 10,
        depth_km=10.0,
    )


class _Cap:
    def accounts(self) -> list[str]:
        return []

    def get(self, account: str, name: str) -> None:
        return None


class World:
    """One node's pieces, in the test's event loop: the endpoint (both listeners), ingest, the
    subscribers and a dispatcher, on one SQLite store."""

    def __init__(self, tmp_path: Path, bundle: Bundle) -> None:
        self.bundle = bundle
        self.conn = connect(tmp_path / "w.db")
        clock = SystemClock()
        self.subs = Subscribers(self.conn, clock, lambda: self.bundle)
        self.ingest = Ingest(
            self.conn, clock, lambda: self.bundle, explain=False, replay=True, subscribed=lambda: self.subs.partners
        )
        self.desk = SubscribeDesk(self.conn, clock, lambda: self.bundle)
        self.endpoint = Endpoint(
            "127.0.0.1",
            0,
            health=lambda: {"status": "ok", "reasons": []},
            status=lambda: {},
            registry=CollectorRegistry(),
            cap=_Cap(),  # type: ignore[arg-type]
            public=("127.0.0.1", 0),
            subscribe=self.desk.handle,
        )
        self.policy = DispatchSettings(give_up_after=3.0, retry_min=0.1, retry_max=0.3)
        self.dispatcher = Dispatcher(
            self.conn, clock, lambda: self.subs.senders(self.bundle.senders), lambda: self.policy
        )

    async def start(self) -> tuple[str, str]:
        host, port = await self.endpoint.start()
        assert self.endpoint.public is not None
        phost, pport = await self.endpoint.public.start()
        return f"http://{host}:{port}", f"http://{phost}:{pport}"

    async def stop(self) -> None:
        await self.endpoint.stop()
        await self.subs.aclose()
        self.conn.close()

    def warn(self, i: int) -> list[str]:
        """A quake ingested; the targets its warnings were queued for."""
        report = self.ingest.handle("gempa", ParseResult(events=(quake(i),)))
        assert report.warnings, "the quake warned nobody"
        return sorted({d.target for d in Outbox(self.conn).listing(["pending"], None, 100)})


def ask(name: str, url: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "contact": "redaksi@radio.example", "url": url, "accounts": ["jabar"]} | more


SHOWN: list[str] = []


def test_a_partner_subscribes_is_approved_gets_signed_warnings_and_stops_when_revoked(tmp_path):
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))

    async def scenario() -> None:
        _operator, public = await world.start()
        try:
            async with httpx.AsyncClient() as http:
                r = await http.post(public + "/subscriptions", json=ask("radio", sink.url("radio")))
            assert r.status_code == 201, r.text
            answer = r.json()
            assert answer["state"] == PENDING and answer["partner"] == "sub-radio"
            secret = answer["secret"]
            SHOWN.append(secret)
            assert len(secret) >= 43  # 32 random bytes, URL-safe base64
            # The challenge reached the partner's URL before anything was stored.
            ((partner, params),) = sink.state.challenges
            assert partner == "radio" and params["warnd.name"] == "sub-radio" and params["warnd.challenge"]
            (sub,) = Subscriptions(world.conn).listing()
            assert sub.state == PENDING and sub.id == answer["id"]
            assert secret not in json.dumps(sub.to_json())

            # Pending: nothing goes to it.
            await world.subs.refresh()
            assert "partner:sub-radio" not in world.warn(1)

            approve_subscription(world.conn, sub.id, "test", datetime.now(UTC))
            await world.subs.refresh()
            assert "partner:sub-radio" in world.warn(2)
            sink.secrets["radio"] = secret  # the partner checks with the secret it was shown
            assert await world.dispatcher.drain(timeout=20)
            (got,) = sink.receipts("radio")
            assert json.loads(got.body)["event"]["id"] == "q-2"
            assert not sink.state.rejected
            sent = Outbox(world.conn).listing(["sent"], "partner:sub-radio", 10)
            assert len(sent) == 1

            dropped = revoke_subscription(world.conn, sub.id, "test", datetime.now(UTC))
            assert dropped == 0
            await world.subs.refresh()
            assert "partner:sub-radio" not in world.warn(3)
            assert await world.dispatcher.drain(timeout=20)
            assert len(sink.receipts("radio")) == 1
            assert Subscriptions(world.conn).get(sub.id).state == REVOKED  # type: ignore[union-attr]
            assert Subscriptions(world.conn).active() == []
        finally:
            await world.stop()

    try:
        with structlog.testing.capture_logs() as logs:
            asyncio.run(scenario())
    finally:
        sink.stop()
    # The secret went to the requester once: no log line carries it.
    requested = [e for e in logs if e["event"] == "subscription.requested"]
    assert len(requested) == 1 and requested[0]["name"] == "radio"
    assert SHOWN and not [e for e in logs if SHOWN[0] in json.dumps(e, default=str)]


def test_bad_requests_get_clear_errors_naming_the_field_and_leave_nothing(tmp_path):
    sink = WebhookSink({})
    sink.start()
    sink.wrong_answer.add("liar")
    world = World(tmp_path, config(tmp_path))

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        operator, public = await world.start()
        out = []
        try:
            async with httpx.AsyncClient() as http:

                async def post(body: Any, base: str = public, **kw: Any) -> tuple[int, dict[str, Any]]:
                    r = await http.post(base + "/subscriptions", json=body, **kw)
                    return r.status_code, r.json()

                out.append(await post(ask("a", sink.url("a")) | {"accounts": ["jabar", "atlantis"]}))
                out.append(await post(ask("b", "http://radio.example/hook")))
                out.append(await post(ask("c", "https://user:pw@radio.example/hook")))
                out.append(await post(ask("c", "https://10.1.2.3/hook")))
                out.append(await post({"name": "d", "url": sink.url("d")}))
                out.append(await post(ask("e", sink.url("e"), min_level="severe")))
                out.append(await post(ask("f", sink.url("f"), colour="red")))
                out.append(await post(ask("liar", sink.url("liar"))))
                r = await http.post(
                    public + "/subscriptions", content=b"name=x", headers={"Content-Type": "text/plain"}
                )
                out.append((r.status_code, r.json()))
                r = await http.post(
                    public + "/subscriptions", content=b"{not json", headers={"Content-Type": "application/json"}
                )
                out.append((r.status_code, r.json()))
                big = ask("g", sink.url("g")) | {"contact": "x" * 9000}
                out.append(await post(big))
                r = await http.get(public + "/subscriptions")
                out.append((r.status_code, r.json()))
                # A good one on the operator listener, then the same name again.
                out.append(await post(ask("radio", sink.url("radio")), base=operator))
                out.append(await post(ask("radio", sink.url("radio"))))
                # Only this path takes a body.
                r = await http.post(public + "/cap/", json={})
                out.append((r.status_code, r.json()))
                r = await http.request("GET", public + "/cap/", content=b"x" * 10)
                out.append((r.status_code, r.json()))
        finally:
            await world.stop()
        return out

    try:
        got = asyncio.run(scenario())
    finally:
        sink.stop()
    inside = got.pop(3)
    assert inside[0] == 400 and "private" in inside[1]["error"] and inside[1]["errors"][0]["field"] == "url"
    codes = [c for c, _ in got]
    assert codes == [400, 400, 400, 400, 400, 400, 400, 415, 400, 413, 405, 201, 409, 405, 413], got
    errors = [doc.get("error", "") for _, doc in got]
    assert "accounts: unknown account(s) atlantis" in errors[0]
    assert errors[1].startswith("url:") and "https" in errors[1]
    assert errors[2].startswith("url:") and "user or password" in errors[2]
    fields = {e["field"] for e in got[3][1]["errors"]}
    assert fields == {"contact", "accounts"}
    assert got[4][1]["errors"][0]["field"] == "min_level"
    assert got[5][1]["errors"] == [{"field": "colour", "message": "unknown field"}]
    # What went wrong is in warnd's log only: the requester learns nothing of what answered.
    assert "challenge failed" in errors[6] and "whole body" in errors[6] and "not the challenge" not in errors[6]
    assert "JSON" in errors[7] and "not JSON" in errors[8]
    assert "exists already" in errors[12]
    # Only the verified request was stored; the secret of the 201 is in no error.
    conn = connect(tmp_path / "w.db")
    assert [s.name for s in Subscriptions(conn).listing()] == ["radio"]
    conn.close()
    # The liar's URL was asked; the requests refused before (bad fields) never reached a URL.
    assert {p for p, _ in sink.state.challenges} == {"liar", "radio"}


def test_requests_beyond_the_rate_are_refused_and_a_disabled_endpoint_is_not_there(tmp_path):
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path / "a", config(tmp_path / "a", rate=2))
    off = World(tmp_path / "b", config(tmp_path / "b", enabled=False))

    async def scenario() -> tuple[list[int], int, str | None]:
        _o, public = await world.start()
        _o2, public_off = await off.start()
        try:
            async with httpx.AsyncClient() as http:
                codes = []
                for i in range(4):
                    r = await http.post(public + "/subscriptions", json=ask(f"n{i}", "http://192.0.2.1/x"))
                    codes.append(r.status_code)
                retry = r.headers.get("Retry-After")
                r = await http.post(public_off + "/subscriptions", json=ask("radio", sink.url("radio")))
                return codes, r.status_code, retry
        finally:
            await world.stop()
            await off.stop()

    try:
        codes, disabled, retry = asyncio.run(scenario())
    finally:
        sink.stop()
    assert codes == [400, 400, 429, 429]
    assert retry is not None and int(retry) >= 1
    assert disabled == 404 and not sink.state.challenges


def test_a_subscriber_that_keeps_failing_is_paused_with_a_notice_and_resumed_by_the_operator(tmp_path):
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))

    async def scenario() -> None:
        _o, public = await world.start()
        try:
            async with httpx.AsyncClient() as http:
                r = await http.post(public + "/subscriptions", json=ask("tv", sink.url("tv")))
            assert r.status_code == 201, r.text
            sub_id = r.json()["id"]
            approve_subscription(world.conn, sub_id, "test", datetime.now(UTC))
            await world.subs.refresh()
            sink.down["tv"] = 500
            assert "partner:sub-tv" in world.warn(1)
            # Retried until given up (give_up_after 3 s), then dead: one dead pauses it.
            assert await world.dispatcher.drain(timeout=20)
            assert [d.target for d in Outbox(world.conn).listing(["dead"], None, 10)] == ["partner:sub-tv"]
            with structlog.testing.capture_logs() as logs:
                await world.subs.refresh()
            assert [e["event"] for e in logs if e["event"] == "subscription.paused"] == ["subscription.paused"]
            s = Subscriptions(world.conn).get(sub_id)
            assert s is not None and s.state == PAUSED and "dead-lettered" in (s.paused_reason or "")
            assert "sub-tv" not in world.subs.partners and "partner:sub-tv" not in world.warn(2)
            attempts = len([q for q in sink.state.requests if q.partner == "tv"])

            # The notice an operator gets, raised once, cleared when resumed.
            board = NoticeBoard(world.conn, SystemClock(), Metrics(), lambda: [])
            live = Live(datetime.now(UTC))
            found = collect(world.conn, world.bundle, datetime.now(UTC), live)
            paused = [c for c in found if c.kind == "subscription_paused"]
            assert len(paused) == 1 and f"warnd subscription resume {sub_id}" in paused[0].message
            board.reconcile(found)
            assert [n.kind for n in Notices(world.conn).active().values() if n.kind == "subscription_paused"] == [
                "subscription_paused"
            ]
            # Paused: never tried again, however long.
            assert await world.dispatcher.drain(timeout=5)
            assert len([q for q in sink.state.requests if q.partner == "tv"]) == attempts

            del sink.down["tv"]
            approve_subscription(world.conn, sub_id, "test", datetime.now(UTC))
            await world.subs.refresh()
            assert Subscriptions(world.conn).get(sub_id).state == ACTIVE  # type: ignore[union-attr]
            board.reconcile(collect(world.conn, world.bundle, datetime.now(UTC), live))
            assert not [n for n in Notices(world.conn).active().values() if n.kind == "subscription_paused"]
            assert "partner:sub-tv" in world.warn(3)
        finally:
            await world.stop()

    try:
        asyncio.run(scenario())
    finally:
        sink.stop()


def test_subscriptions_round_trip_the_store_and_survive_a_reopen(store):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    s = Subscription(
        id="abc123",
        name="radio",
        contact="redaksi@radio.example",
        url="https://radio.example/hook",
        accounts=("jabar", "ntb"),
        hazards=("earthquake", "tsunami"),
        min_level="siaga",
        format="cap",
        state=PENDING,
        requested_at="2026-11-30T11:00:00Z",
        requested_from="203.0.113.9",
    )
    conn = store.open()
    subs = Subscriptions(conn)
    assert subs.add(s, "the-secret")
    clash = replace(s, id="other")
    assert not subs.add(clash, "another-secret")  # a live subscription of that name exists
    assert subs.approve("abc123", "op", now) and not subs.approve("abc123", "op", now)
    assert subs.pause("abc123", "it keeps failing", now) and not subs.pause("abc123", "again", now)
    conn.close()

    again = Subscriptions(store.open())  # a restart, or another node
    got = again.get("abc123")
    assert got is not None and got.state == PAUSED and got.paused_reason == "it keeps failing"
    assert got.accounts == ("jabar", "ntb") and got.hazards == ("earthquake", "tsunami") and got.format == "cap"
    assert again.active() == []
    assert again.resume("abc123", "op", now)
    ((active, secret),) = again.active()
    assert active.id == "abc123" and secret == "the-secret" and active.paused_at is None
    assert again.revoke("abc123", "op", now) and not again.revoke("abc123", "op", now)
    assert again.active() == [] and again.listing() == []
    assert [x.state for x in again.listing((REVOKED,))] == [REVOKED]
    # Revoked, the name is free again.
    assert again.add(clash, "new-secret")


def test_operations_name_what_is_wrong(tmp_path):
    conn = connect(tmp_path / "w.db")
    with pytest.raises(OperatorError, match="no subscription nope") as e:
        approve_subscription(conn, "nope", "op", datetime.now(UTC))
    assert e.value.status == 404
    with pytest.raises(OperatorError, match="no subscription nope"):
        revoke_subscription(conn, "nope", "op", datetime.now(UTC))
    conn.close()


def test_a_minimum_level_lets_through_it_and_above_on_both_scales():
    assert levels_from(None) is None
    assert levels_from("awas") == ["awas", "siaga1"]
    assert levels_from("siaga") == ["awas", "siaga", "siaga1", "siaga2"]
    assert set(levels_from("siaga4") or []) == {"siaga4", "waspada", "siaga3", "siaga", "siaga2", "awas", "siaga1"}


def _warning(i: int, now: datetime) -> Any:
    from warnd.model import Priority, Region, Warning, WarningKind

    return Warning(
        id=f"w-{i}",
        event_id=f"e-{i}",
        revision="r",
        rule="gempa",
        account="jabar",
        kind=WarningKind.NEW,
        severity=None,
        priority=Priority.NORMAL,
        regions=(Region("32", "Jawa Barat", "province"),),
        lang="id",
        text=f"Peringatan {i}",
        status=Status.ACTUAL,
        created_at=now,
    )


def test_an_approval_on_one_node_reaches_another_and_the_leader_pauses_a_failing_subscriber(store, tmp_path):
    """Two nodes on one store (SQLite and PostgreSQL): node b delivers to what node a's operator
    approved; the dead deliveries of it, counted from the store, pause it on the leader."""
    bundle = config(tmp_path)
    a, b = store.open(), store.open()
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    s = Subscription(
        "sub1", "radio", "r@example.org", "https://radio.example/h", ("jabar",), None, None, "json", PENDING,
        "2026-11-30T11:00:00Z", "203.0.113.9",
    )  # fmt: skip
    assert Subscriptions(a).add(s, "the-secret")
    node_b = Subscribers(b, SystemClock(), lambda: bundle)

    async def refresh() -> None:
        await node_b.refresh()
        await node_b.aclose()

    asyncio.run(refresh())
    assert node_b.partners == {}
    approve_subscription(a, "sub1", "op", t0)
    asyncio.run(refresh())
    assert list(node_b.partners) == ["sub-radio"] and node_b.targets() == {"partner:sub-radio"}
    assert node_b.partners["sub-radio"].accounts == ["jabar"]

    box = Outbox(a)
    with a.transaction():
        for i in range(3):
            box.enqueue(_warning(i, t0), ["partner:sub-radio"], t0 + timedelta(seconds=i))
    ids = box.ids(["pending"], "partner:sub-radio")
    box.mark_sent(ids[0], None, t0 + timedelta(seconds=10))
    box.mark_retry(ids[1], "server_error", "HTTP 500", t0, t0 + timedelta(seconds=20))
    subs = Subscriptions(b)
    f = subs.failing("partner:sub-radio", "2026-01-01T00:00:00Z")
    assert f.dead_in_a_row == 0 and f.failing_since is not None
    box.mark_dead(ids[1], "gave_up", "HTTP 500", t0 + timedelta(seconds=30), attempted=True)
    box.mark_dead(ids[2], "gave_up", "HTTP 500", t0 + timedelta(seconds=40), attempted=True)
    f = subs.failing("partner:sub-radio", "2026-01-01T00:00:00Z")
    assert f.dead_in_a_row == 2 and f.failing_since is None
    # Counted since the last approval: what failed before a resume does not pause it again.
    assert subs.failing("partner:sub-radio", "2999-01-01T00:00:00Z").dead_in_a_row == 0

    # pause_after_dead is 1 in this config: the leader pauses, then nobody delivers to it.
    assert node_b.pause_failing() == ["sub1"]
    asyncio.run(refresh())
    assert node_b.partners == {}
    assert Subscriptions(a).get("sub1").state == PAUSED  # type: ignore[union-attr]
