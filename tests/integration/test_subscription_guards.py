"""What keeps `POST /subscriptions` from being turned against warnd or its network: bodies that
never come, bodies split on the way, URLs that lead inside, names reused, requests that pile up,
text that rewrites an operator's terminal. Real listeners and a real partner receiver on loopback,
real SQLite."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import structlog

from tests.conftest import RULES_ANY_QUAKE
from tests.integration.test_subscriptions import World, ask, config
from warnd.clock import FixedClock
from warnd.config.schema import DispatchSettings
from warnd.config.secrets import Secret
from warnd.errors import OperatorError
from warnd.runtime.conditions import Live, collect
from warnd.runtime.console_actions import ConsoleActions
from warnd.runtime.operations import approve_subscription, revoke_subscription
from warnd.runtime.subscribers import Subscribers, SubscriberSender
from warnd.store.backend import DatabaseError
from warnd.store.outbox import Outbox
from warnd.store.subscriptions import PENDING, REVOKED, Subscription, Subscriptions
from warnd.store.targets import Targets
from warnd.testing.webhook_sink import WebhookSink

T = TypeVar("T")
HEAD = "POST /subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"


async def _raw(public: str, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = public.removeprefix("http://").rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    w.write(data)
    await w.drain()
    return r, w


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def test_a_body_that_never_comes_is_answered_408_and_closed_and_cannot_fill_the_listener(tmp_path: Path) -> None:
    world = World(tmp_path, config(tmp_path, extra="  body_timeout: 1s\n  concurrent: 3\n  concurrent_per_client: 2\n"))

    async def scenario() -> None:
        _op, public = await world.start()
        held = []
        try:
            started = time.monotonic()
            # Two stalled bodies from one address: the third is refused at once, closed.
            for _ in range(2):
                held.append(await _raw(public, HEAD.format(n=100).encode()))
            await asyncio.sleep(0.2)
            r, w = await _raw(public, HEAD.format(n=100).encode())
            answer = await asyncio.wait_for(r.read(), 2)
            w.close()
            assert _status(answer) == 503 and b"Retry-After: 60" in answer
            # The feeds are still served meanwhile.
            async with httpx.AsyncClient(timeout=3) as http:
                assert (await http.get(public + "/cap/")).status_code == 200
            # Each stalled one is answered once its deadline passes, and its connection closed
            # (read() returns at EOF only).
            for r, w in held:
                answer = await asyncio.wait_for(r.read(), 5)
                assert _status(answer) == 408 and b"did not arrive within 1 s" in answer
                w.close()
            assert time.monotonic() - started < 4
            # A body without a length (chunked) is refused, and closed.
            r, w = await _raw(
                public,
                b"POST /subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n",
            )
            answer = await asyncio.wait_for(r.read(), 3)
            w.close()
            assert _status(answer) == 411
            # Any refusal closes the connection at once, even when the request came whole.
            r, w = await _raw(
                public,
                b"POST /subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
            )
            answer = await asyncio.wait_for(r.read(), 2)
            w.close()
            assert _status(answer) == 415
            # Everything left: nothing in hand.
            assert world.desk.gate.total == 0 and not world.desk.gate.by_network
        finally:
            for _r, w in held:
                w.close()
            await world.stop()

    asyncio.run(scenario())


def test_a_body_split_on_the_way_is_read_whole(tmp_path: Path) -> None:
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))

    async def scenario() -> bytes:
        _op, public = await world.start()
        try:
            body = json.dumps(ask("split", sink.url("split"))).encode()
            r, w = await _raw(public, HEAD.format(n=len(body)).encode() + body[:40])
            await asyncio.sleep(0.3)
            w.write(body[40:])
            await w.drain()
            answer = await asyncio.wait_for(r.readuntil(b"}"), 5)
            w.close()
            return answer
        finally:
            await world.stop()

    try:
        answer = asyncio.run(scenario())
    finally:
        sink.stop()
    assert _status(answer) == 201, answer
    assert [p for p, _ in sink.state.challenges] == ["split"]


async def _post_all(public: str, asks: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    async with httpx.AsyncClient(timeout=10) as http:
        for body in asks:
            r = await http.post(public + "/subscriptions", json=body)
            out.append((r.status_code, r.json()))
    return out


def _within(world: World, body: Callable[[str], Awaitable[T]]) -> T:
    """`body` with the node's listeners up, on one loop."""

    async def scenario() -> T:
        _op, public = await world.start()
        try:
            return await body(public)
        finally:
            await world.stop()

    return asyncio.run(scenario())


def test_urls_that_lead_inside_are_refused_and_every_failed_challenge_reads_the_same(
    tmp_path: Path, refused_port: int
) -> None:
    sink = WebhookSink({})
    sink.start()
    sink.wrong_answer.add("liar")
    sink.down["gone"] = 403
    closed_port = refused_port
    # A name of this machine that resolves to its loopback, when it has one.
    name = socket.gethostname()
    try:
        inside_name = socket.getaddrinfo(name, 443)[0][4][0].startswith("127.")
    except OSError:
        inside_name = False
    world = World(tmp_path, config(tmp_path, loopback=False))
    loop_world = World(tmp_path / "b", config(tmp_path / "b", loopback=True))
    (tmp_path / "b").mkdir(exist_ok=True)

    async def scenario() -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]]]:
        _op, public = await world.start()
        _op2, public2 = await loop_world.start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:

                async def post(base: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                    r = await http.post(base + "/subscriptions", json=body)
                    return r.status_code, r.json()

                shut = [
                    await post(public, ask("a", sink.url("a"))),
                    await post(public, ask("b", f"http://localhost:{closed_port}/")),
                    await post(public, ask("c", "https://[::1]:8443/hook")),
                ]
                for i, url in enumerate(
                    [
                        "https://167772161/",
                        "https://0xa.0.0.1/",
                        "https://10.1/",
                        "https://2852039166/",
                        "https://012.0.0.1/",
                        "https://169.254.169.254/",
                        "https://[::ffff:a9fe:a9fe]/",
                        "https://[64:ff9b::a9fe:a9fe]/",
                        "https://0.0.0.0/",
                    ]
                ):
                    shut.append(await post(public, ask(f"n{i}", url)))
                if inside_name:
                    shut.append(await post(public, ask("named", f"https://{name}:{closed_port}/hook")))
                # With loopback allowed (tests, drills): every way of failing reads the same.
                failed = [
                    await post(public2, ask("liar", sink.url("liar"))),
                    await post(public2, ask("gone", sink.url("gone"))),
                    await post(public2, ask("shut", f"http://127.0.0.1:{closed_port}/")),
                ]
                return shut, failed
        finally:
            await world.stop()
            await loop_world.stop()

    try:
        with structlog.testing.capture_logs() as logs:
            shut, failed = asyncio.run(scenario())
    finally:
        sink.stop()
    assert [c for c, _ in shut] == [400] * len(shut), shut
    assert all(doc["errors"][0]["field"] == "url" for _, doc in shut)
    assert "loopback" in shut[0][1]["error"] and "loopback" in shut[1][1]["error"]
    assert "dotted quad" in shut[3][1]["error"] and "dotted quad" in shut[6][1]["error"]
    if inside_name:
        assert "challenge failed" in shut[-1][1]["error"]
        assert any("not a public address" in e.get("reason", "") for e in logs)
    # Nothing reached the receiver from the node that does not allow loopback.
    assert {p for p, _ in sink.state.challenges} <= {"liar", "gone"}
    assert [c for c, _ in failed] == [400, 400, 400]
    assert len({doc["error"] for _, doc in failed}) == 1, failed
    reasons = [e["reason"] for e in logs if e["event"] == "subscription.challenge_failed"]
    assert any("not the challenge" in r for r in reasons) and any("HTTP 403" in r for r in reasons)


def test_a_subscriber_sender_refuses_an_address_that_is_not_public_at_each_push(tmp_path: Path) -> None:
    """Checked when it sends, not only when it was asked for: a name turned to point inside after
    the approval gets nothing."""
    sink = WebhookSink({"radio": "s" * 43})
    sink.start()
    world = World(tmp_path, config(tmp_path, loopback=False))

    async def scenario() -> None:
        from warnd.errors import DeliveryError

        b = world.bundle
        sender = SubscriberSender(
            "sub-radio",
            allow_loopback=False,
            url=sink.url("radio"),
            secret=Secret("s" * 43),
            fmt="json",
            timeout=2.0,
            user_agent="t",
            outbound=b.outbound,
            clock=FixedClock(datetime.now(UTC)),
        )
        try:
            with pytest.raises(DeliveryError, match="not public"):
                await sender.probe()
            sender.allow_loopback = True
            await sender.probe()
        finally:
            await sender.aclose()
            await world.stop()

    try:
        asyncio.run(scenario())
    finally:
        sink.stop()
    # Only the push allowed arrived.
    assert len(sink.probes("radio")) == 1


async def subscribed(world: World, public: str, sink: WebhookSink, name: str) -> str:
    """A partner subscribed over HTTP at `sink`'s URL for `name`, approved by an operator and
    known to this node's senders; its id."""
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(public + "/subscriptions", json=ask(name, sink.url(name)))
    sid: str = r.json()["id"]
    approve_subscription(world.conn, sid, "op", datetime.now(UTC))
    await world.subs.refresh()
    return sid


def test_a_name_subscribed_again_after_a_revoke_starts_clean_and_the_console_lifts_a_subscriber_hold(
    tmp_path: Path,
) -> None:
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))
    world.policy = DispatchSettings(give_up_after=3.0, retry_min=0.1, retry_max=0.3)

    async def scenario() -> None:
        _op, public = await world.start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(public + "/subscriptions", json=ask("radio", sink.url("radio")))
                first = r.json()["id"]
                approve_subscription(world.conn, first, "op", datetime.now(UTC))
                await world.subs.refresh()
                sink.down["radio"] = 403  # the partner lost its secret: refused, the lane disabled
                world.warn(1)
                await world.dispatcher.drain(timeout=5)
                assert Targets(world.conn).get("partner:sub-radio").disabled_at is not None
                revoke_subscription(world.conn, first, "op", datetime.now(UTC))
                del sink.down["radio"]
                r = await http.post(public + "/subscriptions", json=ask("radio", sink.url("radio")))
                second = r.json()
                sink.secrets["radio"] = second["secret"]
                approve_subscription(world.conn, second["id"], "op", datetime.now(UTC))
                await world.subs.refresh()
                assert Targets(world.conn).get("partner:sub-radio").disabled_at is None
                world.warn(2)
                assert await world.dispatcher.drain(timeout=10)
                assert len(sink.receipts("radio")) == 1

                # The console lifts a subscriber's hold as any target's.
                actions = ConsoleActions(world.conn, FixedClock(datetime.now(UTC)), lambda: world.bundle)
                Targets(world.conn).disable("partner:sub-radio", datetime.now(UTC), "auth", "test")
                done = actions.account_enable("siti", {"target": "partner:sub-radio"})
                assert "lifted" in done["message"]
                assert Targets(world.conn).get("partner:sub-radio").disabled_at is None

                with pytest.raises(OperatorError):
                    actions.account_enable("siti", {"target": "partner:sub-nobody"})
        finally:
            await world.stop()

    try:
        asyncio.run(scenario())
    finally:
        sink.stop()


def test_deliveries_queued_for_a_revoked_subscription_are_named_as_stranded(tmp_path: Path) -> None:
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))

    async def scenario() -> None:
        _op, public = await world.start()
        try:
            sid = await subscribed(world, public, sink, "radio")
            revoke_subscription(world.conn, sid, "op", datetime.now(UTC))
            # This node has not refreshed yet: a warning is still queued for it.
            assert "partner:sub-radio" in world.warn(1)
        finally:
            await world.stop()

    try:
        asyncio.run(scenario())
    finally:
        sink.stop()
    from warnd.store.db import connect

    conn = connect(tmp_path / "w.db")
    try:
        found = collect(conn, world.bundle, datetime.now(UTC), Live(started=datetime.now(UTC)))
    finally:
        conn.close()
    assert any(c.kind == "no_channel" and c.subject == "partner:sub-radio" for c in found), found


def test_pending_requests_expire_rates_count_per_network_and_the_cap_is_kept_at_the_insert(tmp_path: Path) -> None:
    from warnd.runtime.subscribe import RateLimit, network_of

    assert network_of("203.0.113.9") == network_of("203.0.113.200") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::1") == network_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"
    rate = RateLimit(clock=lambda: 0.0)
    assert rate.admit(network_of("2001:db8::1"), 1) is None
    assert rate.admit(network_of("2001:db8::2"), 1) is not None

    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path, extra="  max_pending: 2\n  pending_expire_after: 7d\n"))

    async def body(public: str) -> None:
        # The place checked before the challenge was taken meanwhile: the insert says so.
        world.desk._room = lambda name, max_pending: None  # type: ignore[method-assign]
        got = await _post_all(public, [ask(n, sink.url(n)) for n in ("a", "b", "c")])
        assert [c for c, _ in got] == [201, 201, 503], got
        assert Subscriptions(world.conn).count(PENDING) == 2
        # A week later, nobody decided: both expire and the places are free again.
        later = datetime.now(UTC) + timedelta(days=7, minutes=1)
        subs = Subscribers(world.conn, FixedClock(later), lambda: world.bundle)
        await subs.refresh()
        assert Subscriptions(world.conn).count(PENDING) == 0
        gone = Subscriptions(world.conn).get(got[0][1]["id"])
        assert gone is not None and gone.state == REVOKED and gone.decided_by == "warnd: expired unapproved"
        # Not before its time: a fresh request stays.
        assert (await _post_all(public, [ask("d", sink.url("d"))]))[0][0] == 201
        await Subscribers(world.conn, FixedClock(datetime.now(UTC)), lambda: world.bundle).refresh()
        assert Subscriptions(world.conn).count(PENDING) == 1

    try:
        _within(world, body)
    finally:
        sink.stop()


def test_control_characters_are_refused_and_the_cli_escapes_what_is_stored(tmp_path: Path) -> None:
    from warnd.cli.subscription import shown

    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))
    asks = [
        ask("a", sink.url("a"), contact="redaksi\x1b[2J@radio.example"),
        ask("b", sink.url("b"), contact="redaksi\u202e@radio.example"),
    ]
    try:
        got = _within(world, lambda public: _post_all(public, asks))
    finally:
        sink.stop()
    assert [c for c, _ in got] == [400, 400]
    assert all(doc["errors"][0]["field"] == "contact" for _, doc in got)
    assert "U+001B" in got[0][1]["error"] and "U+202E" in got[1][1]["error"]
    assert not sink.state.challenges
    assert shown("a\x1b[2Jb\u202ec") == "a\\u001b[2Jb\\u202ec"


def test_a_store_failure_is_a_503_and_a_console_traceback_shows_no_secret(tmp_path: Path, monkeypatch, capsys) -> None:
    from warnd.obs import setup_logging

    def failing(self: Subscriptions, s: Any, secret: str, max_pending: int) -> str | None:
        raise DatabaseError("could not write: the store is busy")

    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))
    monkeypatch.setattr(Subscriptions, "add_pending", failing)
    # Console-format log lines with tracebacks, as on an operator's terminal.
    setup_logging("info", json=False)
    try:
        got = _within(world, lambda public: _post_all(public, [ask("radio", sink.url("radio"))]))

        def secret_in_frame() -> None:
            # Made at run time: the traceback shows source lines, and must not show the value.
            secret = "-".join(["whsec", "kept", "in", "a", "local"])
            raise RuntimeError(f"failed with {len(secret)} characters")

        try:
            secret_in_frame()
        except RuntimeError:
            structlog.get_logger("t").exception("boom")
    finally:
        sink.stop()
        structlog.reset_defaults()
    assert got[0][0] == 503 and "try again later" in got[0][1]["error"]
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "whsec-kept-in-a-local" not in err and "secret =" in err


def test_a_reload_reaches_the_subscribers_senders(tmp_path: Path) -> None:
    sink = WebhookSink({})
    sink.start()
    world = World(tmp_path, config(tmp_path))

    async def body(public: str) -> None:
        ((_, got),) = await _post_all(public, [ask("radio", sink.url("radio"))])
        approve_subscription(world.conn, got["id"], "op", datetime.now(UTC))
        await world.subs.refresh()
        (before,) = world.subs._senders.values()
        assert before.timeout == 10.0
        cfg = world.bundle.config
        file = cfg.file.model_copy(
            update={"subscriptions": cfg.file.subscriptions.model_copy(update={"timeout": 3.0}), "user_agent": "ua/2"}
        )
        world.bundle = replace(world.bundle, config=replace(cfg, file=file))
        await world.subs.refresh()
        (after,) = world.subs._senders.values()
        assert after is not before and after.timeout == 3.0 and after.user_agent == "ua/2"

    try:
        _within(world, body)
    finally:
        sink.stop()


def test_the_pending_cap_and_expiry_hold_on_both_backends(store) -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def sub(i: int, at: str) -> Subscription:
        return Subscription(
            id=f"s{i}", name=f"radio{i}", contact="redaksi@radio.example", url="https://radio.example/hook",
            accounts=("jabar",), hazards=None, min_level=None, format="json", state=PENDING,
            requested_at=at, requested_from="203.0.113.9",
        )  # fmt: skip

    subs = Subscriptions(store.open())
    assert subs.add_pending(sub(1, "2026-11-20T12:00:00Z"), "k1", 2) is None
    assert subs.add_pending(sub(2, "2026-11-30T11:00:00Z"), "k2", 2) is None
    assert subs.add_pending(sub(3, "2026-11-30T11:30:00Z"), "k3", 2) == "full"
    assert subs.add_pending(replace(sub(2, "2026-11-30T11:30:00Z"), id="s9"), "k9", 5) == "taken"
    assert subs.count(PENDING) == 2
    assert subs.expire_pending(now - timedelta(days=7), now) == ["s1"]
    assert subs.expire_pending(now - timedelta(days=7), now) == []
    assert [s.id for s in subs.listing((PENDING,))] == ["s2"]
    assert subs.add_pending(sub(3, "2026-11-30T11:30:00Z"), "k3", 2) is None


def test_the_cli_lists_stored_control_characters_as_escapes(tmp_path: Path, capsys) -> None:
    from tests.conftest import RULES_ANY_QUAKE, write_config
    from warnd.cli import main
    from warnd.cli.state import operator_state
    from warnd.clock import SystemClock

    cfg = write_config(
        tmp_path, feeds="  - id: gempa\n    format: bmkg-tews\n    url: /x.json\n", rules=RULES_ANY_QUAKE
    )
    with operator_state(cfg, SystemClock()) as st:
        assert st is not None
        # A row stored before requests with such characters were refused.
        Subscriptions(st.conn).add(
            Subscription(
                "s1",
                "radio",
                "re\x1b]0;pwned\x07daksi\u202e@x",
                "https://radio.example/hook",
                ("jabar",),
                None,
                None,
                "json",
                PENDING,
                "2026-11-30T11:00:00Z",
                "203.0.113.9",
            ),
            "k",
        )
    for fmt in ("table", "json"):
        assert main(["subscription", "list", "--format", fmt, "-c", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "\\u001b]0;pwned\\u0007daksi\\u202e@x" in out
        if fmt == "json":
            assert json.loads(out)["contact"] == "re\x1b]0;pwned\x07daksi\u202e@x"


def test_a_revoke_waits_until_no_life_safety_warning_is_on_its_way_to_the_subscriber(tmp_path: Path) -> None:
    # As for one delivery: no click takes back a life-safety warning that may still go out.
    sink = WebhookSink({})
    sink.start()
    rules = RULES_ANY_QUAKE.replace('accounts: ["*"]', 'accounts: ["*"]\n      priority: life_safety')
    world = World(tmp_path, config(tmp_path, rules=rules))
    world.policy = DispatchSettings(give_up_after=2.0, retry_min=0.1, retry_max=0.3)

    async def scenario() -> None:
        _op, public = await world.start()
        try:
            sid = await subscribed(world, public, sink, "radio")
            sink.down["radio"] = 503  # the partner is down: its warning retries
            assert "partner:sub-radio" in world.warn(1)
            with pytest.raises(OperatorError) as refused:
                revoke_subscription(world.conn, sid, "op", datetime.now(UTC))
            assert refused.value.status == 409 and "life-safety" in str(refused.value)
            assert Subscriptions(world.conn).get(sid).state != REVOKED  # type: ignore[union-attr]
            box = Outbox(world.conn)
            assert box.ids(["pending", "in_flight", "retry"], "partner:sub-radio")
            # Once it is dead (given up, an operator notice raised), the revoke goes through.
            await world.dispatcher.drain(timeout=10)
            deadline = time.monotonic() + 15
            while box.ids(["pending", "in_flight", "retry"], "partner:sub-radio") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert box.ids(["dead"], "partner:sub-radio")
            assert revoke_subscription(world.conn, sid, "op", datetime.now(UTC)) == 1
            assert Subscriptions(world.conn).get(sid).state == REVOKED  # type: ignore[union-attr]
        finally:
            await world.stop()

    try:
        asyncio.run(scenario())
    finally:
        sink.stop()
