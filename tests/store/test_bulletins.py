"""Operators' bulletins in the store, on both backends: written and read back whole, listed
newest first, approved once and only by another operator under the two-person rule, rejected,
withdrawn with their series, and the warnings each one issued."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from warnd.errors import OperatorError
from warnd.model import Bulletin, BulletinKind, BulletinState, Hazard, Priority, Region, Status, Warning, WarningKind
from warnd.store.bulletins import Bulletins
from warnd.store.outbox import Outbox

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _bulletin(bid: str, *, series: str | None = None, kind: BulletinKind = BulletinKind.NEW, at: int = 0) -> Bulletin:
    return Bulletin(
        id=bid,
        series=series or bid,
        kind=kind,
        state=BulletinState.PENDING,
        author="ani",
        hazard=Hazard.TSUNAMI,
        level="awas",
        status=Status.EXERCISE,
        accounts=("ntt",),
        regions=("53.10", "53.09"),
        headline="Latihan tsunami",
        text_id="Teks — dengan huruf “khusus” ü",
        text_en=None,
        # The clock may go back between two writes: the listing keeps the order written.
        created_at=T0 - timedelta(minutes=at),
    )


def test_a_bulletin_comes_back_whole_and_the_listing_is_newest_first(store):
    conn = store.open()
    bs = Bulletins(conn)
    with conn.transaction():
        bs.write(_bulletin("b-1"))
        bs.write(_bulletin("b-2", at=5))
        bs.write(_bulletin("b-3", series="b-1", kind=BulletinKind.CORRECTION, at=10))
    assert bs.get("b-1") == _bulletin("b-1")
    assert bs.get("b-nope") is None
    assert [b.id for b in bs.listing()] == ["b-3", "b-2", "b-1"]
    assert [b.id for b in bs.listing(limit=1)] == ["b-3"]
    assert [b.id for b in bs.series("b-1")] == ["b-1", "b-3"]
    assert bs.by_ids(["b-2", "b-x"]) == {"b-2": _bulletin("b-2", at=5)}
    conn.close()


def test_approval_is_once_and_by_another_operator_under_the_two_person_rule(store):
    conn = store.open()
    bs = Bulletins(conn)
    bs.write(_bulletin("b-1"))
    with pytest.raises(OperatorError) as own:
        bs.approve("b-1", "ani", T0, two_person=True)
    assert own.value.status == 403 and "approver" in own.value.message
    assert bs.get("b-1").state is BulletinState.PENDING  # type: ignore[union-attr]
    with pytest.raises(OperatorError) as gone:
        bs.approve("b-9", "budi", T0, two_person=True)
    assert gone.value.status == 404 and "b-9" in gone.value.message

    approved = bs.approve("b-1", "budi", T0, two_person=True)
    assert (approved.state, approved.approver, approved.approved_at) == (BulletinState.APPROVED, "budi", T0)
    assert bs.get("b-1") == approved
    # A second decision is refused, whoever makes it.
    for decide in (lambda: bs.approve("b-1", "citra", T0, two_person=True), lambda: bs.reject("b-1", "citra", "no")):
        with pytest.raises(OperatorError) as late:
            decide()
        assert late.value.status == 409 and "approved (by budi)" in late.value.message

    # Without the rule, the author's own approval is enough.
    bs.write(_bulletin("b-2"))
    assert bs.approve("b-2", "ani", T0, two_person=False).approver == "ani"
    conn.close()


def test_a_rejection_is_recorded_and_pending_bulletins_of_a_series_are_withdrawn(store):
    conn = store.open()
    bs = Bulletins(conn)
    with conn.transaction():
        bs.write(_bulletin("b-1"))
        bs.write(_bulletin("b-2", series="b-1", kind=BulletinKind.CORRECTION))
        bs.write(_bulletin("b-3", series="b-1", kind=BulletinKind.CORRECTION))
    rejected = bs.reject("b-2", "budi", "angka salah")
    assert bs.get("b-2") == rejected and (rejected.rejected_by, rejected.rejected_why) == ("budi", "angka salah")
    with conn.transaction():
        withdrawn = bs.withdraw_pending("b-1")
    assert [b.id for b in withdrawn] == ["b-1", "b-3"]
    assert [b.state for b in bs.series("b-1")] == [
        BulletinState.WITHDRAWN,
        BulletinState.REJECTED,
        BulletinState.WITHDRAWN,
    ]
    conn.close()


def test_a_rolled_back_approval_leaves_the_bulletin_pending(store):
    conn = store.open()
    bs = Bulletins(conn)
    bs.write(_bulletin("b-1"))
    with pytest.raises(RuntimeError), conn.transaction():
        bs.approve("b-1", "budi", T0, two_person=True)
        raise RuntimeError("the outbox refused")
    assert bs.get("b-1").state is BulletinState.PENDING  # type: ignore[union-attr]
    conn.close()


def test_the_warnings_each_bulletin_issued(store):
    conn = store.open()
    bs = Bulletins(conn)
    box = Outbox(conn)
    w = Warning(
        id="w-1",
        event_id="b-1",
        revision="b-1",
        rule="bulletin",
        account="ntt",
        kind=WarningKind.NEW,
        severity=None,
        priority=Priority.LIFE_SAFETY,
        regions=(Region("53.10", "Kabupaten Nagekeo", "regency"),),
        lang="id",
        text="x",
        status=Status.EXERCISE,
        created_at=T0,
    )
    with conn.transaction():
        box.enqueue(w, ["account:ntt"], T0)
        box.enqueue(replace(w, id="w-2", account="nasional"), ["account:nasional"], T0)
        box.enqueue(replace(w, id="w-3", revision="b-2", kind=WarningKind.UPDATE), ["account:ntt"], T0)
        # An automatic warning of the same event id is not a bulletin's.
        box.enqueue(replace(w, id="w-4", rule="gempa"), ["account:ntt"], T0)
    assert bs.warnings(["b-1"]) == {"b-1": {"ntt": "w-1", "nasional": "w-2"}, "b-2": {"ntt": "w-3"}}
    assert bs.warnings([]) == {}
    conn.close()
