"""The operator console on the running daemon: an operator added with `warnd operator add`
logs in, and the state the console shows lists the warning the recorded quake made; the public
listener knows nothing of the console."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed, posts, wait_for
from tests.acceptance.test_endpoint_daemon import _read
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.daemon import DaemonProcess

pytestmark = pytest.mark.acceptance

PASSWORD = "correct horse battery"


def test_an_operator_added_by_the_cli_logs_in_and_sees_the_quakes_warning(tmp_path: Path, feed_server) -> None:
    url = feed_server.serve("/auto.json", SUMEDANG)
    cfg = write_config(
        tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra="public_listen: 127.0.0.1:0\n", replay=True
    )
    added = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "operator", "add", "siti", "--password-stdin", "-c", str(cfg)],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "operator", "list", "-c", str(cfg)], capture_output=True, text=True
    )
    assert "siti" in listed.stdout

    d = DaemonProcess(cfg)
    try:
        d.ready()
        wait_for(lambda: posts(tmp_path), what="the quake's post")
        operator = wait_for(lambda: _read(tmp_path / "state" / "listen"), what="the operator address")
        public = wait_for(lambda: _read(tmp_path / "state" / "public_listen"), what="the public address")
        with httpx.Client(base_url=f"http://{operator}", trust_env=False, timeout=20) as client:
            assert client.get("/console/api/state").status_code == 401
            wrong = client.post("/console/login", json={"user": "siti", "password": "not it"})
            assert wrong.status_code == 401
            ok = client.post("/console/login", json={"user": "siti", "password": PASSWORD})
            assert ok.status_code == 200, ok.text
            assert ok.json()["user"] == "siti" and ok.json()["csrf"]
            me = client.get("/console/api/me").json()
            assert me["user"] == "siti" and me["auth"] == "users" and me["demo_login"] is None
            state = client.get("/console/api/state").json()
            assert state["status"]["source"] == "daemon"
            ours = [w for w in state["warnings"] if w["account"] == "jabar"]
            assert ours, state["warnings"]
            assert ours[0]["event_id"] in {e["id"] for e in state["events"]}
            assert "account:jabar" in {dl["target"] for dl in ours[0]["deliveries"]}
            assert any(step["event_id"] == ours[0]["event_id"] for step in state["decisions"])
        with httpx.Client(trust_env=False, timeout=20) as client:
            assert client.get(f"http://{public}/console/").status_code == 404
            assert client.post(f"http://{public}/console/login", json={"user": "siti"}).status_code == 404
        assert d.stop() == 0
        assert PASSWORD not in d.log.read_text()
    finally:
        d.kill()
