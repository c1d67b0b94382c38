"""An edit that breaks the configuration cannot take the service down: the daemon keeps the last
set it ran, starts from it after a crash, and says so until the files are fixed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.test_daemon_end_to_end import DOMPU, SUMEDANG, fast_feed, log_lines, posts, wait_for
from tests.acceptance.test_service import Service, _jsonl, sample
from tests.conftest import RULES_ANY_QUAKE, write_config

pytestmark = pytest.mark.acceptance


def warnd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warnd.cli", *args], capture_output=True, text=True, timeout=90)


def _events(log: Path, name: str) -> list[dict]:
    return [x for x in log_lines(log) if x["event"] == name]


def _settled_after(log: Path, event: str) -> bool:
    names = [x["event"] for x in log_lines(log)]
    last = len(names) - 1 - names[::-1].index(event) if event in names else len(names)
    return "heap.settled" in names[last:]


def test_a_broken_edit_is_reported_survives_a_crash_and_clears_when_fixed(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    extra = f"ops:\n  log: {{channel: file, path: {tmp_path}/ops.jsonl}}\n"
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    rules = tmp_path / "rules" / "test.yaml"
    good = rules.read_text()
    broken = good.replace("within_km: 60", "within_km: sixty")
    line = next(i for i, x in enumerate(broken.splitlines(), 1) if "sixty" in x)
    log = tmp_path / "log.jsonl"
    snapshots = tmp_path / "state" / "config-snapshot"

    # (a) A good start keeps the set it runs.
    svc = Service(cfg, log)
    try:
        wait_for(lambda: posts(tmp_path), what="the first warning")
        (saved,) = wait_for(lambda: _events(log, "config.snapshot_saved"), timeout=60, what="the snapshot")
        current = snapshots / "current"
        assert current.resolve().name == saved["digest"]
        copy = current / "tree" / str(rules).lstrip("/")
        assert copy.read_text() == good
        assert sample(svc.metrics(), "warnd_config_valid") == 1
        # Settled too: what the daemon built to run is frozen out of the cycle collector's walks.
        (settled,) = wait_for(lambda: _events(log, "heap.settled"), timeout=60, what="the settled heap")
        assert settled["frozen"] > 50_000, settled

        # The rule file breaks and the daemon is told: it refuses the set, keeps its rules, and
        # says so everywhere an operator looks.
        rules.write_text(broken)
        svc.proc.send_signal(signal.SIGHUP)
        health = wait_for(lambda: (h := svc.health())["status"] == "degraded" and h, what="degraded health")
        (reason,) = health["reasons"]
        assert (reason["kind"], reason["subject"]) == ("reload_failed", "config")
        assert f"test.yaml:{line}" in reason["message"]
        assert sample(svc.metrics(), "warnd_config_valid") == 0
        raised = wait_for(lambda: _jsonl(tmp_path / "ops.jsonl"), what="the notice in the ops channel")
        assert [(o["kind"], o["phase"]) for o in raised] == [("reload_failed", "raised")]
        shown = warnd("status", "-c", str(cfg))
        assert f"test.yaml:{line}" in shown.stdout, shown.stdout
        # `warnd reload` (what ExecReload runs) gets the daemon's verdict and fails with it.
        told = warnd("reload", "-c", str(cfg))
        assert told.returncode == 2 and f"test.yaml:{line}" in told.stderr, told.stderr
        assert len(_events(log, "reload.rejected")) == 2
        # The saved set is still the good one.
        assert copy.read_text() == good
    finally:
        # (b) A crash with the broken file still on disk.
        svc.kill()

    (tmp_path / "state" / "listen").unlink()
    svc = Service(cfg, log)
    try:
        health = wait_for(lambda: (h := svc.health())["status"] == "degraded" and h, what="a start from the snapshot")
        (reason,) = health["reasons"]
        assert (reason["kind"], reason["subject"]) == ("config_invalid", "config")
        assert f"test.yaml:{line}" in reason["message"] and saved["digest"] in reason["message"]
        m = svc.metrics()
        assert sample(m, "warnd_config_valid") == 0 and sample(m, "warnd_config_from_snapshot") == 1
        shown = warnd("status", "-c", str(cfg))
        assert "CONFIG ON DISK REFUSED" in shown.stdout and f"test.yaml:{line}" in shown.stdout, shown.stdout
        assert json.loads(warnd("status", "-c", str(cfg), "--format", "json").stdout)["config_refused"]
        (refused,) = _events(log, "config.refused")
        assert any(f"test.yaml:{line}" in p for p in refused["problems"])
        wait_for(
            lambda: ("config_invalid", "raised") in [(o["kind"], o["phase"]) for o in _jsonl(tmp_path / "ops.jsonl")],
            what="the notice of the start from the snapshot",
        )
        # Warnings still go out: a new quake in NTB reaches the NTB account.
        feed_server.serve("/auto.json", DOMPU)
        got = wait_for(lambda: [p for p in posts(tmp_path) if p["account"] == "ntb"], what="a warning")
        assert got[0]["event_id"] != "bmkg-eq-20240110T131726Z"

        # (c) Fixed and reloaded: clean again, and the notices are cleared.
        rules.write_text(good)
        # As the unit's ExecReload= runs it.
        told = warnd("reload", "--pid", str(svc.proc.pid), "-c", str(cfg))
        assert told.returncode == 0 and "reload applied" in told.stdout, told.stderr
        wait_for(lambda: svc.health()["status"] == "ok", what="health ok after the fix")
        m = svc.metrics()
        assert sample(m, "warnd_config_valid") == 1 and sample(m, "warnd_config_from_snapshot") == 0
        ops = wait_for(
            lambda: [o for o in _jsonl(tmp_path / "ops.jsonl") if o["phase"] == "cleared"], what="the recoveries"
        )
        assert {o["kind"] for o in ops} >= {"config_invalid"}
        assert json.loads(warnd("status", "-c", str(cfg), "--format", "json").stdout)["config_refused"] is None
        # The set the reload replaced is the collector's again, and the new one is frozen anew.
        wait_for(lambda: _settled_after(log, "reload.applied"), timeout=60, what="the heap settled after the reload")
        assert svc.stop() == 0
    finally:
        svc.kill()


def test_with_no_saved_set_a_broken_config_still_exits_2(tmp_path):
    broken = RULES_ANY_QUAKE.replace("within_km: 60", "within_km: sixty")
    cfg = write_config(tmp_path, feeds=fast_feed("http://127.0.0.1:9/none"), rules=broken)
    run = warnd("run", "-c", str(cfg))
    assert run.returncode == 2 and "test.yaml:" in run.stderr
    assert not (tmp_path / "state" / "config-snapshot").exists()
