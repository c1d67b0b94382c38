"""Outages at CI size: X down and a partner flapping while quakes arrive, the feed serving
garbage, a 500, a hang and a drip; then recovery."""

import pytest

from tests.reliability.campaign import outage

pytestmark = pytest.mark.acceptance


@pytest.mark.timeout(300)
def test_outages_hold_the_queue_then_drain_it_most_urgent_first(tmp_path):
    out = outage(tmp_path, events=100, spell=8.0)
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected == 100 + 100 + 40
    # X was down the whole time: nothing reached it until it came back.
    assert out.extra["x_during"] == 0
    # Each account's backlog went out most urgent (M5.0 and up) first, then the rest.
    for account, mags in out.extra["order"].items():
        ranks = [m >= 5.0 for m in mags]
        assert ranks == sorted(ranks, reverse=True), (account, mags)
    # Health said so while it lasted, and is ok again.
    assert "degraded" in out.extra["seen"] or "failing" in out.extra["seen"]
    # The feed failed in each of its ways, each with its reason (the hang and the drip both as
    # an answer not complete in time).
    errors = out.extra["feed_errors"]
    assert any(e.startswith("not UTF-8 text") for e in errors), errors
    assert any(e.startswith("HTTP 500") for e in errors), errors
    assert sum(e == "no complete answer within 2 s" for e in errors) >= 2, errors
    # Memory stayed flat while the backlog grew and the feed misbehaved.
    rss = out.extra["rss"]
    assert max(rss) - min(rss) < 40, rss
