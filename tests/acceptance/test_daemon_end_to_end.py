"""The daemon as a real subprocess, polling a real loopback HTTP server, writing to a real file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RULES_ANY_QUAKE, sample, write_config

pytestmark = pytest.mark.acceptance

SUMEDANG = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
# BMKG's silent in-place revision of the same quake: magnitude and felt list change.
SUMEDANG_REVISED = SUMEDANG.replace(b'"Magnitude":"2.8"', b'"Magnitude":"3.1"').replace(
    b'"Dirasakan":"III Sumedang Utara"', b'"Dirasakan":"III Sumedang Utara, II Bandung"'
)
DOMPU = sample("bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json")


class Daemon:
    def __init__(self, cfg: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def fast_feed(url: str) -> str:
    return f"""  - id: autogempa
    format: bmkg-tews
    url: {url}
    interval: 0.2
"""


def posts(folder: Path) -> list[dict]:
    path = folder / "posts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def whole_lines(path: Path) -> list[str]:
    """The lines a running daemon has written whole: the last may be read half-written."""
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in whole_lines(path) if line.startswith("{")]


def _posted(line: dict) -> bool:
    """A delivery to an account (each warning also goes to the account's CAP feed)."""
    return line["event"] == "warning.delivered" and line.get("target", "").startswith("account:")


def test_feed_to_file_channel_once_across_restarts(tmp_path, feed_server):
    url = feed_server.serve("/autogempa.json", SUMEDANG)
    feeds = fast_feed(url)
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, replay=True)
    log = tmp_path / "daemon.log"

    d = Daemon(cfg, log)
    try:
        # 1. A real felt quake in Sumedang: one warning for the Jawa Barat account, none for NTB.
        first = wait_for(lambda: posts(tmp_path), what="the first warning")
        assert len(first) == 1
        w = first[0]
        assert (w["account"], w["kind"], w["rule"]) == ("jabar", "new", "gempa-test")
        assert w["event_id"] == "bmkg-eq-20240110T131726Z"
        assert w["regions"][0]["code"] == "32.11"
        assert "Gempa M2.8, 10 Jan 2024 20:17:26 WIB" in w["text"]
        assert "Kabupaten Sumedang" in w["text"]
        assert "Dirasakan: III Sumedang Utara" in w["text"]
        # Later polls of the same document cost a 304 and post nothing.
        wait_for(lambda: len(feed_server.hits("/autogempa.json")) >= 5, what="more polls")
        assert any("If-None-Match" in h for h in feed_server.hits("/autogempa.json")[1:])
        assert len(posts(tmp_path)) == 1

        # 2. BMKG revises the same quake in place: one correction that names the revision.
        feed_server.serve("/autogempa.json", SUMEDANG_REVISED)
        got = wait_for(lambda: posts(tmp_path)[1:], what="the correction")
        assert len(got) == 1
        assert (got[0]["account"], got[0]["kind"], got[0]["event_id"]) == ("jabar", "update", w["event_id"])
        assert got[0]["text"].startswith("RALAT gempa 10 Jan 2024 20:17:26 WIB")
        assert "M3.1" in got[0]["text"] and "II Bandung" in got[0]["text"]

        # 3. A new quake in NTB: the NTB account posts, in WITA; Jawa Barat does not.
        feed_server.serve("/autogempa.json", DOMPU)
        got = wait_for(lambda: posts(tmp_path)[2:], what="the Dompu warning")
        assert [(p["account"], p["kind"]) for p in got] == [("ntb", "new")]
        assert "Gempa M4.5, 05 Okt 2021 19:00:27 WITA" in got[0]["text"]
        # Kill only once the delivery is recorded as sent (logged after the outbox update):
        # a kill between the file write and that update would rightly re-send after restart.
        wait_for(lambda: sum(_posted(ln) for ln in log_lines(log)) == 3, what="3 issued")
    finally:
        # A crash, not a shutdown: nothing gets to tidy up.
        d.proc.kill()
        d.proc.wait(timeout=30)

    # 4. Restart on the same state: the document it last saw, and the stale Sumedang copies,
    # are not news.
    polls_before = len(feed_server.hits("/autogempa.json"))
    d = Daemon(cfg, log)
    try:
        wait_for(lambda: len(feed_server.hits("/autogempa.json")) >= polls_before + 5, what="polls after restart")
        feed_server.serve("/autogempa.json", SUMEDANG)
        wait_for(lambda: len(feed_server.hits("/autogempa.json")) >= polls_before + 10, what="polls of the old copy")
        feed_server.serve("/autogempa.json", SUMEDANG_REVISED)
        wait_for(lambda: len(feed_server.hits("/autogempa.json")) >= polls_before + 15, what="polls of the revision")
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    assert [(p["account"], p["kind"]) for p in posts(tmp_path)] == [
        ("jabar", "new"),
        ("jabar", "update"),
        ("ntb", "new"),
    ]

    # Logs: JSON lines (stderr is not a terminal), the event id on every line about an event.
    lines = log_lines(log)
    assert lines, "no JSON log lines"
    about_events = [ln for ln in lines if ln["event"].startswith(("event.", "warning."))]
    assert about_events and all("event_id" in ln for ln in about_events)
    issued = [ln for ln in lines if _posted(ln)]
    assert len(issued) == 3
    assert [ln["event"] for ln in lines if ln["event"].startswith("daemon.")].count("daemon.started") == 2


def test_warning_committed_before_a_failing_channel_is_kept_and_delivered_later(tmp_path, feed_server):
    url = feed_server.serve("/autogempa.json", SUMEDANG)
    feeds = fast_feed(url)
    target = tmp_path / "out" / "posts.jsonl"
    accounts = f"""
  jabar: {{channel: file, path: {target}, name: "Jawa Barat", regions: ["32"]}}
"""
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, accounts=accounts, replay=True)
    # The channel's file is a directory: every append fails (for root too).
    target.mkdir(parents=True)
    log = tmp_path / "daemon.log"
    d = Daemon(cfg, log)
    try:
        wait_for(lambda: any(ln["event"] == "delivery.retry" for ln in log_lines(log)), what="a failed delivery")
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    assert not any(_posted(ln) for ln in log_lines(log))
    target.rmdir()
    d = Daemon(cfg, log)
    try:
        wait_for(lambda: target.is_file() and target.read_text().strip(), what="the delivery after restart", timeout=30)
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    lines = target.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["account"] == "jabar"
    assert json.loads(lines[0])["event_id"] == "bmkg-eq-20240110T131726Z"


def status(cfg: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def test_a_dead_feed_raises_a_notice_in_status_and_clears_it_on_recovery(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", b"<html>502 Bad Gateway</html>", status=502)
    # The recovered document then stays the same, which is stale again stale_after later: time
    # enough for `warnd status` (a process of its own) to start and ask on a loaded machine.
    feeds = fast_feed(url) + "    stale_after: 6s\n    backoff_max: 0.5s\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, replay=True)
    daemon = Daemon(cfg, tmp_path / "log.jsonl")
    try:
        wait_for(
            lambda: any(x["event"] == "feed.stale" for x in log_lines(tmp_path / "log.jsonl")), what="stale notice"
        )
        (feed,) = status(cfg)["feeds"]
        assert feed["health"] == "stale" and "HTTP 502" in feed["notice"]
        # Backoff, not hammering: with a 0.2 s interval, far fewer than 10 requests per second.
        assert daemon.proc.poll() is None

        feed_server.serve("/auto.json", SUMEDANG)
        wait_for(
            lambda: any(x["event"] == "feed.recovered" for x in log_lines(tmp_path / "log.jsonl")),
            what="recovery",
        )
        (feed,) = status(cfg)["feeds"]
        assert feed["health"] == "ok" and feed["notice"] is None and feed["failures"] == 0
        wait_for(lambda: posts(tmp_path), what="the warning after recovery")
    finally:
        assert daemon.stop() == 0


def test_reload_with_a_broken_rules_file_keeps_the_running_rules(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, replay=True)
    daemon = Daemon(cfg, tmp_path / "log.jsonl")
    rules = tmp_path / "rules" / "test.yaml"
    try:
        wait_for(lambda: posts(tmp_path), what="the first warning")
        good = rules.read_text()
        rules.write_text(good.replace("within_km: 60", "within_km: sixty"))
        daemon.proc.send_signal(signal.SIGHUP)
        rejected = wait_for(
            lambda: [x for x in log_lines(tmp_path / "log.jsonl") if x["event"] == "reload.rejected"], what="rejection"
        )
        assert any("test.yaml:" in p and "within_km" in p for p in rejected[0]["problems"])
        snap = status(cfg)
        assert snap["last_reload"]["ok"] is False and snap["last_reload"]["problems"]
        # The old rules still run: a revised quake still gets its correction.
        feed_server.serve("/auto.json", SUMEDANG_REVISED)
        wait_for(lambda: len(posts(tmp_path)) >= 2, what="the correction under the old rules")
        assert daemon.proc.poll() is None

        rules.write_text(good)
        out = subprocess.run(
            [sys.executable, "-m", "warnd.cli", "reload", "-c", str(cfg)], capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        wait_for(lambda: any(x["event"] == "reload.applied" for x in log_lines(tmp_path / "log.jsonl")), what="reload")
        assert status(cfg)["last_reload"]["ok"] is True
    finally:
        assert daemon.stop() == 0
