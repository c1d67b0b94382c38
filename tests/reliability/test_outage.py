"""Outages at CI size, each account on X, Telegram, Mastodon and Bluesky: X and Telegram down
(a partner down, another flapping) while quakes arrive, the feed serving garbage, a 500, a hang
and a drip; then X and Telegram back and Mastodon and Bluesky down while more arrive; then
everything back. Counted at every receiver."""

import pytest

from tests.reliability.campaign import outage

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]


@pytest.mark.timeout(400)
def test_outages_hold_the_queue_then_drain_it_most_urgent_first(tmp_path):
    out = outage(tmp_path, events=100, spell=8.0)
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected == 4 * 100 + 100 + 40
    # Telegram repeats only what went out unanswered: a server answering 503 took nothing.
    assert out.repeats == 0, out
    first, second = out.extra["spells"]
    # While X and Telegram were down nothing reached them, and Mastodon and Bluesky kept posting:
    # every quake of the spell, arriving through it (not in one burst after it).
    assert first.down_posts == {"x": 0, "telegram": 0}, first
    assert out.extra["x_during"] == 0
    for spell in (first, second):
        assert all(n == 0 for n in spell.down_posts.values()), spell
        assert set(spell.healthy_missing.values()) == {0}, spell
        assert all(n >= 50 for n in spell.healthy_posts.values()), spell
        assert all(last - first_at >= 1.0 for first_at, last in spell.spread.values()), spell
    # Every down fake was asked (probed) while down, and none was hammered.
    for spell in (first, second):
        assert set(spell.tried) == set(spell.down) and all(0 < n < 600 for n in spell.tried.values()), spell
    # Each channel's backlog went out most urgent (M5.0 and up) first, then the rest.
    for channel, accounts in out.extra["order"].items():
        for account, mags in accounts.items():
            ranks = [m >= 5.0 for m in mags]
            assert mags and ranks == sorted(ranks, reverse=True), (channel, account, mags)
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
