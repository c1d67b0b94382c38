from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import sample
from warnd.model import ChangeKind, Priority, Source, Status, Warning, WarningKind
from warnd.pollers import bmkg
from warnd.store.db import connect, transaction
from warnd.store.ledger import Ledger
from warnd.store.outbox import Outbox

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def flores():
    return bmkg.parse(
        sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("terkini", NOW)
    ).events


def test_new_unchanged_updated_and_no_flip_back(tmp_path):
    conn = connect(tmp_path / "w.db")
    ledger = Ledger(conn)
    ev = next(e for e in flores() if e.magnitude == 7.4)
    with transaction(conn):
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
    with transaction(conn):
        change = ledger.observe(revised, NOW)
    assert change.kind is ChangeKind.UPDATED
    assert change.event.id == ev.id
    assert change.previous is not None and change.previous.magnitude == 7.4
    # A stale copy of the earlier revision is not news: no flip back to M7.4.
    with transaction(conn):
        assert ledger.observe(ev, NOW).kind is ChangeKind.UNCHANGED
    assert ledger.count() == 1
    conn.close()
    # After a restart the ledger remembers.
    conn = connect(tmp_path / "w.db")
    with transaction(conn):
        assert Ledger(conn).observe(revised, NOW).kind is ChangeKind.UNCHANGED


def test_distinct_quakes_are_distinct(tmp_path):
    conn = connect(tmp_path / "w.db")
    ledger = Ledger(conn)
    with transaction(conn):
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


def test_outbox_is_idempotent_and_life_safety_first(tmp_path):
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    with transaction(conn):
        assert box.enqueue(_warning(), ["account:a"], NOW)
        assert not box.enqueue(_warning(), ["account:a"], NOW)
        assert box.enqueue(_warning(wid="w2", priority=Priority.LIFE_SAFETY), ["account:a"], NOW + timedelta(seconds=5))
    due = box.due(NOW + timedelta(seconds=10))
    assert [d.warning.id for d in due] == ["w2", "w1"]
    with transaction(conn):
        box.mark_retry(due[0].id, "boom", NOW + timedelta(minutes=1))
        box.mark_sent(due[1].id, None, NOW)
    assert [d.warning.id for d in box.due(NOW + timedelta(seconds=10))] == []
    assert [d.warning.id for d in box.due(NOW + timedelta(minutes=2))] == ["w2"]
    assert box.counts() == {"pending": 1, "sent": 1, "dead": 0}
    assert box.first_warning("e1", "a").id == "w1"


def test_a_failed_transaction_leaves_neither_event_nor_warning(tmp_path):
    conn = connect(tmp_path / "w.db")
    ev = flores()[0]
    try:
        with transaction(conn):
            Ledger(conn).observe(ev, NOW)
            Outbox(conn).enqueue(_warning(event_id=ev.id), ["account:a"], NOW)
            raise RuntimeError("crash between ledger and outbox")
    except RuntimeError:
        pass
    assert Ledger(conn).count() == 0
    assert Outbox(conn).counts()["pending"] == 0
