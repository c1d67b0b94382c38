"""Behind an egress proxy every outbound request of the daemon goes through it: feed polls, X
posts and credential checks, partner webhooks and probes, ops webhooks. With `http.proxy: none`
none does, whatever the environment says."""

from __future__ import annotations

import signal

import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, Daemon, fast_feed, log_lines, posts, wait_for
from tests.acceptance.test_service import Service
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.fake_x import FakeX
from warnd.testing.forward_proxy import ForwardProxy
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

PROXY_USER, PROXY_PASSWORD = "egress", "proxy-pw-Vt7Qx"
SECRETS = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN": "tok-jabar-Rw5Nd",
    "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "sec-jabar-Lp3Xa",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN": "tok-ntb-Gc8Tz",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN_SECRET": "sec-ntb-Mh4Qs",
    "WARND_SECRET_PARTNER_RADIO": "radio-Yk2Bv",
    "WARND_SECRET_OPS_CHAT": "ops-Jn6Wc",
}


def _host(base: str) -> str:
    return base.removeprefix("http://")


@pytest.mark.parametrize("mode", ["environment", "none"])
def test_every_outbound_request_goes_through_the_environments_proxy_unless_told_not_to(
    tmp_path, feed_server, mode, monkeypatch
):
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users={"tok-jabar-Rw5Nd": ("sec-jabar-Lp3Xa", "jabar"), "tok-ntb-Gc8Tz": ("sec-ntb-Mh4Qs", "ntb")},
    )
    # A revoked account: its failed check is an operator notice, which goes to the ops webhook.
    fake.revoke("ntb")
    sink = WebhookSink({"radio": SECRETS["WARND_SECRET_PARTNER_RADIO"], "ops": SECRETS["WARND_SECRET_OPS_CHAT"]})
    proxy = ForwardProxy(require=(PROXY_USER, PROXY_PASSWORD))
    for server in (fake, sink, proxy):
        server.start()
    # Lower-case names win over upper-case ones in urllib (and so in httpx): a proxy set in the
    # shell running the tests must not stand in for this one.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **SECRETS,
        "HTTP_PROXY": proxy.url(),
        "HTTPS_PROXY": proxy.url(),
        # Nothing exempt, loopback included: the fakes are on 127.0.0.1.
        "NO_PROXY": "",
    }
    url = feed_server.serve("/auto.json", SUMEDANG)
    accounts = """
  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}
  ntb: {channel: x, name: "NTB", regions: ["52"], credential: x-ntb}
"""
    extra = f"""x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [jabar]}}
ops:
  chat: {{channel: webhook, url: "{sink.url("ops")}", secret: ops-chat}}
credential_checks: {{every: 1h, failed_every: 1h}}
http:
  proxy: {mode}
"""
    cfg = write_config(
        tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra, replay=True
    )
    svc = Service(cfg, tmp_path / "log.jsonl", env)
    try:
        wait_for(lambda: fake.posts_by("jabar"), what="the post on X")
        wait_for(lambda: sink.receipts("radio"), what="the partner webhook")
        wait_for(lambda: sink.probes("radio"), what="the partner probe")
        wait_for(lambda: sink.receipts("ops"), what="the ops webhook (ntb's failed check)")
        # The fake counts a revoked token's call among the unknown (None).
        wait_for(lambda: fake.me_calls("jabar") and fake.me_calls(None), what="both credential checks")
        assert svc.stop() == 0
    finally:
        svc.kill()
        for server in (fake, sink, proxy):
            server.stop()

    # What each fake received, counted by the fake itself.
    at_origin = {
        (_host(feed_server.base), "/auto.json"): len(feed_server.hits("/auto.json")),
        (_host(fake.base), "/2/tweets"): len(fake.attempts_by("jabar")) + len(fake.attempts_by("ntb")),
        (_host(fake.base), "/2/users/me"): sum(len(fake.me_calls(who)) for who in ("jabar", "ntb", None)),
        (_host(sink.base), "/radio"): len([r for r in sink.state.requests if r.partner == "radio"]),
        (_host(sink.base), "/ops"): len([r for r in sink.state.requests if r.partner == "ops"]),
    }
    assert all(at_origin.values()), at_origin
    # The warnings' maps go to X too (an upload and its alt text), each request counted alike.
    media = {
        (_host(fake.base), "/2/media/upload"): sum(len(fake.uploads_by(who)) for who in ("jabar", "ntb")),
        (_host(fake.base), "/2/media/metadata"): len(fake.state.alt_texts),
    }
    at_origin |= {where: n for where, n in media.items() if n}
    counts = proxy.counts()
    if mode == "environment":
        # Every request each fake saw came through the proxy, and the proxy forwarded nothing else.
        assert {where: counts[where] for where in at_origin} == at_origin
        assert sum(counts.values()) == sum(at_origin.values())
        probes = [f for f in proxy.forwarded(path="/radio") if f.headers.get("X-Warnd-Kind") == "probe"]
        assert probes, "the partner probe did not go through the proxy"
        assert proxy.state.refused == []
    else:
        assert sum(counts.values()) == 0 and proxy.state.refused == []
    # The proxy's password is a secret: it never appears in the daemon's log.
    assert PROXY_PASSWORD not in (tmp_path / "log.jsonl").read_text()


def test_a_reload_that_changes_the_http_section_is_refused_and_the_daemon_keeps_running(tmp_path, feed_server):
    url = feed_server.serve("/auto.json", SUMEDANG)
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, replay=True)
    daemon = Daemon(cfg, tmp_path / "log.jsonl")
    try:
        wait_for(lambda: posts(tmp_path), what="the first warning")
        cfg.write_text(cfg.read_text() + "\nhttp:\n  ca: certifi\n")
        daemon.proc.send_signal(signal.SIGHUP)
        rejected = wait_for(
            lambda: [x for x in log_lines(tmp_path / "log.jsonl") if x["event"] == "reload.rejected"], what="rejection"
        )
        assert rejected[0]["problems"] == ["http cannot change on reload; restart instead"]
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0
