"""When a feed counts as failing, through the daemon's poll path (real Poller against a loopback
server or a closed port, SQLite store, the conditions and notices the daemon keeps), on a clock
the test moves: from the first failed poll, not from the last good one; failing for a critical
feed, degraded otherwise; kept across a restart; cleared by the first good poll."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import RULES_ANY_QUAKE, sample
from tests.integration.rig import Rig
from warnd.runtime.conditions import Live, collect, overall
from warnd.store.notices import Notices

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SUMEDANG = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")


def rig(tmp_path, url: str, feed_extra: str = "") -> Rig:
    return Rig(
        tmp_path,
        feed="tsunami",
        fmt="bmkg-tews",
        url=url,
        rules=RULES_ANY_QUAKE,
        accounts=f'\n  jabar: {{channel: file, path: {tmp_path}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}',
        now=NOW,
        feed_extra=feed_extra,
    )


def test_a_critical_feed_refused_is_failing_after_fail_after_and_stays_so_across_a_restart(tmp_path, refused_port):
    r = rig(tmp_path, f"http://127.0.0.1:{refused_port}/datagempa.json", "fail_after: 30s\ncritical: true")
    r.poll()
    assert r.reconcile("feed_failing") == []  # one refusal is not an outage yet
    r.clock.advance(20)
    r.poll()
    assert r.reconcile("feed_failing") == []
    r.clock.advance(11)  # 31 s since the first refusal
    (c,) = r.reconcile("feed_failing")
    assert (c.subject, c.severity) == ("tsunami", "failing")
    assert "critical feed tsunami failing for 31 s" in c.message and "2 poll(s) in a row" in c.message
    assert "feed_failing:tsunami" in Notices(r.conn).active()

    # A daemon started since still counts from the first refusal: the notice is not cleared and
    # raised again by a restart.
    later = collect(r.conn, r.bundle, r.clock.now(), Live(started=r.clock.now()))
    assert overall(later) == "failing" and [x.kind for x in later] == ["feed_failing"]


def test_a_feed_not_critical_is_degraded_from_its_first_failure_and_clears_on_a_good_poll(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    r = rig(tmp_path, url)  # interval 5 s, no fail_after: the default, 60 s
    assert r.bundle.config.feeds[0].spec.fail_limit == 60
    r.poll()
    # Quiet for long after its last good poll: failing is measured from the first failure.
    r.clock.advance(600)
    feed_server.serve("/auto.json", b"<html>503</html>", status=503)
    r.poll()
    r.clock.advance(59)
    assert r.reconcile("feed_failing") == []
    r.clock.advance(2)
    (c,) = r.reconcile("feed_failing")
    assert c.severity == "degraded" and "HTTP 503" in c.message
    assert "feed_failing:tsunami" in Notices(r.conn).active()

    feed_server.serve("/auto.json", SUMEDANG)
    r.clock.advance(600)  # past any backoff
    r.poll()
    assert r.reconcile("feed_failing") == []
    assert "feed_failing:tsunami" not in Notices(r.conn).active()
    # A new run of failures counts from its own start.
    feed_server.serve("/auto.json", b"<html>503</html>", status=503)
    r.clock.advance(30)
    r.poll()
    r.clock.advance(30)
    assert r.reconcile("feed_failing") == []
