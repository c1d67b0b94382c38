"""The daemon's log as journald and an operator's jq read it: a real subprocess whose stderr is a
file, one JSON object per line whoever wrote it (warnd, or a library through the standard
library), with the syslog priority of its level in front when JOURNAL_STREAM names that file."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, wait_for
from tests.conftest import ROOT, RULES_ANY_QUAKE, write_config

pytestmark = pytest.mark.acceptance

jq = shutil.which("jq")
if jq is None and os.environ.get("WARND_REQUIRE_JQ"):
    raise RuntimeError("jq is required here (WARND_REQUIRE_JQ) but missing")

PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
PREFIXED = re.compile(r"^<([0-7])>(.*)$")


def _start(tmp_path: Path, feed_server, journal: bool) -> tuple[subprocess.Popen[bytes], Path]:
    good = feed_server.serve("/auto.json", SUMEDANG)
    # A feed that never answers keeps its poll running past the next tick: APScheduler says so
    # at warning level through the standard library, a third party's line in the daemon's log.
    hang = feed_server.serve("/hang.json", b"", hang=True)
    feeds = (
        f"  - {{id: autogempa, format: bmkg-tews, url: {good}, interval: 0.2}}\n"
        f"  - {{id: hanging, format: bmkg-tews, url: {hang}, interval: 0.2, timeout: 2s, fail_after: 1s}}\n"
    )
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, replay=True)
    log = tmp_path / "stderr.log"
    log.write_bytes(b"")
    st = os.stat(log)
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    # journald's stream is the daemon's stderr; otherwise the variable names another stream (a
    # redirect under the unit): no prefix then.
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}" if journal else f"{st.st_dev}:{st.st_ino + 1}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    return proc, log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _lines(log: Path) -> list[str]:
    return [ln for ln in log.read_text().splitlines() if ln]


def _third_party(text: str) -> bool:
    return "apscheduler" in text and "skipped: maximum number of running instances" in text


def test_on_journald_every_line_has_its_priority_then_one_json_object(tmp_path, feed_server):
    proc, log = _start(tmp_path, feed_server, journal=True)
    try:
        wait_for(lambda: any(_third_party(ln) for ln in _lines(log)), timeout=30, what="a line from APScheduler")
        wait_for(lambda: any('"notice.raised"' in ln for ln in _lines(log)), timeout=30, what="a notice")
    finally:
        _stop(proc)
    lines = _lines(log)
    parsed = []
    for ln in lines:
        m = PREFIXED.match(ln)
        assert m, f"no priority prefix: {ln!r}"
        obj = json.loads(m.group(2))
        assert isinstance(obj, dict) and {"event", "level", "logger", "timestamp"} <= obj.keys(), ln
        assert int(m.group(1)) == PRIORITY[obj["level"]], ln
        parsed.append((int(m.group(1)), obj))
    replay = [p for p, o in parsed if o["event"] == "daemon.replay"]
    assert replay == [4]  # a warning
    library = [(p, o) for p, o in parsed if o["logger"].startswith("apscheduler")]
    assert library and all(p == 4 and o["level"] == "warning" for p, o in library)
    # The hanging feed is not critical: its notice is degraded, a warning.
    assert any(p == 4 and o["event"] == "notice.raised" and o["subject"] == "hanging" for p, o in parsed)


def test_off_journald_every_line_is_json_and_the_documented_jq_recipes_work_as_written(tmp_path, feed_server):
    proc, log = _start(tmp_path, feed_server, journal=False)
    try:
        wait_for(lambda: any(_third_party(ln) for ln in _lines(log)), timeout=30, what="a line from APScheduler")
        wait_for(lambda: any('"notice.raised"' in ln for ln in _lines(log)), timeout=30, what="a notice")
        wait_for(lambda: any('"warning.delivered"' in ln for ln in _lines(log)), timeout=30, what="a delivery")
    finally:
        _stop(proc)
    objs = [json.loads(ln) for ln in _lines(log)]
    assert all(isinstance(o, dict) and {"event", "level", "logger"} <= o.keys() for o in objs)
    assert any(o["logger"] == "apscheduler.scheduler" for o in objs)

    if jq is None:
        pytest.skip("jq is missing: install Debian's jq package (.ci/run does)")
    recipes = [
        ln.split("| jq ", 1)[1].split("#", 1)[0].strip()
        for ln in (ROOT / "docs" / "operator" / "operate.md").read_text().splitlines()
        if ln.startswith("journalctl ") and "| jq " in ln
    ]
    assert len(recipes) >= 2
    # What `journalctl -u warnd -o cat` shows: the daemon's lines and, between them, lines that
    # are not JSON (systemd's own about the unit, `warnd check` run before the start).
    shown = tmp_path / "journal.txt"
    shown.write_text("Started warnd.service - warnd disaster early-warning broadcast daemon.\n" + log.read_text())
    outputs = {}
    for recipe in recipes:
        out = subprocess.run([jq, *shlex.split(recipe), str(shown)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, (recipe, out.stderr)
        outputs[recipe] = [json.loads(x) for x in out.stdout.splitlines()]
    notices = next(v for k, v in outputs.items() if "notice.raised" in k)
    assert notices and all(o["event"] == "notice.raised" for o in notices)
    about = next(v for k, v in outputs.items() if "event_id" in k)
    assert about and all(o["event_id"] == "bmkg-eq-20240110T131726Z" for o in about)
