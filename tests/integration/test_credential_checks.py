"""Credential checks against the loopback fakes: X's GET /2/users/me and signed partner probes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.channels.webhook import PROBE_SCHEMA
from warnd.errors import DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.runtime.build import build
from warnd.runtime.conditions import Live, collect
from warnd.runtime.credchecks import CredentialChecks
from warnd.store.sqlite import connect
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

FEEDS = "  - {id: auto, format: bmkg-tews, url: 'http://127.0.0.1:9/x.json', interval: 60}\n"
T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
SECRETS = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN": "tok-jabar-7Hq2",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "sec-jabar-9Lp4",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN": "tok-ntb-3Vx8",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN_SECRET": "sec-ntb-5Rm1",
    "WARND_SECRET_PARTNER_RADIO": "radio-secret-2Kd6",
    "WARND_SECRET_PARTNER_TV": "tv-secret-8Wc3",
}


@pytest.fixture
def fakes(monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users={"tok-jabar-7Hq2": ("sec-jabar-9Lp4", "jabar"), "tok-ntb-3Vx8": ("sec-ntb-5Rm1", "ntb")},
    )
    sink = WebhookSink({"radio": SECRETS["WARND_SECRET_PARTNER_RADIO"], "tv": SECRETS["WARND_SECRET_PARTNER_TV"]})
    fake.start()
    sink.start()
    try:
        yield fake, sink
    finally:
        fake.stop()
        sink.stop()


def _config(tmp_path: Path, fake: FakeX, sink: WebhookSink) -> Path:
    accounts = """
  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}
  ntb: {channel: x, name: "NTB", regions: ["52"], credential: x-ntb}
"""
    extra = f"""x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [jabar]}}
  tv: {{name: TV, url: "{sink.url("tv")}", secret: partner-tv, accounts: [ntb], probe: false}}
credential_checks: {{every: 1h, failed_every: 1s, jitter: 0}}
"""
    return write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra)


def test_a_revoked_token_and_a_gone_endpoint_are_found_at_start_and_clear_when_restored(tmp_path, fakes):
    fake, sink = fakes
    bundle = build(_config(tmp_path, fake, sink), with_senders=True)
    conn = connect(tmp_path / "w.db")
    changes: list[int] = []

    async def changed() -> None:
        changes.append(1)

    async def scenario() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        loop = asyncio.get_running_loop()
        checks = CredentialChecks(lambda: bundle, Metrics(), lambda: True, changed)
        fake.revoke("ntb")
        sink.down["radio"] = 410
        await checks.check_due(loop.time())
        at_start = dict(checks.failing)
        # Not due again for the working account: an hour away.
        await checks.check_due(loop.time() + 2)
        again = dict(checks.failing)
        fake.reinstate("ntb")
        del sink.down["radio"]
        await checks.check_due(loop.time() + 4)
        restored = dict(checks.failing)
        for sender in bundle.senders.values():
            await sender.aclose()
        return at_start, again, restored

    at_start, again, restored = asyncio.run(scenario())
    assert sorted(at_start) == ["account:ntb", "partner:radio"]
    assert "X account ntb (credential x-ntb) was refused" in at_start["account:ntb"]
    assert "401" in at_start["account:ntb"]
    assert "partner radio" in at_start["partner:radio"] and "410" in at_start["partner:radio"]
    assert again == at_start
    assert restored == {}
    assert len(changes) == 2

    # X saw the revoked token as X does: 401 for an unknown token; jabar was asked once only.
    assert fake.me_calls("jabar") == [200]
    assert fake.me_calls(None) == [401, 401] and fake.me_calls("ntb") == [200]
    # The partner got signed probes, told apart from warnings; the partner that opted out none.
    assert sink.receipts("radio") == [] and sink.probes("tv") == []
    (probe,) = sink.probes("radio")
    body = json.loads(probe.body)
    assert body["schema"] == PROBE_SCHEMA and body["partner"] == "radio"

    # Each failure is a notice naming the account or partner, never a secret.
    found = collect(conn, bundle, T0, Live(T0, credential_failures=at_start))
    checked = [c for c in found if c.kind == "credential_check_failed"]
    assert [c.subject for c in checked] == ["account:ntb", "partner:radio"]
    text = json.dumps([c.to_json() for c in found])
    assert not [v for v in SECRETS.values() if v in text]
    assert not [
        c for c in collect(conn, bundle, T0, Live(T0, credential_failures=restored)) if c.kind.startswith("cred")
    ]


def test_a_probe_is_signed_and_a_changed_secret_is_refused(tmp_path, fakes):
    fake, sink = fakes
    bundle = build(_config(tmp_path, fake, sink), with_senders=True)
    sender = bundle.senders["partner:radio"]

    async def probe() -> Failure | None:
        try:
            await sender.probe()  # type: ignore[attr-defined]
        except DeliveryError as e:
            return e.failure
        finally:
            await sender.aclose()
        return None

    # The sink records a probe only once its signature verified.
    assert asyncio.run(probe()) is None
    (got,) = sink.probes("radio")
    assert got.content_type.startswith("application/json") and got.key.startswith("probe-")
    # The partner changed its secret: the probe is refused as a warning would be.
    sink.secrets["radio"] = "the-partner-rotated-it"
    assert asyncio.run(probe()) is Failure.AUTH
    assert len(sink.probes("radio")) == 1 and sink.state.rejected[-1][0] == "radio"


def test_a_partner_answering_5xx_is_a_notice_only_when_the_next_check_meets_it_too(tmp_path, fakes):
    fake, sink = fakes
    bundle = build(_config(tmp_path, fake, sink), with_senders=True)

    async def scenario() -> list[list[str]]:
        loop = asyncio.get_running_loop()
        checks = CredentialChecks(lambda: bundle, Metrics(), lambda: True)
        seen = []
        sink.down["radio"] = 503
        await checks.check_due(loop.time())
        seen.append(sorted(checks.failing))
        await checks.check_due(loop.time() + 2)
        seen.append(sorted(checks.failing))
        # A passing outage: one 503, then it answers again.
        del sink.down["radio"]
        await checks.check_due(loop.time() + 4)
        seen.append(sorted(checks.failing))
        sink.down["radio"] = 503
        await checks.check_due(loop.time() + 3700)
        seen.append(sorted(checks.failing))
        del sink.down["radio"]
        await checks.check_due(loop.time() + 3702)
        seen.append(sorted(checks.failing))
        for sender in bundle.senders.values():
            await sender.aclose()
        return seen

    assert asyncio.run(scenario()) == [[], ["partner:radio"], [], [], []]
