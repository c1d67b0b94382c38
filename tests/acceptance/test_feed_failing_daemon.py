"""A feed that fails, as an operator sees it from outside the daemon: /healthz, `warnd status`,
the STATUS= line systemd shows, the operator notices and the metrics, for a critical feed and a
feed that is not, both refused by a real loopback server, then answering again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, log_lines, wait_for
from tests.acceptance.test_service import Service, _jsonl, sample
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.notify import NotifySocket

pytestmark = pytest.mark.acceptance

# Short enough for a test; the catalogue's critical feeds say 60 s.
FAIL_AFTER = 3.0
# However long a loaded machine takes to poll, record and check: waiting, not a speed limit.
MARGIN = 30.0


def _feed(feed_id: str, url: str, critical: bool) -> str:
    return (
        f"  - id: {feed_id}\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
        f"    backoff_max: 0.5s\n    fail_after: {FAIL_AFTER}s\n    critical: {'true' if critical else 'false'}\n"
    )


def _status(cfg) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg)], capture_output=True, text=True, timeout=30
    )


def test_a_failing_critical_feed_fails_health_status_and_notices_until_it_answers(tmp_path, feed_server):
    tsunami = feed_server.serve("/tsunami.json", b"<html>500 Internal Server Error</html>", status=500)
    gauge = feed_server.serve("/gauge.json", b"<html>500 Internal Server Error</html>", status=500)
    feeds = _feed("tsunami", tsunami, critical=True) + _feed("gauge", gauge, critical=False)
    extra = f"ops:\n  log: {{channel: file, path: {tmp_path}/ops.jsonl}}\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra=extra)
    notify = NotifySocket(tmp_path / "notify.sock")
    svc = Service(cfg, tmp_path / "log.jsonl", {"NOTIFY_SOCKET": str(notify.path)})
    try:
        r = wait_for(
            lambda: (r := svc.get("/healthz")).status_code == 503 and len(r.json()["reasons"]) == 2 and r,
            timeout=FAIL_AFTER + MARGIN,
            what="/healthz failing for the critical feed",
        )
        health = r.json()
        assert health["status"] == "failing"
        reasons = {(x["kind"], x["subject"]): x for x in health["reasons"]}
        assert set(reasons) == {("feed_failing", "tsunami"), ("feed_failing", "gauge")}
        assert reasons["feed_failing", "tsunami"]["severity"] == "failing"
        assert reasons["feed_failing", "gauge"]["severity"] == "degraded"
        assert "tsunami" in reasons["feed_failing", "tsunami"]["message"]
        assert "HTTP 500" in reasons["feed_failing", "tsunami"]["message"]

        st = _status(cfg)
        assert st.returncode == 1, st.stdout
        assert "FAILING" in st.stdout and "feed_failing tsunami" in st.stdout

        line = wait_for(lambda: notify.lines("STATUS=failing"), what="STATUS= failing")[-1][1]
        assert "feed failing: gauge, tsunami" in line

        ops = wait_for(
            lambda: [o for o in _jsonl(tmp_path / "ops.jsonl") if o["kind"] == "feed_failing"][1:], what="the notices"
        )
        raised = {o["subject"]: o for o in _jsonl(tmp_path / "ops.jsonl") if o["phase"] == "raised"}
        assert set(raised) == {"tsunami", "gauge"}
        assert "tsunami" in raised["tsunami"]["text"] and raised["tsunami"]["severity"] == "failing"
        assert ops

        m = svc.metrics()
        assert sample(m, "warnd_feed_failing", feed="tsunami", critical="true") == 1
        assert sample(m, "warnd_feed_failing", feed="gauge", critical="false") == 1
        assert sample(m, "warnd_health") == 2

        # The critical feed answers again: health is degraded by the other one only, and 200.
        feed_server.serve("/tsunami.json", SUMEDANG)
        health = wait_for(
            lambda: (h := svc.health())["status"] == "degraded" and h,
            timeout=MARGIN,
            what="the critical feed's recovery",
        )
        assert [(x["kind"], x["subject"]) for x in health["reasons"]] == [("feed_failing", "gauge")]
        assert svc.get("/healthz").status_code == 200
        assert sample(svc.metrics(), "warnd_feed_failing", feed="tsunami", critical="true") == 0

        feed_server.serve("/gauge.json", SUMEDANG)
        wait_for(lambda: svc.health()["status"] == "ok", timeout=MARGIN, what="every feed answering")
        assert _status(cfg).returncode == 0
        wait_for(lambda: notify.lines("STATUS=ok"), what="STATUS= ok")
        cleared = wait_for(
            lambda: (
                {o["subject"] for o in _jsonl(tmp_path / "ops.jsonl") if o["phase"] == "cleared"}
                == {
                    "tsunami",
                    "gauge",
                }
            ),
            what="both notices cleared",
        )
        assert cleared
        events = [(x["event"], x.get("subject")) for x in log_lines(svc.log) if x["event"].startswith("notice.")]
        assert events.count(("notice.raised", "tsunami")) == 1 and events.count(("notice.cleared", "tsunami")) == 1
        assert svc.stop() == 0
    finally:
        svc.kill()
        notify.close()
