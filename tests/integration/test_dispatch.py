"""The dispatcher over a real outbox, posting through the real channels to the fake X API and
partner webhook sinks on loopback."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from warnd.channels import x as x_channel
from warnd.channels import x_answers
from warnd.channels.base import Job, Sent
from warnd.channels.webhook import WebhookSender
from warnd.channels.x import XSender
from warnd.clock import SystemClock
from warnd.config.outbound import Outbound
from warnd.config.schema import DispatchSettings
from warnd.config.secrets import Secret
from warnd.metrics import Metrics
from warnd.model import Hazard, HazardEvent, MsgType, Priority, Region, Status, Warning, WarningKind, urgency_rank
from warnd.runtime.dispatcher import Dispatcher
from warnd.store.db import connect
from warnd.store.outbox import Outbox
from warnd.store.targets import Targets
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")

APP = ("app-key", "app-secret")
ACCOUNTS = ["aceh", "ntb", "jabar", "bali", "maluku"]
PARTNERS = {"radio": ACCOUNTS, "tv": ["aceh", "ntb"], "koran": ["jabar", "bali", "maluku"]}
PRIORITIES = [Priority.NORMAL, Priority.HIGH, Priority.LOW, Priority.LIFE_SAFETY]
SEVERITIES = [None, "minor", "moderate", "severe", "extreme"]


def quake(now: datetime) -> HazardEvent:
    return HazardEvent("e-1", "bmkg-autogempa", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, now)


def warning(i: int, account: str, now: datetime) -> Warning:
    return Warning(
        id=f"w-{account}-{i:03d}",
        event_id=f"e-{i:03d}",
        revision="r",
        rule="gempa",
        account=account,
        kind=WarningKind.NEW,
        severity=SEVERITIES[i % len(SEVERITIES)],
        priority=PRIORITIES[i % len(PRIORITIES)],
        regions=(Region("11", "Aceh", "province"),),
        lang="id",
        text=f"Peringatan {i} untuk {account}: gempa M{4 + i % 5}.{i % 10}",
        status=Status.ACTUAL,
        created_at=now,
    )


def x_sender(fake: FakeX | str, account: str, budget: tuple[int, float], app_budget: tuple[int, float]) -> XSender:
    """An account's sender to the fake X (or to the API base `fake` names)."""
    return XSender(
        account,
        consumer_key=Secret(APP[0]),
        consumer_secret=Secret(APP[1]),
        access_token=Secret(f"tok-{account}"),
        access_token_secret=Secret(f"sec-{account}"),
        api_base=fake if isinstance(fake, str) else fake.base,
        connect_timeout=1.0,
        read_timeout=2.0,
        account_budget=budget,
        app_budget=app_budget,
        outbound=DIRECT,
        clock=SystemClock(),
    )


def hook(name: str, url: str) -> WebhookSender:
    return WebhookSender(
        name,
        url=url,
        secret=Secret(f"{name}-secret"),
        fmt="json",
        timeout=2.0,
        user_agent="t",
        outbound=DIRECT,
        clock=SystemClock(),
    )


def fill(conn, per_account: int) -> dict[str, list[Warning]]:
    now = datetime.now(UTC)
    box = Outbox(conn)
    issued: dict[str, list[Warning]] = {a: [] for a in ACCOUNTS}
    with conn.transaction():
        for i in range(per_account):
            for account in ACCOUNTS:
                w = warning(i, account, now + timedelta(microseconds=i))
                targets = [f"account:{account}"] + [f"partner:{p}" for p, subs in PARTNERS.items() if account in subs]
                assert box.enqueue(w, targets, now, event=quake(now))
                issued[account].append(w)
    return issued


def sliding_max(times: list[float], window: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def drain(conn: Any, senders: Callable[[], dict[str, Any]], policy: DispatchSettings, timeout: float) -> bool:
    """A dispatcher over `senders` (made on the running loop) until the outbox is empty or the
    timeout passes; the senders are closed after."""
    made = senders()
    d = Dispatcher(conn, SystemClock(), lambda: made, lambda: policy)
    done = await d.drain(timeout=timeout)
    for s in made.values():
        await s.aclose()
    return done


def test_200_warnings_to_5_accounts_and_3_partners_through_429s_and_500s(tmp_path):
    users = {f"tok-{a}": (f"sec-{a}", a) for a in ACCOUNTS}
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=users, user_limit=(12, 3.0), app_limit=(50, 3.0))
    sink = WebhookSink({p: f"{p}-secret" for p in PARTNERS})
    fake.start()
    sink.start()
    try:
        conn = connect(tmp_path / "w.db")
        issued = fill(conn, per_account=40)
        for a in ACCOUNTS[:3]:
            fake.script("429", "500", "503-html", user=a)
        fake.script("drop-after", user="bali")
        fake.script("drop", "500", user="maluku")
        sink.script("radio", "500", "429", "503")
        sink.script("tv", "500")

        def senders() -> dict[str, Any]:
            out = {f"account:{a}": x_sender(fake, a, (10, 3.0), (45, 3.0)) for a in ACCOUNTS}
            out.update({f"partner:{p}": hook(p, sink.url(p)) for p in PARTNERS})
            return out

        async def run() -> bool:
            return await drain(
                conn, senders, DispatchSettings(give_up_after=600, retry_min=0.05, retry_max=1.0), timeout=90
            )

        assert asyncio.run(run()), Outbox(conn).counts()
        counts = Outbox(conn).counts()
        assert counts["sent"] == 200 + 200 + 80 + 120 and counts["dead"] == counts["retry"] == 0

        for account, ws in issued.items():
            posted = [p.text for p in fake.posts_by(account)]
            # Exactly once each, and in urgency order (then age) within the account.
            expected = [w.text for w in sorted(ws, key=lambda w: (urgency_rank(w, "earthquake"), w.id))]
            assert posted == expected, account
        for partner, subs in PARTNERS.items():
            keys = sink.keys(partner)
            assert len(keys) == len(set(keys)) == 40 * len(subs)
        # Never over a limit: no 429 was earned, and no window ever held more than the limit.
        assert fake.state.limit_hits == 0
        assert sliding_max([p.at for p in fake.state.posts], 3.0) <= 50
        for a in ACCOUNTS:
            assert sliding_max([p.at for p in fake.posts_by(a)], 3.0) <= 12
        # The scripted 429s and 500s did happen.
        statuses = [s for _, s, _ in fake.state.requests]
        assert statuses.count(429) == 3 and statuses.count(500) >= 4 and statuses.count(503) == 3
        assert fake.state.duplicates == 1  # the re-send after "drop-after" counted as delivered
        assert fake.state.bad_signatures == 0
    finally:
        fake.stop()
        sink.stop()


def test_a_partner_down_throughout_is_dead_lettered_and_holds_up_nobody(tmp_path, refused_port):
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users={"tok-aceh": ("sec-aceh", "aceh")})
    sink = WebhookSink({"radio": "radio-secret"})
    fake.start()
    sink.start()
    dead_port = refused_port
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        with conn.transaction():
            for i in range(10):
                w = warning(i, "aceh", now)
                Outbox(conn).enqueue(w, ["account:aceh", "partner:radio", "partner:tv"], now)

        def senders() -> dict[str, Any]:
            return {
                "account:aceh": x_sender(fake, "aceh", (90, 900.0), (9000, 86400.0)),
                "partner:radio": hook("radio", sink.url("radio")),
                "partner:tv": hook("tv", f"http://127.0.0.1:{dead_port}/tv"),
            }

        async def run() -> bool:
            return await drain(
                conn, senders, DispatchSettings(give_up_after=2.0, retry_min=0.1, retry_max=0.5), timeout=30
            )

        with structlog.testing.capture_logs() as logs:
            assert asyncio.run(run())
        box = Outbox(conn)
        assert len(fake.posts_by("aceh")) == 10 and len(sink.keys("radio")) == 10
        dead = box.listing(["dead"])
        assert len(dead) == 10 and {d.target for d in dead} == {"partner:tv"}
        assert all(d.reason == "gave_up" for d in dead) and any("cannot connect" in (d.last_error or "") for d in dead)
        notices = [e for e in logs if e["event"] == "delivery.dead"]
        assert len(notices) == 10 and all("operator action needed" in e["notice"] for e in notices)
        assert all(e["event_id"].startswith("e-") for e in notices)
    finally:
        fake.stop()
        sink.stop()


def test_auth_failure_disables_the_account_and_keeps_its_warnings(tmp_path):
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users={"tok-aceh": ("sec-aceh", "aceh")})
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        with conn.transaction():
            for i in range(3):
                Outbox(conn).enqueue(warning(i, "aceh", now), ["account:aceh"], now)
        fake.suspend("aceh")

        async def run(seconds: float) -> None:
            sender = x_sender(fake, "aceh", (90, 900.0), (9000, 86400.0))
            d = Dispatcher(conn, SystemClock(), lambda: {"account:aceh": sender}, DispatchSettings)
            await d.drain(timeout=seconds)
            await sender.aclose()

        asyncio.run(run(1.5))
        statuses = [s for _, s, _ in fake.state.requests]
        assert statuses == [403]  # one refusal, then no more tries
        box = Outbox(conn)
        counts = box.counts()
        assert counts["pending"] + counts["retry"] == 3 and counts["dead"] == 0 and counts["sent"] == 0
        from warnd.store.targets import Targets

        state = Targets(conn).get("account:aceh")
        assert state.disabled_at is not None and state.reason == "auth"
        # The operator fixes the account and lifts the disable: everything goes out.
        fake.users["tok-aceh"].suspended = False
        Targets(conn).enable("account:aceh")
        box.retry_now(box.ids(["pending", "retry"], "account:aceh"), datetime.now(UTC))
        asyncio.run(run(10))
        assert len(fake.posts_by("aceh")) == 3
    finally:
        fake.stop()


def test_a_backlog_to_a_partner_goes_in_batches_and_a_failure_mid_batch_keeps_order_and_loses_nothing(
    tmp_path, monkeypatch
):
    """20 warnings queued for one partner; the 4th POST gets a 500. The three before it are
    recorded sent, the 4th is retried, the rest wait for it: the partner processes all 20, each
    once, in queue order, and no delivery is left in flight."""
    conn = connect(tmp_path / "o.db")
    box = Outbox(conn)
    now = datetime.now(UTC)
    queued = []
    with conn.transaction():
        for i in range(20):
            w = replace(warning(i, "aceh", now), priority=Priority.NORMAL, severity="moderate")
            assert box.enqueue(w, ["partner:radio"], now, event=quake(now))
            queued.append(w)
    batches: list[int] = []
    begin_many = Outbox.begin_many

    def counted(self: Outbox, ids, at) -> set[int]:
        batches.append(len(ids))
        return begin_many(self, ids, at)

    monkeypatch.setattr(Outbox, "begin_many", counted)
    with WebhookSink({"radio": "radio-secret"}) as sink:
        sink.script("radio", "slow:0", "slow:0", "slow:0", "500")
        senders = {"partner:radio": hook("radio", sink.url("radio"))}
        policy = DispatchSettings(retry_min=0.2, retry_max=0.5)

        async def run() -> bool:
            d = Dispatcher(conn, SystemClock(), lambda: senders, lambda: policy)
            ok = await d.drain(timeout=30)
            await senders["partner:radio"].aclose()
            return ok

        assert asyncio.run(run())
        processed = [r.key for r in sink.receipts("radio")]
    rows = conn.execute("SELECT state, attempts FROM deliveries ORDER BY id").fetchall()
    assert [r["state"] for r in rows] == ["sent"] * 20
    assert [r["attempts"] for r in rows] == [1, 1, 1, 2] + [1] * 16
    expected = ["wd-" + hashlib.sha256(f"{w.id}\x1fpartner:radio".encode()).hexdigest()[:32] for w in queued]
    assert processed == expected
    # The first batch took the whole backlog; after the failure the rest went as a batch again.
    assert batches[0] == 20 and len(batches) >= 2 and batches[1] > 1


def test_a_thread_part_x_refuses_as_a_repeat_is_delivered_only_when_warnd_s_record_shows_it_sent(tmp_path):
    """The outbox records each part's request before it goes out: a part whose answer was lost
    and that X then refuses as a repeat is on X; a repeat refusal of a part warnd never sent is
    an error, dead-lettered with the event, warning and part, never marked sent."""
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users={"tok-aceh": ("sec-aceh", "aceh")})
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        body = "\n".join(f"WASPADA {i}: Kabupaten Contoh Nomor {i} bagian utara dan pulau-pulaunya" for i in range(12))
        first = replace(warning(0, "aceh", now), id="w-thread", text=f"Gempa M7.7 Flores.\n{body}", thread_label="PD-2")
        # Another post whose text and label are those of the first: X has every part already,
        # from a post of another warning.
        again = replace(first, id="w-again", event_id="e-again")
        box = Outbox(conn)
        with conn.transaction():
            box.enqueue(first, ["account:aceh"], now)
        fake.script("slow:0", "drop-after", user="aceh")  # part 2 reaches X, its answer is lost

        def senders() -> dict[str, Any]:
            return {"account:aceh": x_sender(fake, "aceh", (90, 900.0), (9000, 86400.0))}

        async def run() -> bool:
            return await drain(
                conn, senders, DispatchSettings(give_up_after=600, retry_min=0.05, retry_max=0.2), timeout=30
            )

        with structlog.testing.capture_logs() as logs:
            assert asyncio.run(run())
        (d1,) = box.listing(["sent"])
        posts = fake.posts_by("aceh")
        assert len(posts) >= 3 and d1.parts == (posts[0].id, None, *[p.id for p in posts[2:]])
        sent = [a.text for a in fake.attempts_by("aceh")]
        assert sent.count(posts[1].text) == 2 and [a.duplicate for a in fake.attempts_by("aceh")].count(True) == 1
        assert any(e["event"] == "delivery.part_already_posted" and e["part"] == 2 for e in logs)

        with conn.transaction():
            box.enqueue(again, ["account:aceh"], now)
        with structlog.testing.capture_logs() as logs:
            assert asyncio.run(run())
        (d2,) = box.listing(["dead"])
        assert d2.warning.id == "w-again" and d2.parts == () and "part 1/" in (d2.last_error or "")
        assert len(fake.posts_by("aceh")) == len(posts)
        refused = [e for e in logs if e["event"] == "delivery.duplicate_refused"]
        assert [(e["event_id"], e["warning_id"], e["part"]) for e in refused] == [("e-again", "w-again", 1)]
        assert any(e["event"] == "delivery.dead" and e["warning_id"] == "w-again" for e in logs)
        assert not any(e["event"] == "warning.delivered" for e in logs)
    finally:
        fake.stop()


def test_x_credits_spent_hold_every_account_of_the_app_and_lose_nothing(tmp_path, monkeypatch):
    # The real hold is 15 minutes; the test waits a moment instead.
    monkeypatch.setattr(x_answers, "CREDITS_HOLD", 2.0)
    users = {"tok-aceh": ("sec-aceh", "aceh"), "tok-ntb": ("sec-ntb", "ntb")}
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=users)
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        with conn.transaction():
            for i in range(3):
                for account in ("aceh", "ntb"):
                    Outbox(conn).enqueue(warning(i, account, now), [f"account:{account}"], now)
        fake.down = "402"

        def senders() -> dict[str, Any]:
            return {f"account:{a}": x_sender(fake, a, (90, 900.0), (9000, 86400.0)) for a in ("aceh", "ntb")}

        with structlog.testing.capture_logs() as logs:
            assert not asyncio.run(drain(conn, senders, DispatchSettings(), timeout=1.0))
        statuses = [s for _, s, _ in fake.state.requests]
        # At most one refused try per lane: the first 402 holds the other lane too.
        assert statuses and set(statuses) == {402} and len(statuses) <= 2
        counts = Outbox(conn).counts()
        assert counts["dead"] == 0 and counts["sent"] == 0 and counts["pending"] + counts["retry"] == 6
        app = Targets(conn).get(x_channel.APP_HOLD)
        assert app.hold_until is not None and app.hold_until > datetime.now(UTC)
        for account in ("aceh", "ntb"):
            assert Targets(conn).get(f"account:{account}").disabled_at is None
        notices = [e for e in logs if e["event"] == "delivery.app_held"]
        assert len(notices) == 1 and "credits" in notices[0]["notice"]
        assert not [e for e in logs if e["event"] in ("delivery.dead", "target.disabled")]

        # Credits are topped up: once the hold runs out both accounts deliver everything.
        fake.down = None
        assert asyncio.run(drain(conn, senders, DispatchSettings(), timeout=15.0))
        assert len(fake.posts_by("aceh")) == 3 and len(fake.posts_by("ntb")) == 3
        assert Outbox(conn).counts()["dead"] == 0
    finally:
        fake.stop()


class Taken:
    """A channel that takes every delivery at once."""

    channel = "file"
    replies = False
    batch = 1
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Any, ...] = ()

    def __init__(self, target: str) -> None:
        self.target = target

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        return Sent(remote_id=None)

    async def aclose(self) -> None:
        return None


def test_the_time_from_an_event_to_its_first_warning_is_measured_from_the_stored_event(tmp_path):
    # A new warning about a quake of 90 s ago, an update about it, and a warning stored without
    # its event: only the first is the event's first warning with a time to measure from.
    conn = connect(tmp_path / "o.db")
    box = Outbox(conn)
    now = datetime.now(UTC)
    first = warning(1, "aceh", now)
    with conn.transaction():
        box.enqueue(first, ["account:aceh"], now, event=quake(now - timedelta(seconds=90)))
        box.enqueue(replace(warning(2, "aceh", now), kind=WarningKind.UPDATE), ["account:aceh"], now, event=quake(now))
        box.enqueue(warning(3, "aceh", now), ["account:aceh"], now)
    metrics = Metrics()
    sender = Taken("account:aceh")
    d = Dispatcher(conn, SystemClock(), lambda: {"account:aceh": sender}, DispatchSettings, metrics=metrics)
    assert asyncio.run(d.drain(timeout=10))
    count = metrics.registry.get_sample_value("warnd_event_to_post_seconds_count", {"channel": "file"})
    total = metrics.registry.get_sample_value("warnd_event_to_post_seconds_sum", {"channel": "file"})
    assert count == 1 and total is not None and 90 <= total < 120


def test_a_thread_is_split_once_per_attempt_for_both_its_budget_and_its_posts(tmp_path, monkeypatch):
    """The dispatcher costs a delivery against the rate budgets and then sends it: the X channel
    splits the text into its thread once for both."""
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users={"tok-aceh": ("sec-aceh", "aceh")})
    fake.start()
    splits: list[str] = []
    split = x_channel.split

    def counted(text: str, *args: Any, **kwargs: Any) -> list[str]:
        splits.append(text)
        return split(text, *args, **kwargs)

    monkeypatch.setattr(x_channel, "split", counted)
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        body = "\n".join(f"WASPADA {i}: Kabupaten Contoh Nomor {i} bagian utara dan pulau-pulaunya" for i in range(12))
        ws = [
            replace(warning(i, "aceh", now), text=f"Gempa M7.{i} Flores.\n{body}", thread_label=f"PD-{i}")
            for i in range(3)
        ]
        box = Outbox(conn)
        with conn.transaction():
            for w in ws:
                box.enqueue(w, ["account:aceh"], now)

        def senders() -> dict[str, Any]:
            return {"account:aceh": x_sender(fake, "aceh", (90, 900.0), (9000, 86400.0))}

        async def run() -> bool:
            return await drain(
                conn, senders, DispatchSettings(give_up_after=600, retry_min=0.05, retry_max=0.2), timeout=30
            )

        assert asyncio.run(run())
        sent = box.listing(["sent"])
        assert len(sent) == 3
        assert [d.attempts for d in sent] == [1, 1, 1]
        # Each delivery was costed and sent on one split (not one for the cost, one for the send).
        assert sorted(splits) == sorted(w.text for w in ws)
        threads = [split(w.text, label=w.thread_label) for w in ws]
        assert all(len(t) > 1 for t in threads)
        assert len(fake.posts_by("aceh")) == sum(len(t) for t in threads)
    finally:
        fake.stop()


def requests_of(fake: FakeX, status: int) -> int:
    return sum(1 for _, s, _ in list(fake.state.requests) if s == status)


def budget_used(conn: Any, bucket: str) -> int:
    return int(conn.execute("SELECT count(*) FROM rate_log WHERE bucket = ?", (bucket,)).fetchone()[0])


async def through_outage(conn: Any, fake: FakeX, made: dict[str, Any], policy: DispatchSettings, failures: int) -> bool:
    """A dispatcher draining the outbox while X answers 503, until X has refused `failures`
    requests; then X is back and the drain goes on."""
    d = Dispatcher(conn, SystemClock(), lambda: made, lambda: policy)
    task = asyncio.create_task(d.drain(timeout=60))
    while requests_of(fake, 503) < failures and not task.done():
        await asyncio.sleep(0.01)
    fake.down = None
    done = await task
    for s in made.values():
        await s.aclose()
    return done


def test_requests_x_never_processed_give_their_post_back_to_the_budget(tmp_path):
    """An outage's retries (503s) must not spend the posts its backlog needs: with a budget of
    exactly the backlog, 30 refused attempts would leave the backlog waiting out the window
    (15 minutes). A request X may have taken (its answer lost) keeps its count."""
    users = {f"tok-{a}": (f"sec-{a}", a) for a in ("aceh", "ntb")}
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=users)
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        box = Outbox(conn)
        with conn.transaction():
            for i in range(6):
                box.enqueue(warning(i, "aceh", now), ["account:aceh"], now)
            for i in range(3):
                box.enqueue(warning(i, "ntb", now), ["account:ntb"], now)
        fake.down = "503-html"
        # ntb's first request once X is back posts, and its answer is lost.
        fake.script("drop-after", user="ntb")
        made = {
            "account:aceh": x_sender(fake, "aceh", (6, 900.0), (1000, 86400.0)),
            "account:ntb": x_sender(fake, "ntb", (4, 900.0), (1000, 86400.0)),
        }
        policy = DispatchSettings(give_up_after=600, retry_min=0.01, retry_max=0.05, probe_every=0.05)

        with structlog.testing.capture_logs() as logs:
            assert asyncio.run(through_outage(conn, fake, made, policy, failures=30)), box.counts()
        assert len(fake.posts_by("aceh")) == 6 and len(fake.posts_by("ntb")) == 3
        # What the budgets hold is what reached X: aceh's posts; ntb's posts and the request
        # whose answer was lost (X had taken it: the re-send was refused as a duplicate).
        assert budget_used(conn, "x:aceh") == 6
        assert budget_used(conn, "x:ntb") == 4 and fake.state.duplicates == 1
        assert budget_used(conn, "x-app") == 10
        assert any(e["event"] == "budget.given_back" and e["target"] == "account:aceh" for e in logs)
    finally:
        fake.stop()


def test_a_request_that_never_connected_spends_nothing(tmp_path, refused_port):
    dead_port = refused_port
    conn = connect(tmp_path / "w.db")
    now = datetime.now(UTC)
    with conn.transaction():
        for i in range(3):
            Outbox(conn).enqueue(warning(i, "aceh", now), ["account:aceh"], now)

    def senders() -> dict[str, Any]:
        # Nothing listens there: every connection is refused.
        return {"account:aceh": x_sender(f"http://127.0.0.1:{dead_port}", "aceh", (90, 900.0), (9000, 86400.0))}

    async def run() -> bool:
        return await drain(conn, senders, DispatchSettings(give_up_after=1.5, retry_min=0.05, retry_max=0.2), 30)

    assert asyncio.run(run())
    dead = Outbox(conn).listing(["dead"])
    assert len(dead) == 3 and any("unreachable" in (d.last_error or "") for d in dead)
    assert budget_used(conn, "x:aceh") == budget_used(conn, "x-app") == 0


def test_a_backlog_goes_as_soon_as_x_answers_again_not_at_the_end_of_its_backoff(tmp_path):
    """After an hour's backoff per lane (retry_min = retry_max = 1 h), X coming back is noticed
    by a probe (one waiting delivery tried every probe_every, for all the accounts together) and
    every account's backlog goes at once, most urgent first."""
    accounts = ["aceh", "ntb", "jabar"]
    users = {f"tok-{a}": (f"sec-{a}", a) for a in accounts}
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=users)
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        box = Outbox(conn)
        issued: dict[str, list[Warning]] = {a: [] for a in accounts}
        with conn.transaction():
            for i in range(8):
                for a in accounts:
                    w = warning(i, a, now + timedelta(microseconds=i))
                    box.enqueue(w, [f"account:{a}"], now, event=quake(now))
                    issued[a].append(w)
        fake.down = "503-html"
        made = {f"account:{a}": x_sender(fake, a, (90, 900.0), (9000, 86400.0)) for a in accounts}
        policy = DispatchSettings(give_up_after=7200, retry_min=3600, retry_max=3600, probe_every=0.2)

        with structlog.testing.capture_logs() as logs:
            # Each lane's head failed once (then waits an hour), and a few probes failed too.
            assert asyncio.run(through_outage(conn, fake, made, policy, failures=len(accounts) + 3)), box.counts()
        for a, ws in issued.items():
            posted = [p.text for p in fake.posts_by(a)]
            assert posted == [w.text for w in sorted(ws, key=lambda w: (urgency_rank(w, "earthquake"), w.id))], a
        down = [e for e in logs if e["event"] == "channel.down"]
        back = [e for e in logs if e["event"] == "channel.back"]
        assert len(down) == len(back) == 1 and down[0]["platform"] == back[0]["platform"] == "x-app"
        # The probe that got through posted its own lane's head; the other lanes were released.
        assert back[0]["lanes_released"] >= len(accounts) - 1
    finally:
        fake.stop()


def test_a_lane_found_in_a_long_backoff_after_a_restart_probes_at_once(tmp_path):
    """A node that starts (or takes a lane over) with the lane's head waiting out an hour's
    backoff after a server error does not wait the hour if X answers."""
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users={"tok-aceh": ("sec-aceh", "aceh")})
    fake.start()
    try:
        conn = connect(tmp_path / "w.db")
        now = datetime.now(UTC)
        box = Outbox(conn)
        with conn.transaction():
            for i in range(3):
                box.enqueue(warning(i, "aceh", now), ["account:aceh"], now)
        head = box.head("account:aceh")
        assert head is not None
        box.mark_retry(head.id, "server_error", "X server error (503)", now + timedelta(hours=1), now)

        def senders() -> dict[str, Any]:
            return {"account:aceh": x_sender(fake, "aceh", (90, 900.0), (9000, 86400.0))}

        policy = DispatchSettings(give_up_after=7200, retry_min=3600, retry_max=3600)
        assert asyncio.run(drain(conn, senders, policy, timeout=30)), box.counts()
        assert len(fake.posts_by("aceh")) == 3
    finally:
        fake.stop()
