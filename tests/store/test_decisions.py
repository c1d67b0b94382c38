"""The console's decisions in the store, on both backends: written in the caller's transaction
(a rolled-back document leaves none), read newest first by any connection (another node), with
the node that decided, and only the newest KEEP kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warnd.store import decisions as decisions_mod
from warnd.store.decisions import Decisions

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def step(i: int) -> dict[str, object]:
    return {"event_id": f"e-{i}", "change": "new", "rules": [{"rule": "gempa", "fired": i % 2 == 0}]}


def test_decisions_are_read_newest_first_by_another_node_and_pruned(store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(decisions_mod, "KEEP", 5)
    conn = store.open()
    with conn.transaction():
        Decisions(conn).add("autogempa", [step(0), step(1)], T0, "node-a")
    other = store.open()
    first, second = Decisions(other).latest(10)
    assert (first["event_id"], second["event_id"]) == ("e-1", "e-0")
    assert first["node"] == "node-a" and first["feed"] == "autogempa" and first["at"] == "2026-11-30T03:00:00Z"
    assert first["rules"] == [{"rule": "gempa", "fired": False}]

    # A document rolled back leaves no decision.
    with pytest.raises(RuntimeError), conn.transaction():
        Decisions(conn).add("autogempa", [step(99)], T0, "node-a")
        raise RuntimeError("the document failed")
    assert [d["event_id"] for d in Decisions(other).latest(10)] == ["e-1", "e-0"]

    for i in range(2, 9):
        with conn.transaction():
            Decisions(conn).add("gauges", [step(i)], T0 + timedelta(minutes=i), "node-b")
    assert [d["event_id"] for d in Decisions(other).latest(10)] == ["e-8", "e-7", "e-6", "e-5", "e-4"]
    assert [d["event_id"] for d in Decisions(other).latest(2)] == ["e-8", "e-7"]
    other.close()
    conn.close()


def test_a_storm_of_changes_keeps_only_its_last(store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(decisions_mod, "KEEP", 3)
    conn = store.open()
    with conn.transaction():
        Decisions(conn).add("gauges", [step(i) for i in range(10)], T0, None)
    assert [d["event_id"] for d in Decisions(conn).latest(10)] == ["e-9", "e-8", "e-7"]
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 3
    conn.close()


def test_a_feeds_broken_text_is_kept_escaped_and_never_fails_the_insert(store):
    # A cut emoji (a lone surrogate) from a feed's JSON: neither backend stores it raw, and the
    # insert runs in the transaction of the warnings it must never roll back.
    conn = store.open()
    with conn.transaction():
        Decisions(conn).add("autogempa", [{"event_id": "e-1", "held": [{"detail": "Zona \ud83d"}]}], T0, None)
    (got,) = Decisions(conn).latest(1)
    assert got["held"] == [{"detail": "Zona \ud83d"}]
    conn.close()
