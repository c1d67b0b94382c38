"""The daemon checks its credentials at start: a revoked X token and a partner endpoint that is
gone are operator notices before any warning needs them, and clear once restored."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.test_daemon_end_to_end import fast_feed, log_lines, wait_for
from tests.acceptance.test_service import Service, _jsonl, sample
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

SECRETS = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN": "tok-jabar-Qe4Lm",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "sec-jabar-Zt8Wn",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN": "tok-ntb-Hb2Vc",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN_SECRET": "sec-ntb-Jd6Ry",
    "WARND_SECRET_PARTNER_RADIO": "radio-Fs3Kp",
}


def test_a_revoked_token_and_a_gone_partner_are_notices_from_the_start_check(tmp_path, feed_server):
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users={"tok-jabar-Qe4Lm": ("sec-jabar-Zt8Wn", "jabar"), "tok-ntb-Hb2Vc": ("sec-ntb-Jd6Ry", "ntb")},
    )
    sink = WebhookSink({"radio": SECRETS["WARND_SECRET_PARTNER_RADIO"]})
    fake.revoke("ntb")
    sink.down["radio"] = 410
    fake.start()
    sink.start()
    # A feed that never answers: no warning is ever issued, so whatever reaches X and the
    # partner is a check.
    url = feed_server.serve("/auto.json", b"{}", status=404)
    accounts = """
  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}
  ntb: {channel: x, name: "NTB", regions: ["52"], credential: x-ntb}
"""
    extra = f"""x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [jabar]}}
credential_checks: {{every: 1h, failed_every: 0.5s}}
ops:
  log: {{channel: file, path: {tmp_path}/ops.jsonl}}
"""
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra)
    svc = Service(cfg, tmp_path / "log.jsonl", SECRETS)

    def raised() -> list[tuple[str, str, str]]:
        return [(o["kind"], o["subject"], o["phase"]) for o in _jsonl(tmp_path / "ops.jsonl")]

    try:
        wait_for(
            lambda: (
                {
                    ("credential_check_failed", "account:ntb", "raised"),
                    ("credential_check_failed", "partner:radio", "raised"),
                }
                <= set(raised())
            ),
            what="the notices of the start check",
        )
        reasons = {r["subject"]: r for r in svc.health()["reasons"] if r["kind"] == "credential_check_failed"}
        assert "X account ntb (credential x-ntb)" in reasons["account:ntb"]["message"]
        assert "partner radio" in reasons["partner:radio"]["message"] and "410" in reasons["partner:radio"]["message"]
        # The start checks spread over a few seconds.
        m = wait_for(
            lambda: (m := svc.metrics()) and sample(m, "warnd_credential_check_ok", target="account:jabar") and m,
            what="jabar's check",
        )
        assert sample(m, "warnd_credential_check_ok", target="account:jabar") == 1
        assert sample(m, "warnd_credential_check_ok", target="account:ntb") == 0
        # A check is no delivery.
        assert sample(m, "warnd_deliveries_total") is None and sink.receipts("radio") == []

        fake.reinstate("ntb")
        del sink.down["radio"]
        wait_for(
            lambda: (
                {
                    ("credential_check_failed", "account:ntb", "cleared"),
                    ("credential_check_failed", "partner:radio", "cleared"),
                }
                <= set(raised())
            ),
            what="the recoveries",
        )
        assert not [r for r in svc.health()["reasons"] if r["kind"] == "credential_check_failed"]
        assert sink.probes("radio")
        # The working account was asked once: the next check is an hour away.
        assert fake.me_calls("jabar") == [200]
        assert svc.stop() == 0
    finally:
        svc.kill()
        fake.stop()
        sink.stop()
    text = (tmp_path / "log.jsonl").read_text() + (tmp_path / "ops.jsonl").read_text()
    assert not [k for k, v in SECRETS.items() if v in text]
    assert any(x["event"] == "credential.check_failed" for x in log_lines(tmp_path / "log.jsonl"))
    assert json.loads((tmp_path / "ops.jsonl").read_text().splitlines()[0])["kind"] == "credential_check_failed"
