"""A partner subscribes itself to the running daemon: it asks on the public listener, answers
the challenge, is given its secret once; the operator approves it with `warnd subscription`;
the daemon restarts; a recorded quake then reaches the partner once, signed with that secret,
and the secret is nowhere in the daemon's log or `warnd status`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", *args, "-c", str(cfg)], capture_output=True, text=True, timeout=120
    )


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def test_a_partner_subscribes_is_approved_and_after_a_restart_gets_the_quake_once_signed(tmp_path, feed_server):
    sink = WebhookSink({})
    sink.start()
    # Nothing to read yet: the quake comes once the subscription is approved and warnd restarted.
    url = feed_server.base + "/auto.json"
    extra = """public_listen: 127.0.0.1:0
http:
  proxy: none
subscriptions:
  enabled: true
  allow_loopback: true
"""
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True)
    d = DaemonProcess(cfg)
    try:
        d.ready()
        public = wait_for(lambda: _read(tmp_path / "state" / "public_listen"), 30, "the public address")
        r = httpx.post(
            f"http://{public}/subscriptions",
            json={"name": "radio", "contact": "redaksi@radio.example", "url": sink.url("radio"), "accounts": ["jabar"]},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        shown = r.json()
        secret, sub_id = shown["secret"], shown["id"]
        assert [p for p, _ in sink.state.challenges] == ["radio"]
        sink.secrets["radio"] = secret

        listed = cli(cfg, "subscription", "list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["id"] == sub_id and row["state"] == "pending" and secret not in listed.stdout
        approved = cli(cfg, "subscription", "approve", sub_id)
        assert approved.returncode == 0, approved.stderr
        assert "active" in approved.stdout
    finally:
        assert d.stop() == 0

    d = DaemonProcess(cfg)
    try:
        d.ready()
        feed_server.serve("/auto.json", SUMEDANG)
        got = wait_for(lambda: sink.receipts("radio"), 60, "the quake at the subscriber")
        # Once: no second delivery of it however long the feed keeps serving it.
        time.sleep(3)
        assert len(sink.receipts("radio")) == 1 and not sink.state.repeats and not sink.state.rejected
        body = json.loads(got[0].body)
        assert body["partner"] == "sub-radio" and body["warning"]["account"] == "jabar"
        # Signed with the secret the partner was shown, checked here as docs/partners.md says.
        (req,) = [q for q in sink.state.requests if q.partner == "radio"]
        h = {k.lower(): v for k, v in req.headers.items()}
        signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + req.body
        mac = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
        assert f"v1,{mac}" in h["webhook-signature"].split()

        status = cli(cfg, "status", "--format", "json")
        assert secret not in status.stdout + status.stderr
    finally:
        assert d.stop() == 0
        sink.stop()
    assert secret not in d.log.read_text()
    assert sub_id in d.log.read_text()
