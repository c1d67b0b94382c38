"""The endpoint flooded at CI size: 1,000 idle and 250 slow-header clients on both listeners for
12 s while quakes arrive, against a quiet run of the same quakes (`--long`: 30 s)."""

import pytest

from tests.reliability.flood import MAX_RATIO, RSS_BOUND_MB, flood

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]


@pytest.mark.timeout(240)
def test_a_flood_of_idle_and_slow_clients_delays_no_warning(tmp_path):
    out = flood(tmp_path, events=24, seconds=12.0, idle=1000, slow=250)
    print(out)
    quiet, loud = out.extra["quiet"], out.extra["flood"]
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    # The clients were really there, at full number, for the whole spell.
    c = loud["clients"]
    assert c["peak_open"] >= 1250, c
    assert c["idle_connected"] >= 1000 and c["slow_connected"] >= 250, c
    # No poll failed, and nothing ran out of descriptors: the connection caps (32 + 512) kept the
    # clients to a quarter of the unit's limit, the rest free for polls and deliveries.
    assert loud["feed_errors"] == [] and loud["emfile"] == 0, loud["feed_errors"][:5]
    assert max(loud["fds"]) < loud["nofile"] // 4, max(loud["fds"])
    # The campaign's verdict: warnings went out at most twice as slowly as without the flood.
    assert out.extra["ratio"] <= MAX_RATIO, out.notes
    assert max(loud["rss"]) <= RSS_BOUND_MB, max(loud["rss"])
    # The log was not flooded: refusals are counted in spells, asyncio's per-accept report never
    # shows, and the whole run logged about what the quiet run did.
    assert loud["asyncio_accept_lines"] == 0
    assert loud["spell_lines"]["http.connections_capped"] <= 4, loud["spell_lines"]
    assert loud["log_lines"] <= quiet["log_lines"] + 50, (loud["log_lines"], quiet["log_lines"])
    assert out.extra["failed"] == []
