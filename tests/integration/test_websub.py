"""The WebSub hub end to end on loopback, on SQLite and PostgreSQL: a real subscriber answers the
hub's verification and receives the pushes of warnings issued by the real ingest and delivered by
the real dispatcher through the outbox. Two connections to the store stand for two nodes: the
subscription is taken on one, the warning issued and pushed by the other."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from defusedxml.ElementTree import fromstring
from prometheus_client import CollectorRegistry, generate_latest

from tests.conftest import RULES_ANY_QUAKE, Store, write_config
from warnd.cap import feed_links
from warnd.cli import main
from warnd.clock import FixedClock
from warnd.config.outbound import Outbound
from warnd.metrics import Metrics
from warnd.model import Hazard, HazardEvent, MsgType, ParseResult, Status, SubscriptionState, Target
from warnd.runtime.build import Bundle, build
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.conditions import Live, collect
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.http import Endpoint
from warnd.runtime.ingest import Ingest
from warnd.runtime.notices import NoticeBoard
from warnd.runtime.websub_hub import ClientRate, Hub
from warnd.runtime.websub_pushes import WebSubPushes, remove, resume
from warnd.store.backend import Database
from warnd.store.outbox import Outbox
from warnd.store.websub import Subscriptions
from warnd.store.worker import inline
from warnd.testing.websub_subscriber import WebSubSubscriber

DIRECT = Outbound(proxy="none")
BASE = "https://warnd.example.org"
TOPIC = feed_links(BASE, "jabar").topic
HUB = BASE + "/websub"
SECRET = "s3cret-of-the-radio-0123456789"
FEEDS = "  - id: gempa\n    format: bmkg-tews\n    url: /nonexistent.json\n"
WEBSUB = f"""websub:
  public_url: {BASE}
  allow_loopback: true
  lease_min: 60
  dead_after: 2
  requests_per_minute: {{rate}}
"""
T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def quake(n: int) -> HazardEvent:
    """A quake near Bandung: the jabar account's (each n another quake)."""
    return HazardEvent(
        f"q-{n}",
        "gempa",
        "bmkg-tews",
        Hazard.EARTHQUAKE,
        MsgType.ALERT,
        Status.ACTUAL,
        T0 - timedelta(minutes=10 * n),
        lat=-6.9 - n / 100,
        lon=107.6,
        magnitude=5.0 + n / 10,
        depth_km=10.0,
    )


@dataclass
class Hubbed:
    """A hub on node A's connection, the ingest and the dispatcher on node B's."""

    bundle: Bundle
    node_a: Database
    node_b: Database
    clock: FixedClock
    hub: Hub
    pushes: WebSubPushes
    endpoint: Endpoint
    url: str
    subscriber: WebSubSubscriber
    metrics: Metrics
    http: httpx.AsyncClient

    async def ask(
        self, name: str, *, mode: str = "subscribe", secret: str | None = SECRET, **more: str
    ) -> httpx.Response:
        form = {"hub.mode": mode, "hub.topic": TOPIC, "hub.callback": self.subscriber.callback(name)}
        if secret is not None:
            form["hub.secret"] = secret
        form |= more
        r = await self.http.post(self.url, data=form)
        await self.hub.idle(10)
        return r

    async def warn(self, n: int, *, settle: bool = True) -> None:
        """Quake n ingested on node B a second later, and everything delivered."""
        self.clock.advance(1)
        ingest = Ingest(self.node_b, self.clock, lambda: self.bundle, explain=False)
        report = ingest.handle("gempa", ParseResult(events=(quake(n),)))
        assert report.warnings, "the test quake must issue a warning"
        await self.pushes.round()
        dispatcher = Dispatcher(
            self.node_b, self.clock, self.senders, lambda: self.bundle.config.file.dispatch, Metrics()
        )
        # `settle=False`: a push is left waiting for its retry (the clock does not move here).
        assert await dispatcher.drain(15 if settle else 1) or not settle

    def senders(self) -> dict[str, Any]:
        return {**self.bundle.senders, **self.pushes.senders()}

    def subs(self) -> Subscriptions:
        return Subscriptions(self.node_a)


@asynccontextmanager
async def hubbed(store: Store, tmp_path: Path, *, rate: int = 1000, **subscriber: Any) -> AsyncIterator[Hubbed]:
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=WEBSUB.format(rate=rate))
    bundle = build(cfg, with_senders=True)
    node_a, node_b = store.open(), store.open()
    clock = FixedClock(T0)
    metrics = Metrics()
    sub = WebSubSubscriber({"radio": SECRET, "tv": "tv-secret"}, **subscriber)
    sub.start()
    file = bundle.config.file
    hub = Hub(
        node_a,
        inline(),
        clock,
        settings=lambda: file.websub,
        base=lambda: file.websub_base,
        accounts=lambda: file.accounts,
        outbound=lambda: DIRECT,
        user_agent=lambda: "warnd-test",
        metrics=metrics,
    )
    pushes = WebSubPushes(node_b, inline(), clock, lambda: file, hub.http)
    endpoint = Endpoint(
        "127.0.0.1",
        0,
        health=lambda: {"status": "ok", "reasons": []},
        status=dict,
        registry=CollectorRegistry(),
        cap=CapFeeds.of_config(Outbox(node_b), lambda: file, clock),
        hub=hub,
    )
    host, port = await endpoint.start()
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            yield Hubbed(
                bundle, node_a, node_b, clock, hub, pushes, endpoint, f"http://{host}:{port}/websub", sub, metrics, http
            )
        finally:
            await endpoint.stop()
            await hub.close()
            sub.stop()


def run(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """An async test run on its own event loop (the hub, the endpoint and the dispatcher share it)."""

    @functools.wraps(test)
    def sync(*args: Any, **kw: Any) -> None:
        asyncio.run(test(*args, **kw))

    return sync


def entries(body: bytes) -> list[Any]:
    feed = fromstring(body)
    return feed.findall("{http://www.w3.org/2005/Atom}entry")


@run
async def test_a_verified_subscriber_gets_each_warning_pushed_signed_through_the_outbox(store, tmp_path, logs):
    async with hubbed(store, tmp_path) as h:
        r = await h.ask("radio", **{"hub.lease_seconds": "86400"})
        assert r.status_code == 202, r.text
        # The hub verified the intent with a GET carrying the challenge and the lease it grants.
        [v] = h.subscriber.verified("radio")
        assert v["hub.topic"] == TOPIC and v["hub.lease_seconds"] == "86400" and len(v["hub.challenge"]) >= 20
        [s] = h.subs().listing()
        assert s.state is SubscriptionState.ACTIVE and s.account == "jabar" and s.secret == SECRET
        assert s.expires_at == T0 + timedelta(days=1)

        await h.warn(1)
        [push] = h.subscriber.pushes_to("radio")
        assert push.signature == "ok"
        expected = "sha256=" + hmac.new(SECRET.encode(), push.body, hashlib.sha256).hexdigest()
        assert push.headers["X-Hub-Signature"] == expected
        assert push.headers["Link"] == f'<{HUB}>; rel="hub", <{TOPIC}>; rel="self"'
        assert push.headers["Content-Type"].startswith("application/atom+xml")
        assert push.headers["Idempotency-Key"].startswith("wd-")
        # The feed with the new entry alone, its CAP alert embedded, named by absolute URLs.
        [entry] = entries(push.body)
        assert (
            entry.find("{http://www.w3.org/2005/Atom}content/{urn:oasis:names:tc:emergency:cap:1.2}alert") is not None
        )
        link = entry.find("{http://www.w3.org/2005/Atom}link").get("href")
        assert link.startswith(BASE + "/cap/jabar/") and link.endswith(".xml")
        # The delivery went through the outbox, recorded sent.
        [d] = Outbox(h.node_b).listing(["sent"], Target.websub(s.id), 10)
        assert d.idempotency_key == push.headers["Idempotency-Key"]

        # The served feed names its hub and its canonical URL (WebSub discovery).
        atom = (await h.http.get(h.url.replace("/websub", "/cap/jabar/index.atom"))).text
        assert f'<link rel="self" href="{TOPIC}" />' in atom and f'<link rel="hub" href="{HUB}" />' in atom

        # A second warning: a second push, its own key.
        await h.warn(2)
        pushes = h.subscriber.pushes_to("radio")
        assert len(pushes) == 2 and pushes[1].key != pushes[0].key and len(h.subscriber.state.processed) == 2

    # The secret is nowhere but the store: not in a log line, not in the metrics.
    assert SECRET not in repr(logs)
    assert SECRET.encode() not in generate_latest(h.metrics.registry)
    assert {line["event"] for line in logs} >= {"websub.accepted", "websub.subscribed", "warning.delivered"}


@run
async def test_renewing_keeps_the_subscription_and_extends_its_lease(store, tmp_path):
    async with hubbed(store, tmp_path) as h:
        assert (await h.ask("radio", **{"hub.lease_seconds": "3600"})).status_code == 202
        [first] = h.subs().listing()
        h.clock.advance(1800)
        # A lease above the most is cut to it (30 days by default), and the hub says so.
        assert (await h.ask("radio", secret="a-new-secret", **{"hub.lease_seconds": "99999999"})).status_code == 202
        [renewed] = h.subs().listing()
        assert renewed.id == first.id and renewed.secret == "a-new-secret"
        assert renewed.lease_seconds == 30 * 86400 and renewed.expires_at == h.clock.now() + timedelta(days=30)
        assert [v["hub.lease_seconds"] for v in h.subscriber.verified("radio")] == ["3600", str(30 * 86400)]


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"hub.mode": "publish"}, "hub.mode: must be subscribe or unsubscribe"),
        ({"hub.topic": BASE + "/cap/nowhere/index.atom"}, "hub.topic: 'https://warnd.example.org/cap/nowhere"),
        ({"hub.topic": "https://other.example/feed"}, "is not a feed of this hub"),
        ({"hub.topic": ""}, "hub.topic: missing"),
        ({"hub.callback": "http://radio.example/hook"}, "hub.callback: must be https (http only to this machine"),
        ({"hub.callback": "https://user:pw@radio.example/hook"}, "hub.callback: carries a user name or password"),
        (
            {"hub.callback": "https://radio.example/hook?token=abc"},
            "hub.callback: carries the query parameter(s) token",
        ),
        ({"hub.callback": "ftp://radio.example/hook"}, "hub.callback: must be an https URL"),
        ({"hub.lease_seconds": "ten days"}, "hub.lease_seconds: must be a whole number"),
        ({"hub.secret": "x" * 201}, "hub.secret: longer than 200 bytes"),
    ],
)
@run
async def test_a_bad_request_is_answered_400_naming_the_field_and_nothing_is_asked_of_the_callback(form, why, tmp_path):
    store = Store("sqlite", tmp_path, None)
    async with hubbed(store, tmp_path) as h:
        body = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": h.subscriber.callback("radio")} | form
        r = await h.http.post(h.url, data=body)
        assert r.status_code == 400 and why in r.text, r.text
        await h.hub.idle(5)
        assert h.subscriber.state.verifications == [] and h.subs().listing() == []


@run
async def test_the_hub_takes_only_form_posts_of_bounded_size_and_only_it_takes_a_body(tmp_path):
    store = Store("sqlite", tmp_path, None)
    async with hubbed(store, tmp_path) as h:
        assert (await h.http.get(h.url)).status_code == 405
        r = await h.http.post(h.url, json={"hub.mode": "subscribe"})
        assert r.status_code == 400 and "Content-Type: must be application/x-www-form-urlencoded" in r.text
        big = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": "https://r.example/" + "a" * 9000}
        assert (await h.http.post(h.url, data=big)).status_code == 413
        # Elsewhere a body is still refused.
        r = await h.http.post(h.url.replace("/websub", "/cap/jabar/index.atom"), data={"a": "b"})
        assert r.status_code == 405


@run
async def test_requests_beyond_the_rate_of_one_address_get_429(tmp_path):
    store = Store("sqlite", tmp_path, None)
    async with hubbed(store, tmp_path, rate=3) as h:
        codes = [(await h.ask("radio", **{"hub.mode": "publish"})).status_code for _ in range(5)]
        assert codes == [400, 400, 400, 429, 429]


def test_the_rate_table_keeps_a_bounded_number_of_addresses():
    rate = ClientRate(lambda: 2, size=100)
    for i in range(10_000):
        assert rate.take(f"10.0.{i // 256}.{i % 256}", now=0.0)
    assert len(rate) == 100
    assert rate.take("10.0.39.15", now=0.0) and not rate.take("10.0.39.15", now=0.0)
    # Tokens come back at the rate: two a minute.
    assert rate.take("10.0.39.15", now=30.0)


@run
async def test_a_callback_that_does_not_echo_the_challenge_is_never_subscribed(store, tmp_path, logs):
    async with hubbed(store, tmp_path, wrong_echo={"radio"}, refuse={"tv"}) as h:
        assert (await h.ask("radio")).status_code == 202
        assert (await h.ask("tv")).status_code == 202
        assert len(h.subscriber.verified("radio")) == 1
        assert h.subs().listing([SubscriptionState(s) for s in ("active", "paused", "expired", "removed")]) == []
        await h.warn(1)
        assert h.subscriber.state.pushes == []
    refused = [line for line in logs if line["event"] == "websub.unverified"]
    assert [r["error"] for r in refused] == [
        "its answer is not the challenge (the body must be hub.challenge exactly)",
        "it answered HTTP 404",
    ]


@run
async def test_an_expired_subscription_gets_nothing_more(store, tmp_path):
    async with hubbed(store, tmp_path) as h:
        # Below the least lease: raised to it (60 s here).
        assert (await h.ask("radio", **{"hub.lease_seconds": "5"})).status_code == 202
        assert h.subscriber.verified("radio")[0]["hub.lease_seconds"] == "60"
        await h.warn(1)
        assert len(h.subscriber.pushes_to("radio")) == 1
        [s] = h.subs().listing()
        every = ["pending", "in_flight", "retry", "sent", "dead", "dropped"]
        # A push issued within the lease but not yet made when it ends is dropped, not made.
        Ingest(h.node_b, h.clock, lambda: h.bundle, explain=False).handle("gempa", ParseResult(events=(quake(2),)))
        h.clock.advance(60)
        await h.pushes.round()
        assert [d.state.value for d in Outbox(h.node_b).listing(every, Target.websub(s.id), 10)] == ["dropped", "sent"]
        # Past its lease, a warning is not even queued for it.
        await h.warn(3)
        assert len(h.subscriber.pushes_to("radio")) == 1
        assert len(Outbox(h.node_b).listing(every, Target.websub(s.id), 10)) == 2
        [s] = h.subs().listing([SubscriptionState.EXPIRED])
        assert s.expires_at == T0 + timedelta(seconds=60) and s.secret is None


@run
async def test_an_unsubscription_is_verified_then_ends_the_pushes(store, tmp_path):
    async with hubbed(store, tmp_path) as h:
        await h.ask("radio")
        await h.ask("tv", secret=None)
        assert (await h.ask("radio", mode="unsubscribe")).status_code == 202
        [v] = h.subscriber.verified("radio", "unsubscribe")
        assert "hub.lease_seconds" not in v
        await h.warn(1)
        assert h.subscriber.pushes_to("radio") == []
        # The other subscriber, unsigned, still gets it.
        [push] = h.subscriber.pushes_to("tv")
        assert "X-Hub-Signature" not in push.headers
        assert [s.state for s in h.subs().listing([SubscriptionState.REMOVED])] == [SubscriptionState.REMOVED]


@run
async def test_a_subscriber_whose_pushes_keep_failing_is_paused_with_a_notice_and_resumed_by_an_operator(
    store, tmp_path, logs
):
    async with hubbed(store, tmp_path) as h:
        await h.ask("radio")
        [s] = h.subs().listing()
        h.subscriber.down["radio"] = 400
        await h.warn(1)
        await h.pushes.round()
        assert h.subs().get(s.id).state is SubscriptionState.ACTIVE  # one dead push is not yet a pattern
        await h.warn(2)
        await h.pushes.round()
        paused = h.subs().get(s.id)
        assert paused.state is SubscriptionState.PAUSED and paused.paused_reason == "its last 2 pushes failed for good"
        assert len(h.subscriber.pushes_to("radio")) == 2

        # One notice for the subscriber, none per dead push.
        found = collect(h.node_b, h.bundle, h.clock.now(), Live(started=T0))
        websub = [c for c in found if c.kind.startswith("websub")]
        assert [c.kind for c in websub] == ["websub_paused"]
        assert f"warnd websub resume {s.id}" in websub[0].message
        assert not [c for c in found if c.subject == Target.websub(s.id)]
        board = NoticeBoard(h.node_b, h.clock, Metrics(), lambda: [])
        assert board.reconcile(found) == 0 and "websub_paused:" + s.id in board.notices.active()

        # Paused: the next warning is not pushed to it, and nothing is retried.
        await h.warn(3)
        assert len(h.subscriber.pushes_to("radio")) == 2

        # The operator resumes it once the subscriber answers again.
        h.subscriber.down.pop("radio")
        h.clock.advance(60)
        assert resume(h.node_a, s.id, h.clock.now())
        await h.warn(4)
        await h.pushes.round()
        assert h.subs().get(s.id).state is SubscriptionState.ACTIVE
        assert len(h.subscriber.pushes_to("radio")) == 3 and h.subscriber.pushes_to("radio")[-1].signature == "ok"
    assert any(line["event"] == "websub.paused" for line in logs)
    assert SECRET not in repr(logs)


@run
async def test_a_subscriber_failing_for_hours_is_paused_and_not_retried_forever(store, tmp_path):
    async with hubbed(store, tmp_path) as h:
        await h.ask("radio")
        [s] = h.subs().listing()
        h.subscriber.down["radio"] = 503
        await h.warn(1, settle=False)
        [d] = Outbox(h.node_b).listing(["retry"], Target.websub(s.id), 10)
        assert d.attempts == 1 and "HTTP 503" in (d.last_error or "")
        h.clock.advance(50 * 60)
        await h.pushes.round()
        assert h.subs().get(s.id).state is SubscriptionState.ACTIVE
        h.clock.advance(10 * 60)
        await h.pushes.round()
        paused = h.subs().get(s.id)
        assert paused.state is SubscriptionState.PAUSED
        assert paused.paused_reason == "a push has been failing for 1.0 h (websub.failing_for 1 h)"
        # Its lane stops: the push waits, untried, however late it is.
        tried = len(h.subscriber.pushes_to("radio"))
        h.clock.advance(600)
        dispatcher = Dispatcher(h.node_b, h.clock, h.senders, lambda: h.bundle.config.file.dispatch, Metrics())
        await dispatcher.drain(1)
        assert len(h.subscriber.pushes_to("radio")) == tried


@run
async def test_an_operator_removes_a_subscription_and_its_waiting_pushes_are_dropped(store, tmp_path):
    async with hubbed(store, tmp_path) as h:
        await h.ask("radio")
        [s] = h.subs().listing()
        assert remove(h.node_a, s.id, h.clock.now()) == 0
        assert remove(h.node_a, s.id, h.clock.now()) is None
        await h.warn(1)
        assert h.subscriber.pushes_to("radio") == []


def test_the_subscriber_fake_checks_signatures_as_partners_are_told():
    from warnd.testing.websub_subscriber import check_signature

    body = b"<feed/>"
    good = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert check_signature("k", good, body) == "ok"
    assert check_signature("k", good, body + b" ") == "bad"
    assert check_signature("k", re.sub("sha256", "sha1", good), body) == "bad"
    assert check_signature("k", None, body) == "missing"


def test_operators_list_resume_and_remove_subscriptions_and_never_see_a_secret(tmp_path, capsys):
    from warnd.store.db import connect

    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=WEBSUB.format(rate=10))
    (tmp_path / "state").mkdir()
    conn = connect(tmp_path / "state" / "warnd.db")
    subs = Subscriptions(conn)
    callback = "https://radio.example/hook?feed=jabar"
    with conn.transaction():
        one = subs.verified("a1", "jabar", TOPIC, callback, SECRET, 3600, T0)
        subs.verified("b2", "jabar", TOPIC, "https://tv.example/hook", None, 3600, T0)
        subs.pause("a1", T0, "its last 3 pushes failed for good")
    conn.close()
    assert main(["websub", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "a1  jabar" in out and "paused" in out and "signed" in out and callback in out
    assert "its last 3 pushes failed for good" in out and "b2  jabar" in out and "unsigned" in out
    assert main(["websub", "list", "-c", str(cfg), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert '"signed": true' in out and SECRET not in out
    assert main(["websub", "resume", "-c", str(cfg), "a1"]) == 0
    assert "resumed" in capsys.readouterr().out
    assert main(["websub", "resume", "-c", str(cfg), "a1"]) == 1
    assert "no paused subscription 'a1'" in capsys.readouterr().err
    assert main(["websub", "remove", "-c", str(cfg), "b2"]) == 0
    assert main(["websub", "remove", "-c", str(cfg), "nope"]) == 1
    capsys.readouterr()
    assert main(["websub", "list", "-c", str(cfg), "--state", "removed"]) == 0
    out = capsys.readouterr().out
    assert "b2" in out and "a1" not in out
    assert one.secret == SECRET


@run
async def test_a_form_sent_in_pieces_is_read_whole_and_one_dripped_too_slowly_is_cut_off(tmp_path, monkeypatch):
    from warnd.runtime import websub_hub

    monkeypatch.setattr(websub_hub, "BODY_TIMEOUT", 1.0)
    store = Store("sqlite", tmp_path, None)
    async with hubbed(store, tmp_path) as h:
        host, port = h.endpoint.bound or ("", 0)
        form = httpx.QueryParams(
            {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": h.subscriber.callback("radio")}
        )
        body = str(form).encode()

        async def send(pieces: list[bytes], pause: float, length: int) -> bytes:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"POST /websub HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {length}\r\n\r\n".encode()
            )
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(pause)
            answer = await asyncio.wait_for(reader.read(4096), 10)
            writer.close()
            return answer

        half = len(body) // 2
        answer = await send([body[:half], body[half:]], 0.2, len(body))
        assert answer.startswith(b"HTTP/1.1 202"), answer
        await h.hub.idle(10)
        assert len(h.subscriber.verified("radio")) == 1
        started = asyncio.get_running_loop().time()
        answer = await send([body[:10]], 0.0, len(body))
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert asyncio.get_running_loop().time() - started < 5


@run
async def test_a_callback_leading_inside_the_network_is_never_asked(store, tmp_path, logs):
    async with hubbed(store, tmp_path) as h:
        form = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": "https://10.0.0.1/cb"}
        assert (await h.http.post(h.url, data=form)).status_code == 202
        await h.hub.idle(10)
        assert h.subs().listing([SubscriptionState.ACTIVE]) == []
    refused = [line for line in logs if line["event"] == "websub.unverified"]
    assert len(refused) == 1 and "not a public address" in refused[0]["error"]


@run
async def test_a_push_to_a_callback_that_no_longer_leads_to_a_public_address_is_refused(store, tmp_path, logs):
    async with hubbed(store, tmp_path) as h:
        assert (await h.ask("radio")).status_code == 202
        assert h.subs().listing([SubscriptionState.ACTIVE])
        # The same subscription, judged as a live hub judges it: its callback (on this machine,
        # as a name pointed inside the network would be) is checked before the push, which goes
        # nowhere and waits for its retry.
        file = h.bundle.config.file
        live = file.model_copy(update={"websub": file.websub.model_copy(update={"allow_loopback": False})})
        h.pushes = WebSubPushes(h.node_b, inline(), h.clock, lambda: live, h.hub.http)
        await h.warn(1, settle=False)
        assert h.subscriber.state.pushes == []
    assert any(line["event"] == "websub.address_refused" for line in logs)
