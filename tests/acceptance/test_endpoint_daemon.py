"""The daemon's two listeners and its operator token, with `warnd status` asking as an operator
would: through a shell that has a proxy set for the outside world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed, wait_for
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.daemon import DaemonProcess

pytestmark = pytest.mark.acceptance

TOKEN = "op-token-7f3a9c"
TOKEN_ENV = {"WARND_SECRET_OPS_TOKEN": TOKEN}
# A proxy nobody listens on: anything sent through it fails.
PROXIED = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def status(cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARND_SECRET_")}
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg), "--format", "json"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


def test_two_listeners_a_token_and_status_past_a_proxy(tmp_path: Path, feed_server) -> None:
    url = feed_server.serve("/auto.json", SUMEDANG)
    extra = "public_listen: 127.0.0.1:0\noperator_token: ops-token\n"
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    d = DaemonProcess(cfg, TOKEN_ENV)
    try:
        d.ready()
        state = tmp_path / "state"
        # Port 0 on both: each bound address is written where `warnd status` and tests look.
        operator = wait_for(lambda: _read(state / "listen"), what="the operator address")
        public = wait_for(lambda: _read(state / "public_listen"), what="the public address")
        assert operator != public
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(trust_env=False, timeout=10) as client:
            assert client.get(f"http://{public}/cap/").status_code == 200
            for path in ("/status", "/metrics", "/healthz"):
                assert client.get(f"http://{public}{path}", headers=auth).status_code == 404
            assert client.get(f"http://{operator}/status").status_code == 401
            assert client.get(f"http://{operator}/status", headers=auth).json()["source"] == "daemon"
            assert set(client.get(f"http://{operator}/healthz").json()) == {"status"}

        # An operator's shell with a proxy set: status asks the daemon directly, with the token.
        st = status(cfg, {**PROXIED, **TOKEN_ENV})
        doc = json.loads(st.stdout)
        assert doc["source"] == "daemon", st.stdout[-500:] + st.stderr[-500:]
        assert st.returncode in (0, 1)  # ok, or degraded/failing health: answered either way
        assert TOKEN not in st.stdout + st.stderr

        # Without the token the daemon is still found, and the refusal is said as such.
        st = status(cfg, PROXIED)
        doc = json.loads(st.stdout)
        assert doc["source"] == "state database"
        assert "refused /status" in doc["note"] and "401" in doc["note"], doc["note"]
        assert d.stop() == 0
    finally:
        d.kill()
    log = d.log.read_text()
    assert TOKEN not in log
    assert not (state / "public_listen").exists()


def test_an_operator_listener_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, feeds=fast_feed("http://127.0.0.1:9/none"), rules=RULES_ANY_QUAKE, extra="", replay=True
    )
    cfg.write_text(cfg.read_text().replace("listen: 127.0.0.1:0", "listen: 0.0.0.0:0"))
    run = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "listen" in run.stderr and "operator_token" in run.stderr, run.stderr
    # With a token named, the same address is accepted; `check --secrets` wants its credential.
    cfg.write_text(cfg.read_text() + "\noperator_token: ops-token\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARND_SECRET_")}
    runs = [
        subprocess.run(
            [sys.executable, "-m", "warnd.cli", "check", "--secrets", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        for env in (clean, {**clean, **TOKEN_ENV})
    ]
    assert runs[0].returncode == 2 and "operator_token" in runs[0].stderr, runs[0].stderr
    assert "WARND_SECRET_OPS_TOKEN" in runs[0].stderr
    assert runs[1].returncode == 0, runs[1].stdout + runs[1].stderr
    assert TOKEN not in runs[1].stdout + runs[1].stderr


def test_a_reload_reads_a_rotated_operator_token(tmp_path: Path, feed_server) -> None:
    url = feed_server.serve("/auto.json", SUMEDANG)
    cfg = write_config(
        tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra="operator_token: ops-token\n", replay=True
    )
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "ops-token").write_text("first-token\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARND_SECRET_")}
    d = DaemonProcess(cfg, {"CREDENTIALS_DIRECTORY": str(creds)})
    try:
        d.ready()
        operator = wait_for(lambda: _read(tmp_path / "state" / "listen"), what="the operator address")

        def asked(token: str) -> int:
            with httpx.Client(trust_env=False, timeout=10) as client:
                return client.get(f"http://{operator}/status", headers={"Authorization": f"Bearer {token}"}).status_code

        assert (asked("first-token"), asked("second-token")) == (200, 401)
        (creds / "ops-token").write_text("second-token\n")
        reload = subprocess.run(
            [sys.executable, "-m", "warnd.cli", "reload", "--pid", str(d.proc.pid), "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, "CREDENTIALS_DIRECTORY": str(creds)},
        )
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert (asked("first-token"), asked("second-token")) == (401, 200)
        assert d.stop() == 0
    finally:
        d.kill()
    assert "first-token" not in d.log.read_text() and "second-token" not in d.log.read_text()
