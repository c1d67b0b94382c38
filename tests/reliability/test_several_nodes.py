"""Several nodes on one PostgreSQL (the machine's server at 127.0.0.1:5432, a schema and roles
of each test's own): kill -9 the leader mid-burst with 3 nodes (2 in the campaign runner), and cut a node off
its database. Every warning exactly once at the receivers; takeover within the bound."""

from __future__ import annotations

import pytest

from tests.conftest import need_postgres
from tests.reliability.nodes import BOUND, cut_off, failover

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]


@pytest.mark.timeout(400)
# Three nodes at CI size (the lanes shared among the two that live); the two-node campaign runs
# in `python -m tests.reliability` (nodes2), at CI size and --long.
@pytest.mark.parametrize("n", [3])
def test_killing_the_leader_loses_and_repeats_nothing_and_another_takes_over_in_time(tmp_path, n):
    need_postgres()
    out = failover(tmp_path, n, events=150)
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    assert out.extra["new_leader"][0] != out.extra["first_leader"][0]
    assert out.extra["new_leader"][1] > out.extra["first_leader"][1]  # a new epoch
    assert out.extra["takeover_s"] <= BOUND, out
    assert out.extra["polled_after_s"] is not None and out.extra["polled_after_s"] <= BOUND + 1.0, out
    # Every node that lived delivered: the lanes are shared out, not all on one node.
    assert len(out.extra["delivered_by"]) >= 2, out
    # Partners polling any living node get every account's whole CAP feed, the alerts the
    # killed node published included: the feeds are served from the store, not a node's disk.
    served, stored = out.extra["cap_served"], out.extra["cap_stored"]
    assert stored and served, out.extra
    for feeds in served.values():
        assert {a: alerts for a, alerts in feeds.items() if alerts} == stored, (feeds, out.extra["cap_published_by"])
    # `warnd status` showed the nodes, the leader and each heartbeat, from a running node ...
    before = out.extra["status_before"]
    assert before["source"] == "daemon" and before["node"] == "node0"
    assert before["cluster"]["leader"]["node"] == out.extra["first_leader"][0]
    nodes = {x["node"]: x for x in before["cluster"]["nodes"]}
    assert set(nodes) == {f"node{i}" for i in range(n)}
    assert all(x["heartbeat_age_s"] < 10 and x["role"] in ("leader", "standby") for x in nodes.values())
    assert [x["node"] for x in nodes.values() if x["leader"]] == [out.extra["first_leader"][0]]
    assert f"leader: {out.extra['first_leader'][0]} (epoch 1" in out.extra["status_table"]
    assert "node0" in out.extra["status_table"] and "(this node)" in out.extra["status_table"]
    # ... and from the store, for the node that was killed: gone, and who leads now.
    after = out.extra["status_after"]
    assert after["source"] == "state database"
    assert after["cluster"]["leader"]["node"] == out.extra["new_leader"][0]
    dead = next(x for x in after["cluster"]["nodes"] if x["node"] == out.extra["first_leader"][0])
    assert dead["role"] == "gone" and dead["heartbeat_age_s"] > 10, after["cluster"]


@pytest.mark.timeout(400)
def test_a_node_cut_off_its_database_stops_until_it_reconnects(tmp_path):
    need_postgres()
    out = cut_off(tmp_path, events=90, spell=15.0)
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    assert out.extra["terminated"] >= 1
    # It stopped leading at once (its next heartbeat at most), and another took over in time.
    assert out.extra["lost_lead_after_s"] is not None and out.extra["lost_lead_after_s"] <= BOUND, out
    assert out.extra["takeover_s"] <= BOUND, out
    assert out.extra["acted_while_cut"] == [], out
    # Let back in, it reconnected within a few heartbeats and stands by.
    assert out.extra["reconnected_after_let_in_s"] <= 10.0, out
    assert sorted(out.extra["roles_after"].values()) == ["leader", "standby"], out
