from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import sample
from warnd.model import ChangeKind, Priority, Source, Status, Warning, WarningKind
from warnd.pollers import bmkg
from warnd.store.issued import IssuedWarnings
from warnd.store.ledger import Ledger
from warnd.store.outbox import Outbox

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def flores():
    return bmkg.parse(
        sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("terkini", NOW)
    ).events


def test_new_unchanged_updated_and_no_flip_back(store):
    conn = store.open()
    ledger = Ledger(conn)
    ev = next(e for e in flores() if e.magnitude == 7.4)
    with conn.transaction():
        assert ledger.observe(ev, NOW).kind is ChangeKind.NEW
        assert ledger.observe(ev, NOW).kind is ChangeKind.UNCHANGED
    # The same quake from another endpoint, a second off and slightly moved, revised: one event.
    revised = replace(
        ev,
        id="bmkg-eq-20211214T032022Z",
        feed="autogempa",
        time=ev.time - timedelta(seconds=1),
        lat=ev.lat + 0.05,
        magnitude=7.5,
    )
    with conn.transaction():
        change = ledger.observe(revised, NOW)
    assert change.kind is ChangeKind.UPDATED
    assert change.event.id == ev.id
    assert change.previous is not None and change.previous.magnitude == 7.4
    # A stale copy of the earlier revision is not news: no flip back to M7.4.
    with conn.transaction():
        assert ledger.observe(ev, NOW).kind is ChangeKind.UNCHANGED
    assert ledger.count() == 1
    conn.close()
    # After a restart the ledger remembers.
    conn = store.open()
    with conn.transaction():
        assert Ledger(conn).observe(revised, NOW).kind is ChangeKind.UNCHANGED


def test_distinct_quakes_are_distinct(store):
    conn = store.open()
    ledger = Ledger(conn)
    with conn.transaction():
        kinds = [ledger.observe(e, NOW).kind for e in flores()]
    assert kinds.count(ChangeKind.NEW) == len(flores())


def _warning(event_id="e1", account="a", kind=WarningKind.NEW, priority=Priority.NORMAL, wid="w1"):
    return Warning(
        id=wid,
        event_id=event_id,
        revision="r",
        rule="r1",
        account=account,
        kind=kind,
        severity=None,
        priority=priority,
        regions=(),
        lang="id",
        text="t",
        status=Status.ACTUAL,
        created_at=NOW,
    )


def test_outbox_is_idempotent_and_life_safety_first(store):
    conn = store.open()
    box = Outbox(conn)
    with conn.transaction():
        assert box.enqueue(_warning(), ["account:a"], NOW)
        assert not box.enqueue(_warning(), ["account:a"], NOW)
        assert box.enqueue(_warning(wid="w2", priority=Priority.LIFE_SAFETY), ["account:a"], NOW + timedelta(seconds=5))
    # The later life-safety warning heads the lane.
    head = box.head("account:a")
    assert head.warning.id == "w2"
    box.begin(head.id, NOW)
    # In flight is not queued: the lane's next is the older one.
    assert box.head("account:a").warning.id == "w1"
    box.mark_retry(head.id, "server_error", "boom", NOW + timedelta(minutes=1), NOW)
    assert box.head("account:a").warning.id == "w2"  # waiting, still first in line
    box.mark_sent(box.get(head.id).id, "x1", NOW)
    w1 = box.head("account:a")
    box.mark_sent(w1.id, None, NOW)
    assert box.head("account:a") is None
    assert box.counts() == {"pending": 0, "in_flight": 0, "retry": 0, "sent": 2, "dead": 0, "dropped": 0}
    assert IssuedWarnings(conn).first_warning("e1", "a").id == "w1"


def test_in_flight_at_a_crash_is_retried_with_its_idempotency_key(store):
    conn = store.open()
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(_warning(), ["partner:p", "account:a"], NOW)
    d = box.head("partner:p")
    box.begin(d.id, NOW)
    conn.close()
    conn = store.open()
    box = Outbox(conn)
    (recovered,) = box.recover(NOW + timedelta(seconds=3))
    again = box.head("partner:p")
    assert again.id == recovered.id == d.id
    assert again.state.value == "retry" and again.reason == "network" and "outcome unknown" in again.last_error
    assert again.idempotency_key == d.idempotency_key
    assert again.idempotency_key != box.head("account:a").idempotency_key


def test_the_thread_part_an_attempt_left_unanswered_is_recorded_also_across_a_crash(store):
    conn = store.open()
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(_warning(), ["account:a"], NOW)
    d = box.head("account:a")
    assert d.unanswered is None
    box.begin(d.id, NOW)
    box.record_part(d.id, "101")
    conn.close()  # killed during part 2's request
    conn = store.open()
    box = Outbox(conn)
    box.recover(NOW)
    again = box.head("account:a")
    assert again.parts == ("101",) and again.unanswered == 2
    # X had it: refused as a repeat, it counts as posted with no id; nothing is left unanswered.
    box.begin(d.id, NOW)
    box.record_part(d.id, None)
    box.record_unanswered(d.id, 3)  # part 3 timed out
    box.mark_retry(d.id, "network", "timeout", NOW, NOW)
    again = box.head("account:a")
    assert again.parts == ("101", None) and again.unanswered == 3
    assert box.anchor("e1", "a", "account:a").remote_id == "101"


def test_a_failed_transaction_leaves_neither_event_nor_warning(store):
    conn = store.open()
    ev = flores()[0]
    try:
        with conn.transaction():
            Ledger(conn).observe(ev, NOW)
            Outbox(conn).enqueue(_warning(event_id=ev.id), ["account:a"], NOW)
            raise RuntimeError("crash between ledger and outbox")
    except RuntimeError:
        pass
    assert Ledger(conn).count() == 0
    assert Outbox(conn).counts()["pending"] == 0


def test_received_counts_queued_and_sent_but_not_dead_or_dropped(store):
    conn = store.open()
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(_warning(wid="w1", account="a"), ["account:a", "partner:p"], NOW)
        box.enqueue(_warning(wid="w2", account="b"), ["account:b"], NOW)
    assert IssuedWarnings(conn).received("e1", "a", "account:a")
    assert not IssuedWarnings(conn).received("e1", "c", "account:c")
    assert not IssuedWarnings(conn).received("e2", "a", "account:a")
    a = box.head("account:a")
    box.begin(a.id, NOW)
    assert IssuedWarnings(conn).received("e1", "a", "account:a")
    box.mark_sent(a.id, "x1", NOW)
    assert IssuedWarnings(conn).received("e1", "a", "account:a")
    b = box.head("account:b")
    box.mark_dead(b.id, "permanent_failure", "403", NOW, attempted=True)
    assert not IssuedWarnings(conn).received("e1", "b", "account:b")
    box.retry_now([b.id], NOW)
    assert IssuedWarnings(conn).received("e1", "b", "account:b")
    box.drop([b.id], "operator", NOW)
    assert not IssuedWarnings(conn).received("e1", "b", "account:b")
    # A partner's copy is not the account's post.
    assert not IssuedWarnings(conn).received("e1", "a", "partner:q")


def test_a_drop_of_the_dead_only_leaves_a_waiting_delivery_alone(store):
    """What a life-safety warning's drop asks: the UPDATE alone decides, so a delivery sent
    again meanwhile (another node, the CLI) is not dropped by a look that saw it dead."""
    conn = store.open()
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(_warning(priority=Priority.LIFE_SAFETY), ["account:a", "account:b"], NOW)
    a, b = box.head("account:a"), box.head("account:b")
    box.mark_dead(b.id, "permanent_failure", "403", NOW, attempted=True)
    assert box.drop([a.id], "operator", NOW, dead_only=True) == 0
    assert box.get(a.id).state.value == "pending"
    box.mark_retry(a.id, "server_error", "boom", NOW + timedelta(minutes=1), NOW)
    assert box.drop([a.id], "operator", NOW, dead_only=True) == 0
    assert box.get(a.id).state.value == "retry"
    assert box.drop([b.id], "operator", NOW, dead_only=True) == 1
    assert box.get(b.id).state.value == "dropped"
    # Without it, a waiting one is dropped as before.
    assert box.drop([a.id], "operator", NOW) == 1
