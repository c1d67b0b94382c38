"""State every node must see the same: notices, rate-limit holds, disabled targets, silences,
posting budgets, feed state and the operators' outbox commands, on both store backends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from tests.integration.test_operate_outbox import Recorder, warning
from warnd.clock import FixedClock, SystemClock
from warnd.config.schema import DispatchSettings
from warnd.metrics import Metrics
from warnd.runtime.conditions import Condition
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.notices import NoticeBoard
from warnd.store.feedstate import FeedStates
from warnd.store.issued import IssuedWarnings
from warnd.store.notices import Notices
from warnd.store.outbox import Outbox
from warnd.store.silences import Silences
from warnd.store.targets import RateLog, Targets

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def stale(subject: str) -> Condition:
    return Condition("feed_stale", subject, "degraded", f"{subject} silent", "fresh again")


def test_a_condition_is_raised_once_and_cleared_once_even_across_a_restart(store):
    conn = store.open()
    clock = FixedClock(T0)
    board = NoticeBoard(conn, clock, Metrics(), lambda: ["chat"])
    assert board.reconcile([stale("a")]) == 1
    assert board.reconcile([stale("a")]) == 0  # still true: not repeated
    conn.close()

    conn = store.open()  # a restart: the notice is remembered
    board = NoticeBoard(conn, clock, Metrics(), lambda: ["chat"])
    assert board.reconcile([stale("a"), stale("b")]) == 1
    clock.advance(60)
    assert board.reconcile([stale("b")]) == 1  # a cleared
    assert board.reconcile([]) == 1  # b cleared
    board.reconcile([stale("a")])  # a again: a new occurrence
    bodies = [json.loads(r[0]) for r in conn.execute("SELECT body FROM ops_outbox ORDER BY id")]
    assert [(b["subject"], b["phase"]) for b in bodies] == [
        ("a", "raised"),
        ("b", "raised"),
        ("a", "cleared"),
        ("b", "cleared"),
        ("a", "raised"),
    ]
    assert bodies[2]["message"] == "fresh again" and bodies[2]["since"] == bodies[0]["at"]
    assert bodies[4]["notice_id"] != bodies[0]["notice_id"]
    assert list(Notices(conn).active()) == ["feed_stale:a"]


def test_a_rate_limit_hold_is_respected_after_a_restart(store):
    held = "account:jabar"
    conn = store.open()
    now = datetime.now(UTC)
    with conn.transaction():
        Outbox(conn).enqueue(warning(), ["account:jabar"], now)
    Targets(conn).hold(held, now + timedelta(seconds=1.5), "rate_limited", "X rate limit (429)")
    conn.close()
    conn = store.open()  # "after the restart"
    rec = Recorder()

    async def run(seconds: float) -> None:
        d = Dispatcher(conn, SystemClock(), lambda: {"account:jabar": rec}, DispatchSettings)
        await d.drain(timeout=seconds)

    asyncio.run(run(1.0))
    assert rec.sent == []
    asyncio.run(run(3.0))
    assert rec.sent == ["w-0"]


def test_holds_and_disabled_targets_are_seen_by_another_connection(store):
    a, b = store.open(), store.open()
    now = datetime.now(UTC)
    Targets(a).hold("account:jabar", now + timedelta(minutes=5), "rate_limited", "429")
    Targets(a).hold("account:jabar", now + timedelta(minutes=1), "rate_limited", "shorter: the longer stays")
    Targets(a).disable("partner:radio", now, "auth", "401")
    seen = {t.target: t for t in Targets(b).all()}
    hold = seen["account:jabar"].hold_until
    assert hold is not None and abs((hold - (now + timedelta(minutes=5))).total_seconds()) < 1
    assert seen["account:jabar"].detail == "429"
    assert seen["partner:radio"].disabled_at is not None and seen["partner:radio"].reason == "auth"
    assert Targets(b).enable("partner:radio") and not Targets(b).enable("partner:radio")
    assert Targets(a).get("partner:radio").disabled_at is None


def test_silences_are_shared_and_expire(store):
    a, b = store.open(), store.open()
    until = T0 + timedelta(hours=1)
    sid = Silences(a).add(rule="gempa", account=None, region="32", until=until, reason="drill", now=T0)
    (s,) = Silences(b).active(T0 + timedelta(minutes=1))
    assert (s.id, s.rule, s.region, s.reason) == (sid, "gempa", "32", "drill")
    assert Silences(b).active(T0 + timedelta(hours=2)) == []
    assert Silences(b).expire(sid, T0 + timedelta(minutes=2))
    assert not Silences(a).expire(sid, T0 + timedelta(minutes=3))  # already over
    assert not Silences(a).expire("not-a-number", T0)
    assert Silences(a).active(T0 + timedelta(minutes=4)) == []


def test_posting_budgets_count_every_connection(store):
    a, b = store.open(), store.open()
    now = datetime.now(UTC)
    RateLog(a).add(["x:user:jabar"], now - timedelta(seconds=30), 2)
    RateLog(b).add(["x:user:jabar"], now - timedelta(seconds=10), 1)
    # 3 used of 3 in the last minute: the next fits when the oldest ages out.
    wait = RateLog(a).wait_until("x:user:jabar", 3, 60.0, 1, now)
    assert wait is not None and abs((wait - (now + timedelta(seconds=30))).total_seconds()) < 0.01
    assert RateLog(b).wait_until("x:user:jabar", 4, 60.0, 1, now) is None
    RateLog(a).prune(now + timedelta(days=2))
    assert RateLog(b).wait_until("x:user:jabar", 1, 60.0, 1, now) is None


def test_a_budget_gets_back_the_requests_an_attempt_never_made(store):
    a, b = store.open(), store.open()
    now = datetime.now(UTC)
    log = RateLog(a)
    log.add(["x:jabar", "x-app"], now - timedelta(seconds=5), 1)
    log.add(["x:jabar", "x-app"], now, 3)  # a thread of 3 counted before it went out
    log.give_back(["x:jabar", "x-app"], now, 2)  # its first part went out, then X stopped answering
    for bucket in ("x:jabar", "x-app"):
        # 2 used of 3: one more fits now, two more only when the oldest ages out.
        assert RateLog(b).wait_until(bucket, 3, 60.0, 1, now) is None
        assert RateLog(b).wait_until(bucket, 3, 60.0, 2, now) is not None
    # More back than were counted at that time leaves none, and the earlier request alone.
    log.give_back(["x:jabar"], now, 5)
    assert RateLog(b).wait_until("x:jabar", 2, 60.0, 1, now) is None
    assert RateLog(b).wait_until("x:jabar", 1, 60.0, 1, now) is not None
    log.give_back(["x:elsewhere"], now, 1)  # nothing counted there: nothing happens


def test_deliveries_that_failed_in_an_outage_are_released_when_their_platform_answers(store):
    conn = store.open()
    box = Outbox(conn)
    now = datetime.now(UTC)
    with conn.transaction():
        for i in range(4):
            box.enqueue(warning(i), ["account:jabar", "partner:radio"], now)
    rows = {(d.target, d.warning.id): d.id for d in box.listing(["pending"])}
    later = now + timedelta(minutes=10)
    before = now - timedelta(seconds=30)
    box.mark_retry(rows["account:jabar", "w-0"], "server_error", "503", later, before)  # before the outage
    box.mark_retry(rows["account:jabar", "w-1"], "server_error", "503", later, now)
    box.mark_retry(rows["account:jabar", "w-2"], "rate_limited", "429", later, now)  # X's hold stands
    box.mark_retry(rows["partner:radio", "w-3"], "network", "refused", later, now)  # another platform
    moved = box.retry_early(["account:jabar"], ["server_error", "network"], now, now)
    assert moved == ["account:jabar"]
    due = {d.warning.id: d.next_attempt_at for d in Outbox(store.open()).listing(["retry"])}
    assert due == {"w-0": later, "w-1": now, "w-2": later, "w-3": later}
    assert box.retry_early([], ["server_error"], now, now) == []


def test_feed_state_validators_failures_and_links(store):
    a, b = store.open(), store.open()
    FeedStates(a).ok("auto", T0, etag='"e1"', last_modified=None, body_hash="h1", changed=True)
    assert FeedStates(a).failed("auto", T0, "HTTP 500") == 1
    assert FeedStates(b).failed("auto", T0, "HTTP 500") == 2
    FeedStates(a).ok("auto", T0 + timedelta(seconds=5), etag=None, last_modified=None, body_hash=None, changed=False)
    st = FeedStates(b).get("auto")
    # A poll that found nothing new keeps the body hash and the time of the last change.
    assert (st.failures, st.body_hash, st.last_change) == (0, "h1", "2026-11-24T03:00:00Z")
    FeedStates(a).follow("cap-rss", "https://x/1.xml", T0)
    FeedStates(b).follow("cap-rss", "https://x/1.xml", T0 + timedelta(seconds=1))
    FeedStates(a).follow("cap-rss", "https://x/2.xml", T0)
    FeedStates(b).keep_links("cap-rss", {"https://x/2.xml"})
    assert FeedStates(a).followed("cap-rss") == {"https://x/2.xml"}


def test_operator_outbox_commands_on_the_store(store):
    conn = store.open()
    now = datetime.now(UTC)
    box = Outbox(conn)
    with conn.transaction():
        for i in range(3):
            box.enqueue(warning(i), ["account:jabar", "partner:radio"], now)
    ids = box.ids(["pending"], "partner:radio")
    assert len(ids) == 3
    assert box.drop(ids[:1], "not needed", now) == 1
    assert box.retry_now(ids, now) == 2  # the dropped one stays dropped
    assert box.ids([]) == []
    listing = box.listing(["dropped"])
    assert [d.id for d in listing] == ids[:1] and listing[0].reason == "operator"
    counts = box.counts()
    assert (counts["dropped"], counts["pending"], counts["retry"]) == (1, 3, 2)
    q = box.per_target()
    assert (q["partner:radio"].waiting, q["account:jabar"].waiting) == (2, 3)
    hist = IssuedWarnings(box.conn).history(None, "jabar", 2)
    assert [h["id"] for h in hist] == ["w-2", "w-1"]
    assert {d["target"] for d in hist[0]["deliveries"]} == {"account:jabar", "partner:radio"}
    later = now + timedelta(hours=2)
    assert box.overdue(now + timedelta(minutes=30), 3600, ["partner:radio"]) == []
    assert sorted(d.id for d in box.overdue(later, 3600, ["partner:radio"])) == ids[1:]
    assert len(box.overdue(later, 3600, ["account:jabar"])) == 3
    assert box.overdue(later, 3600, []) == []


def test_an_unmapped_zone_is_one_row_per_name_counted_and_seen_by_every_node(store):
    from warnd.store.zones import ZoneMisses

    a, b = store.open(), store.open()
    with a.transaction():
        ZoneMisses(a).record("NTT", "TELUK KHAYALAN", "ev-1", "tsunami", T0)
    with a.transaction():
        ZoneMisses(a).record("NTT", "TELUK KHAYALAN", "ev-2", "tsunami", T0 + timedelta(minutes=9))
        ZoneMisses(a).record("PAPUABAR", "TELUK KHAYALAN", "ev-2", "tsunami", T0 + timedelta(minutes=9))
    misses = ZoneMisses(b).since(T0)
    assert [(m.text, m.event_id, m.seen) for m in misses] == [
        ("NTT/TELUK KHAYALAN", "ev-2", 2),
        ("PAPUABAR/TELUK KHAYALAN", "ev-2", 1),
    ]
    assert misses[0].first_seen < misses[0].last_seen
    assert ZoneMisses(b).since(T0 + timedelta(minutes=10)) == []
