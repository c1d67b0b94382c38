"""WebSub subscriptions in the store, on both backends: a renewal keeps the id and moves the
lease, a pause survives a renewal, each change of state happens once however many connections
(nodes) attempt it, and a subscription's pushes are judged only from when they count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warnd.model import (
    Hazard,
    HazardEvent,
    MsgType,
    Priority,
    Region,
    Status,
    SubscriptionState,
    Target,
    Warning,
    WarningKind,
    iso_utc,
)
from warnd.store.outbox import Outbox
from warnd.store.websub import Subscriptions

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
TOPIC = "https://warnd.example.org/cap/jabar/index.atom"


def test_a_renewal_keeps_the_id_and_moves_the_lease_and_a_pause_outlives_it(store):
    conn = store.open()
    subs = Subscriptions(conn)
    first = subs.verified("a1", "jabar", TOPIC, "https://r.example/cb", "one", 3600, T0)
    assert first.state is SubscriptionState.ACTIVE and first.expires_at == T0 + timedelta(hours=1)
    later = T0 + timedelta(minutes=30)
    renewed = subs.verified("a1", "jabar", TOPIC, "https://r.example/cb", "two", 7200, later)
    assert (renewed.secret, renewed.created_at, renewed.expires_at) == ("two", T0, later + timedelta(hours=2))
    assert subs.pause("a1", later, "why") and not subs.pause("a1", later, "again")
    again = subs.verified("a1", "jabar", TOPIC, "https://r.example/cb", "three", 7200, later)
    assert again.state is SubscriptionState.PAUSED and again.secret == "three"
    assert subs.active_by_account(later) == {}
    assert subs.resume("a1", later) and not subs.resume("a1", later)
    assert subs.active_by_account(later) == {"jabar": ("a1",)}
    assert subs.held() == 1


def test_a_lease_ends_once_whichever_node_sees_it_first(store):
    a, b = store.open(), store.open()
    Subscriptions(a).verified("a1", "jabar", TOPIC, "https://r.example/cb", "s", 60, T0)
    Subscriptions(a).verified("b2", "ntb", TOPIC.replace("jabar", "ntb"), "https://r.example/cb", None, 600, T0)
    at = T0 + timedelta(seconds=60)
    assert Subscriptions(b).active_by_account(at - timedelta(seconds=1)) == {"jabar": ("a1",), "ntb": ("b2",)}
    assert Subscriptions(b).active_by_account(at) == {"ntb": ("b2",)}
    assert [s.id for s in Subscriptions(b).expire(at)] == ["a1"]
    assert Subscriptions(a).expire(at) == []
    expired = Subscriptions(a).get("a1")
    assert expired is not None and expired.state is SubscriptionState.EXPIRED and expired.secret is None
    # Subscribing again starts a new subscription of the same id.
    back = Subscriptions(a).verified("a1", "jabar", TOPIC, "https://r.example/cb", "s2", 60, at)
    assert back.state is SubscriptionState.ACTIVE and back.created_at == at


def _warning(i: int) -> Warning:
    return Warning(
        id=f"w-{i}",
        event_id=f"e-{i}",
        revision="r",
        rule="gempa",
        account="jabar",
        kind=WarningKind.NEW,
        severity="moderate",
        priority=Priority.NORMAL,
        regions=(Region("32", "Jawa Barat", "province"),),
        lang="id",
        text=f"Gempa {i}",
        status=Status.ACTUAL,
        created_at=T0,
    )


def test_pushes_are_judged_from_when_they_count(store):
    conn = store.open()
    subs = Subscriptions(conn)
    box = Outbox(conn)
    sub = subs.verified("a1", "jabar", TOPIC, "https://r.example/cb", "s", 86400, T0)
    target = Target.websub("a1")
    event = HazardEvent("e", "gempa", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, T0)
    for i in range(4):
        box.enqueue(_warning(i), [target], T0 + timedelta(seconds=i), event=event)
    ids = box.ids(["pending"], target)
    box.mark_sent(ids[0], None, T0 + timedelta(seconds=10))
    box.mark_dead(ids[1], "bad_request", "HTTP 400", T0 + timedelta(seconds=11), attempted=True)
    box.mark_dead(ids[2], "bad_request", "HTTP 400", T0 + timedelta(seconds=12), attempted=True)
    box.mark_retry(ids[3], "server_error", "HTTP 503", T0 + timedelta(hours=1), T0 + timedelta(seconds=13))
    record = subs.pushes(sub, 10)
    assert record.dead_in_row == 2 and record.failing_since == T0 + timedelta(seconds=3)
    assert subs.failing() == {"a1"}
    # After a resume, only what finished later counts.
    conn.execute(
        "UPDATE websub_subscriptions SET resumed_at = ? WHERE id = 'a1'", (iso_utc(T0 + timedelta(minutes=5)),)
    )
    resumed = subs.get("a1")
    assert resumed is not None
    record = subs.pushes(resumed, 10)
    assert record.dead_in_row == 0 and record.failing_since == T0 + timedelta(minutes=5)
    assert subs.drop_queued("a1", "removed by an operator", T0) == 1
    assert subs.remove("a1") and not subs.remove("a1")
    assert subs.get("a1").secret is None  # type: ignore[union-attr]
