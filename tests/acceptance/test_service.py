"""warnd as systemd runs it: a real subprocess with NOTIFY_SOCKET bound to a socket of the test,
its HTTP endpoint on loopback, signals for reload and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed, log_lines, posts, wait_for, whole_lines
from tests.acceptance.test_delivery_crash import ACCOUNTS, _all_sent, burst
from tests.conftest import RULES_ANY_QUAKE, cap_links, write_config
from warnd.testing.notify import NotifySocket
from warnd.testing.webhook_sink import WebhookSink

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]


class Service:
    def __init__(self, cfg: Path, log: Path, env: dict[str, str] | None = None, stderr: int | None = None) -> None:
        """`stderr`: a descriptor for the daemon's log (by default, `log` itself)."""
        self.cfg = cfg
        self.log = log
        self.state = cfg.parent / "state"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab") if stderr is None else stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    @property
    def base(self) -> str:
        address = wait_for(lambda: _read(self.state / "listen"), what="the endpoint's address")
        return f"http://{address}"

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kw)

    def health(self) -> dict:
        return self.get("/healthz").json()

    def metrics(self) -> dict[str, list]:
        text = self.get("/metrics").text
        return {f.name: f.samples for f in text_string_to_metric_families(text)}

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=40)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class StallableLog:
    """The daemon's stderr as a pipe that a thread copies to the log file, as journald reads it.
    `stall` stops the reading and fills the pipe: the daemon's next log line then blocks the
    thread that writes it, as when journald stops reading."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.read_end, self.write_end = os.pipe()
        self.flowing = threading.Event()
        self.flowing.set()
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with self.log.open("ab") as out:
            while True:
                self.flowing.wait()
                data = os.read(self.read_end, 65536)
                if not data:
                    return
                out.write(data)
                out.flush()

    def stall(self) -> None:
        self.flowing.clear()
        # A descriptor of its own, non-blocking: the daemon's stays blocking.
        filler = os.open(f"/proc/self/fd/{self.write_end}", os.O_WRONLY | os.O_NONBLOCK)
        try:
            # The first lines may still be read by a copy already waiting; the rest fill the pipe.
            os.write(filler, b"stalled\n")
            time.sleep(0.2)
            while True:
                try:
                    os.write(filler, b"x" * 63 + b"\n")  # whole lines: a write this small is atomic
                except BlockingIOError:
                    break
        finally:
            os.close(filler)

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.flowing.set()
        os.close(self.write_end)
        self._thread.join(10)
        os.close(self.read_end)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def sample(families: dict[str, list], name: str, **labels: str) -> float | None:
    for family in families.values():
        for s in family:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_ready_after_load_then_watchdog_pings_from_the_event_loop(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, replay=True)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    stderr = StallableLog(tmp_path / "log.jsonl")
    svc = Service(cfg, tmp_path / "log.jsonl", env, stderr=stderr.write_end)
    try:
        ((ready_at, _),) = wait_for(lambda: notify.lines("READY=1"), what="READY=1")
        # READY=1 means loaded, store open and listening: the endpoint answers at once.
        assert (svc.state / "warnd.db").exists()
        assert svc.health()["status"] in ("ok", "degraded")
        assert any(e["event"] == "daemon.started" for e in log_lines(svc.log))
        # No watchdog ping before READY (systemd counts from READY=1), then one per 0.5 s.
        assert all(t >= ready_at for t, _ in notify.lines("WATCHDOG=1"))
        wait_for(lambda: len(notify.lines("WATCHDOG=1")) >= 5, timeout=10, what="watchdog pings")
        status = wait_for(lambda: notify.lines("STATUS=ok:"), what="a STATUS= line")
        assert "1/1 feeds fresh" in status[-1][1] and "queued" in status[-1][1]

        # Block the event loop the way a real fault would: journald stops reading the daemon's
        # log, so the next line the loop writes (the reload's verdict) blocks it. (A lock held on
        # the state database no longer does: the store is used from threads of its own.)
        stderr.stall()
        svc.proc.send_signal(signal.SIGHUP)
        blocked_at = wait_for(lambda: _unanswered(svc), timeout=20, what="the event loop blocked")
        time.sleep(4.0)
        stderr.resume()
        released_at = time.monotonic()
        pings = [t for t, _ in notify.lines("WATCHDOG=1")]
        during = [t for t in pings if blocked_at + 1.0 < t < released_at]
        assert not during, f"{len(during)} pings while the loop was blocked: they do not come from the loop"
        # Pings come back once the loop runs again.
        wait_for(
            lambda: len([t for t, _ in notify.lines("WATCHDOG=1") if t > released_at]) >= 3,
            timeout=10,
            what="pings after the loop is free again",
        )
        assert svc.proc.poll() is None
        assert svc.stop() == 0
        assert notify.lines("STOPPING=1")
    finally:
        svc.kill()
        notify.close()
        stderr.close()


def _unanswered(svc: Service) -> float | None:
    """When the endpoint, served by the event loop, no longer answered within a second."""
    try:
        httpx.get(svc.base + "/healthz", timeout=1.0)
    except httpx.TimeoutException:
        return time.monotonic()
    time.sleep(0.1)
    return None


def test_a_config_error_exits_2_with_file_and_line_before_ready(tmp_path):
    broken = RULES_ANY_QUAKE.replace('magnitude: ">= 2.5"', 'magnitude: "about five"')
    cfg = write_config(tmp_path, feeds=fast_feed("http://127.0.0.1:9/none"), rules=broken)
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        run = subprocess.run(
            [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NOTIFY_SOCKET": str(notify.path)},
        )
        time.sleep(0.3)
        assert run.returncode == 2
        assert f"{tmp_path}/rules/test.yaml:5" in run.stderr and "magnitude" in run.stderr
        assert not notify.lines("READY=1")
        assert not (tmp_path / "state" / "warnd.db").exists(), "nothing is touched before the config is good"
    finally:
        notify.close()


def test_sighup_with_broken_rules_keeps_serving_and_reports_it_until_fixed(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    extra = f"ops:\n  log: {{channel: file, path: {tmp_path}/ops.jsonl}}\n"
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    notify = NotifySocket(tmp_path / "notify.sock")
    svc = Service(cfg, tmp_path / "log.jsonl", {"NOTIFY_SOCKET": str(notify.path)})
    rules = tmp_path / "rules" / "test.yaml"
    try:
        wait_for(lambda: posts(tmp_path), what="the first warning")
        assert svc.health()["status"] == "ok"
        good = rules.read_text()
        rules.write_text(good.replace("within_km: 60", "within_km: sixty"))
        # `warnd check` refuses the file ...
        check = subprocess.run([sys.executable, "-m", "warnd.cli", "check", "-c", str(cfg)], capture_output=True)
        assert check.returncode == 2
        # ... and so does the daemon on SIGHUP, which keeps its rules.
        svc.proc.send_signal(signal.SIGHUP)
        health = wait_for(lambda: (h := svc.health())["status"] == "degraded" and h, what="degraded health")
        (reason,) = health["reasons"]
        assert reason["kind"] == "reload_failed" and "test.yaml:" in reason["message"]
        m = svc.metrics()
        assert sample(m, "warnd_config_last_reload_success") == 0
        assert sample(m, "warnd_config_generation") == 1
        assert sample(m, "warnd_config_reloads_total", outcome="rejected") == 1
        assert sample(m, "warnd_health") == 1
        assert svc.get("/status").json()["last_reload"]["ok"] is False
        assert notify.lines("RELOADING=1")

        rules.write_text(good)
        svc.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: svc.health()["status"] == "ok", what="health ok after a good reload")
        m = svc.metrics()
        assert sample(m, "warnd_config_last_reload_success") == 1
        assert sample(m, "warnd_config_generation") == 2
        assert svc.health()["generation"] == 2
        # One notice for the refused reload, one for its recovery: in the log and the ops file.
        ops = wait_for(lambda: _jsonl(tmp_path / "ops.jsonl")[1:], what="the recovery in the ops file")
        assert [(o["kind"], o["phase"]) for o in _jsonl(tmp_path / "ops.jsonl")] == [
            ("reload_failed", "raised"),
            ("reload_failed", "cleared"),
        ]
        assert ops[0]["text"].startswith("[warnd RECOVERED] reload_failed")
        assert svc.stop() == 0
    finally:
        svc.kill()
        notify.close()


def _jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(x) for x in whole_lines(path) if x.strip()]
    except OSError:
        return []


def test_healthz_and_metrics_follow_a_feed_that_goes_stale_and_recovers(tmp_path, feed_server):
    good = feed_server.serve("/auto.json", SUMEDANG)
    bad = feed_server.serve("/other.json", b"<html>502 Bad Gateway</html>", status=502)
    feeds = (
        fast_feed(good)
        + "    stale_after: 60s\n"
        + fast_feed(bad).replace("id: autogempa", "id: other")
        + "    stale_after: 2s\n    backoff_max: 0.5s\n"
    )
    extra = f"ops:\n  log: {{channel: file, path: {tmp_path}/ops.jsonl}}\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    svc = Service(cfg, tmp_path / "log.jsonl")
    try:
        health = wait_for(lambda: (h := svc.health())["status"] == "degraded" and h, what="the stale feed")
        assert [(r["kind"], r["subject"]) for r in health["reasons"]] == [("feed_stale", "other")]
        assert "HTTP 502" in health["reasons"][0]["message"]
        assert svc.get("/healthz").status_code == 200  # degraded still serves: 503 is for failing
        wait_for(lambda: posts(tmp_path), what="the warning from the good feed")
        wait_for(lambda: sample(svc.metrics(), "warnd_feed_to_post_seconds_count", channel="file"), what="latency")

        m = svc.metrics()
        assert sample(m, "warnd_health") == 1
        assert sample(m, "warnd_polls_total", feed="autogempa", outcome="ok") == 1
        assert sample(m, "warnd_polls_total", feed="autogempa", outcome="not_modified") >= 1
        assert sample(m, "warnd_polls_total", feed="other", outcome="error") >= 1
        assert sample(m, "warnd_events_total", feed="autogempa", change="new") == 1
        assert sample(m, "warnd_warnings_total", kind="new") == 1
        assert sample(m, "warnd_deliveries_total", channel="file", target="account:jabar", outcome="sent") == 1
        assert sample(m, "warnd_deliveries_total", channel="cap_feed", target="feed:jabar", outcome="sent") == 1
        assert sample(m, "warnd_feed_to_post_seconds_bucket", channel="file", le="+Inf") == 1
        assert sample(m, "warnd_queue_depth", target="account:jabar") == 0
        assert sample(m, "warnd_feed_age_seconds", feed="autogempa") < 5
        assert sample(m, "warnd_feed_age_seconds", feed="other") >= 2
        # Unchanged answers (every 0.2 s) are written at most every 15 s here (a quarter of
        # stale_after): the store keeps the first answer's time, the daemon shows its newest.
        db = sqlite3.connect(f"file:{tmp_path / 'state' / 'warnd.db'}?mode=ro", uri=True)

        def stored_ok() -> str:
            return str(db.execute("SELECT last_ok FROM feed_state WHERE feed = 'autogempa'").fetchone()[0])

        stored = stored_ok()
        time.sleep(max(0.0, 3.0 - (datetime.now(UTC) - datetime.fromisoformat(stored)).total_seconds()))
        assert stored_ok() == stored  # 3 s old and more, not written again
        seen = _feed(svc.get("/status").json(), "autogempa")
        assert seen["last_ok"] > stored and seen["age_s"] < 2
        assert sample(svc.metrics(), "warnd_feed_age_seconds", feed="autogempa") < 2
        assert sample(m, "warnd_conditions", kind="feed_stale") == 1

        feed_server.serve("/other.json", SUMEDANG)
        wait_for(lambda: svc.health()["status"] == "ok", what="health ok after the recovery")
        assert sample(svc.metrics(), "warnd_health") == 0
        ops = wait_for(lambda: (o := _jsonl(tmp_path / "ops.jsonl"))[1:] and o, what="the recovery notice")
        assert [(o["kind"], o["subject"], o["phase"]) for o in ops] == [
            ("feed_stale", "other", "raised"),
            ("feed_stale", "other", "cleared"),
        ]
        lines = log_lines(svc.log)
        assert [x["kind"] for x in lines if x["event"] == "notice.raised"] == ["feed_stale"]
        assert [x["kind"] for x in lines if x["event"] == "notice.cleared"] == ["feed_stale"]
        assert svc.stop() == 0
    finally:
        svc.kill()


def test_every_feed_stale_is_failing_with_503(tmp_path, feed_server):
    bad = feed_server.serve("/auto.json", b"oops", status=500)
    feeds = fast_feed(bad) + "    stale_after: 1s\n    backoff_max: 0.5s\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE)
    svc = Service(cfg, tmp_path / "log.jsonl")
    try:
        r = wait_for(lambda: (r := svc.get("/healthz")).status_code == 503 and r, what="failing")
        assert r.json()["status"] == "failing"
        assert {x["kind"] for x in r.json()["reasons"]} == {"feed_stale", "no_fresh_feed"}
        st = subprocess.run(
            [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg)], capture_output=True, text=True
        )
        assert st.returncode == 1 and "FAILING" in st.stdout and "no_fresh_feed" in st.stdout
        assert svc.stop() == 0
    finally:
        svc.kill()


def test_the_endpoint_answers_bad_requests_cleanly_and_never_shows_a_secret(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    sink = WebhookSink({"radio": "s3cret-radio-key"})
    sink.start()
    hook = sink.url("radio") + "?token=partner-url-token"
    extra = (
        "partners:\n  radio: {name: Radio, url_credential: partner-radio.url, secret: partner-radio,"
        " accounts: [jabar]}\n"
    )
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    env = {"WARND_SECRET_PARTNER_RADIO": "s3cret-radio-key", "WARND_SECRET_PARTNER_RADIO_URL": hook}
    svc = Service(cfg, tmp_path / "log.jsonl", env)
    try:
        wait_for(lambda: sink.receipts("radio"), what="the partner's webhook")
        wait_for(lambda: (svc.state / "cap" / "jabar" / "index.atom").exists(), what="the CAP feed")
        assert svc.get("/nope").status_code == 404
        assert svc.get("/nope").json() == {"error": "Not Found"}
        assert httpx.post(svc.base + "/healthz", timeout=5).status_code == 405
        assert svc.get("/cap/jabar/..%2F..%2Fwarnd.db").status_code == 404
        assert svc.get("/cap/jabar/.index.atom.tmp").status_code == 404
        assert svc.get("/cap/..%2Fstate/warnd.db").status_code == 404
        host, port = svc.base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
            answer = s.recv(4096)
            assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request") and b"Traceback" not in answer

        # Partners can poll the CAP feed, with conditional GET.
        atom = svc.get("/cap/jabar/index.atom")
        assert atom.status_code == 200 and atom.headers["content-type"].startswith("application/atom+xml")
        assert svc.get("/cap/jabar/index.atom", headers={"If-None-Match": atom.headers["etag"]}).status_code == 304
        since = {"If-Modified-Since": atom.headers["last-modified"]}
        assert svc.get("/cap/jabar/index.atom", headers=since).status_code == 304
        assert svc.get("/cap/jabar/index.atom", headers={**since, "If-None-Match": '"other"'}).status_code == 200
        (href,) = cap_links(atom.text)[:1]
        alert = svc.get(f"/cap/jabar/{href}")
        assert alert.status_code == 200 and alert.headers["content-type"].startswith("application/cap+xml")
        # The document served from the store is the one the publishing node wrote beside the feed.
        assert alert.content == (svc.state / "cap" / "jabar" / href).read_bytes()
        # Every account has its feed from the start, so a partner can subscribe before the
        # first alert; ntb has had none yet.
        assert svc.get("/cap/").json() == {"feeds": {"jabar": "/cap/jabar/index.atom", "ntb": "/cap/ntb/index.atom"}}
        empty = svc.get("/cap/ntb/index.atom")
        assert (
            empty.status_code == 200 and b"<entry" not in empty.content and b"urn:warnd:cap-feed:ntb" in empty.content
        )
        assert svc.get("/cap/nope/index.atom").status_code == 404
        assert svc.get("/healthz").headers["server"] == "warnd"

        bodies = [svc.get(p).text for p in ("/status", "/metrics", "/healthz", "/cap/")] + [svc.log.read_text()]
        for body in bodies:
            assert "s3cret-radio-key" not in body and "partner-url-token" not in body
        assert "partner:radio" in bodies[0]  # named, never located
        assert svc.stop() == 0
    finally:
        svc.kill()
        sink.stop()


def test_sigterm_mid_burst_parks_deliveries_and_a_restart_sends_each_exactly_once(tmp_path, feed_server):
    log = tmp_path / "daemon.log"
    with burst(tmp_path, feed_server) as (cfg, fake, sink):
        svc = Service(cfg, log)
        try:
            wait_for(lambda: len(fake.state.posts) >= 12, timeout=30, what="the burst to start")
            stopped_at = time.monotonic()
            assert svc.stop(signal.SIGTERM) == 0
            took = time.monotonic() - stopped_at
        finally:
            svc.kill()
        at_stop = len(fake.state.posts)
        conn = sqlite3.connect(tmp_path / "state" / "warnd.db")
        states = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        conn.close()
        # A clean stop: nothing left in flight (each lane finished the delivery it was in).
        assert "in_flight" not in states and states.get("pending", 0) + states.get("retry", 0) > 0
        assert any(x["event"] == "daemon.stopped" for x in log_lines(log))

        svc = Service(cfg, log)
        try:
            history = wait_for(lambda: _all_sent(cfg), timeout=60, what="every delivery sent after the restart")
            assert svc.stop() == 0
        finally:
            svc.kill()

    assert took < 30, "the stop must fit in the unit's TimeoutStopSec"
    assert at_stop < 60, "the stop came after the burst: nothing was cut off"
    # Exactly once: no thread split, no duplicate refused by X, no partner repeat.
    for a in ACCOUNTS:
        heads = [p for p in fake.posts_by(a) if p.reply_to is None]
        assert len(heads) == 20, a
    assert fake.state.duplicates == 0 and sum(sink.state.repeats.values()) == 0
    assert len(sink.keys("radio")) == 60 and len(sink.keys("tv")) == 20
    assert sum(len(w["deliveries"]) for w in history) == 60 * 2 + 60 + 20
    assert not [x for x in log_lines(log) if x["event"] == "delivery.outcome_unknown"]


def test_a_missing_credential_disables_only_its_account_with_a_notice(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    accounts = f"""
  jabar: {{channel: file, path: {tmp_path}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}
  jabar-x: {{channel: x, name: "Jawa Barat on X", regions: ["32"], credential: x-jabar}}
"""
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, accounts=accounts, replay=True)
    check = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "check", "--secrets", "-c", str(cfg)], capture_output=True, text=True
    )
    assert check.returncode == 2 and "/etc/warnd/credentials/x-jabar.access_token" in check.stderr
    svc = Service(cfg, tmp_path / "log.jsonl")
    try:
        wait_for(lambda: posts(tmp_path), what="the file account's warning")
        health = svc.health()
        assert health["status"] == "degraded"
        assert [(r["kind"], r["subject"]) for r in health["reasons"]] == [("credentials_missing", "account:jabar-x")]
        assert "WARND_SECRET_X_JABAR_ACCESS_TOKEN" in health["reasons"][0]["message"]
        # jabar, and both CAP feeds: their entries go once the warnings' CAP documents are made,
        # just after the post (runtime.cap_fill).
        st = wait_for(lambda: (s := svc.get("/status").json())["outbox"]["sent"] == 3 and s, what="3 sent")
        assert st["queues"]["account:jabar-x"]["waiting"] == 1
        assert st["outbox"]["sent"] == 3
        assert svc.stop() == 0
    finally:
        svc.kill()


def _feed(status: dict, feed: str) -> dict:
    return next(f for f in status["feeds"] if f["feed"] == feed)
