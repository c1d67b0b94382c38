"""Leases, lanes and delivery claims between nodes, on both store backends (on SQLite they
serve the one node; the same statements must hold)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from tests.integration.test_operate_outbox import warning
from warnd.model import DeliveryState
from warnd.store.cluster import Cluster, Node
from warnd.store.outbox import Outbox

LEASE = 0.6


def node(name: str, incarnation: str = "i1") -> Node:
    return Node(name, "host", 1, "0", None, "standby", 0.0, 0.0, incarnation)


def queue(conn, n: int = 3) -> list[int]:
    now = datetime.now(UTC)
    box = Outbox(conn)
    with conn.transaction():
        for i in range(n):
            box.enqueue(warning(i), ["partner:radio"], now)
    return box.ids(["pending"])


def test_one_leader_at_a_time_and_a_new_epoch_at_each_takeover(store):
    a, b = Cluster(store.open()), Cluster(store.open())
    assert a.acquire("a", LEASE) == 1
    assert b.acquire("b", LEASE) is None
    assert a.acquire("a", LEASE) == 1  # renewal keeps the epoch
    assert a.fence("a", 1) and not b.fence("b", 1)
    time.sleep(LEASE + 0.2)
    assert not a.fence("a", 1)  # expired: a may no longer commit as leader
    assert b.acquire("b", LEASE) == 2
    assert a.acquire("a", LEASE) is None
    lease = a.leader()
    assert lease is not None and (lease.holder, lease.epoch) == ("b", 2)
    b.release("b")
    assert a.acquire("a", LEASE) == 3  # released: no wait for the expiry


def test_a_lapsed_leader_renewing_gets_a_new_epoch(store):
    a = Cluster(store.open())
    assert a.acquire("a", LEASE) == 1
    time.sleep(LEASE + 0.2)
    # Nobody took over, but the lease lapsed: what a did under epoch 1 is not fenced by 2.
    assert a.acquire("a", LEASE) == 2


def test_an_ingest_under_way_holds_off_the_takeover(pg_store):
    # PostgreSQL only: SQLite has one writer at a time, so there is no concurrent takeover.
    a_conn, b = pg_store.open(), Cluster(pg_store.open())
    a = Cluster(a_conn)
    assert a.acquire("a", LEASE) == 1
    took: list[int | None] = []
    with a_conn.transaction():
        assert a.fence("a", 1)
        time.sleep(LEASE + 0.2)  # the lease runs out while the transaction is open
        t = threading.Thread(target=lambda: took.append(b.acquire("b", LEASE)))
        t.start()
        time.sleep(0.5)
        assert took == []  # b waits for a's commit
    t.join(5)
    assert took == [2]


def test_a_delivery_is_claimed_by_one_node_only(store):
    a, b = store.open(), store.open()
    ids = queue(a)
    box_a, box_b = Outbox(a, "a", LEASE), Outbox(b, "b", LEASE)
    assert box_a.begin_many(ids[:2], datetime.now(UTC)) == set(ids[:2])
    assert box_b.begin_many(ids, datetime.now(UTC)) == {ids[2]}
    rows = {r[0]: r[1] for r in a.execute("SELECT id, claimed_by FROM deliveries")}
    assert rows == {ids[0]: "a", ids[1]: "a", ids[2]: "b"}


def test_claims_of_a_silent_node_come_back_and_a_live_node_keeps_its_own(store):
    a, b = store.open(), store.open()
    ids = queue(a)
    box_a, box_b = Outbox(a, "a", LEASE), Outbox(b, "b", LEASE)
    box_a.begin_many(ids[:1], datetime.now(UTC))
    box_b.begin_many(ids[1:2], datetime.now(UTC))
    assert box_b.recover_expired(datetime.now(UTC)) == []
    time.sleep(LEASE / 2)
    Cluster(b).renew("b", LEASE)  # b is alive; a says nothing
    time.sleep(LEASE / 2 + 0.2)
    back = box_b.recover_expired(datetime.now(UTC))
    assert [d.id for d in back] == ids[:1]
    assert box_b.get(ids[0]).state is DeliveryState.RETRY
    assert box_b.get(ids[1]).state is DeliveryState.IN_FLIGHT


def test_a_restarted_node_takes_back_only_its_own_attempts(store):
    a, b = store.open(), store.open()
    ids = queue(a)
    Outbox(a, "a", 60).begin_many(ids[:1], datetime.now(UTC))
    Outbox(b, "b", 60).begin_many(ids[1:2], datetime.now(UTC))
    again = Outbox(store.open(), "a", 60)  # node a, restarted
    assert [d.id for d in again.recover(datetime.now(UTC))] == ids[:1]
    assert again.get(ids[1]).state is DeliveryState.IN_FLIGHT


def test_a_post_recorded_late_is_not_repeated(store):
    a, b = store.open(), store.open()
    ids = queue(a, 2)
    box_a, box_b = Outbox(a, "a", LEASE), Outbox(b, "b", LEASE)
    box_a.begin_many(ids, datetime.now(UTC))
    time.sleep(LEASE + 0.2)
    box_b.recover_expired(datetime.now(UTC))  # a went silent; b takes the attempts back
    box_b.begin_many(ids[1:], datetime.now(UTC))  # and is already trying the second again
    box_a.sent_late([(i, f"r{i}", datetime.now(UTC), None) for i in ids])
    assert box_b.get(ids[0]).state is DeliveryState.SENT  # not yet repeated: no repeat needed
    assert box_b.get(ids[1]).state is DeliveryState.IN_FLIGHT  # b's attempt is b's to record


def test_a_lane_is_worked_by_one_node_until_its_lease_runs_out(store):
    a, b = Cluster(store.open()), Cluster(store.open())
    assert a.claim_lane("account:jabar", "a", LEASE)
    assert a.claim_lane("account:jabar", "a", LEASE)
    assert not b.claim_lane("account:jabar", "b", LEASE)
    assert b.claim_lane("partner:radio", "b", LEASE)
    time.sleep(LEASE / 2)
    a.renew("a", LEASE)
    b.renew("b", LEASE)
    time.sleep(LEASE / 2 + 0.1)
    assert not b.claim_lane("account:jabar", "b", LEASE)  # renewed
    assert b.lanes() == {"account:jabar": "a", "partner:radio": "b"}
    time.sleep(LEASE + 0.1)
    assert b.claim_lane("account:jabar", "b", LEASE)
    a.release_all("a")  # a stops: what is b's stays b's (partner:radio ran out unrenewed)
    assert b.lanes() == {"account:jabar": "b"}


def test_nodes_register_beat_and_a_second_process_of_a_name_displaces_the_first(store):
    a, b = Cluster(store.open()), Cluster(store.open())
    a.register(node("n1", "first"))
    b.register(node("n2"))
    assert a.heartbeat("n1", "first", "leader", "127.0.0.1:1")
    b.register(node("n1", "second"))  # the same name started again elsewhere
    assert not a.heartbeat("n1", "first", "leader", None)
    seen = {n.name: n for n in b.nodes()}
    assert set(seen) == {"n1", "n2"} and seen["n1"].incarnation == "second"
    assert seen["n1"].heartbeat_at <= b.now()
    b.forget_nodes(3600)
    assert len(b.nodes()) == 2
    b.forget_nodes(-1)  # everything is older than a second into the future
    assert b.nodes() == []
