"""The `console:` section: its defaults, and what it refuses (a demo login beyond loopback, a
trusted proxy that is not an address), each problem naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.config.load import load
from warnd.config.schema import ConsoleSettings
from warnd.config.secrets import Credentials
from warnd.errors import ConfigError
from warnd.runtime.build import build

FEED = "  - {id: autogempa, format: bmkg-tews, url: 'http://127.0.0.1:9/auto.json'}\n"


def test_the_defaults() -> None:
    c = ConsoleSettings()
    assert (c.enabled, c.auth, c.proxy_header, c.session_hours, c.demo_login) == (
        True,
        "users",
        "X-Remote-User",
        12.0,
        False,
    )
    assert c.trusted_proxies == [] and c.hosts is None


def test_a_trusted_proxy_must_be_an_address_or_a_network() -> None:
    assert ConsoleSettings(trusted_proxies=["10.0.0.0/8", "fd00::1"]).trusted_proxies == ["10.0.0.0/8", "fd00::1"]
    with pytest.raises(ValidationError, match=r"item 1: 'proxy\.example\.org' is not an IP address or network"):
        ConsoleSettings(trusted_proxies=["127.0.0.1", "proxy.example.org"])


def test_a_demo_login_only_on_a_loopback_listener(tmp_path: Path) -> None:
    extra = "operator_token: ops\nconsole: {demo_login: true}\n"
    cfg = write_config(tmp_path, feeds=FEED, rules=RULES_ANY_QUAKE, extra=extra)
    assert load(cfg).file.console.demo_login
    cfg.write_text(cfg.read_text().replace("listen: 127.0.0.1:0", "listen: 0.0.0.0:8790"))
    with pytest.raises(ConfigError) as e:
        load(cfg)
    assert "console.demo_login" in str(e.value.problems[0])


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, feeds=FEED, rules=RULES_ANY_QUAKE, extra="console: {auth: ldap}\n")
    with pytest.raises(ConfigError) as e:
        load(cfg)
    assert "console.auth" in str(e.value.problems[0])


def test_proxy_mode_needs_a_secret_and_its_proxies_named() -> None:
    assert ConsoleSettings().trusted_proxies == [] and ConsoleSettings().proxy_secret is None
    with pytest.raises(ValidationError, match=r"auth: proxy needs proxy_secret"):
        ConsoleSettings(auth="proxy", trusted_proxies=["127.0.0.1"])
    with pytest.raises(ValidationError, match=r"auth: proxy needs trusted_proxies"):
        ConsoleSettings(auth="proxy", proxy_secret="console-proxy")
    ok = ConsoleSettings(auth="proxy", trusted_proxies=["127.0.0.1"], proxy_secret="console-proxy")
    assert ok.proxy_secret == "console-proxy"


def test_warnd_check_refuses_proxy_mode_without_its_secret(tmp_path: Path) -> None:
    extra = "console: {auth: proxy, trusted_proxies: ['127.0.0.1']}\n"
    cfg = write_config(tmp_path, feeds=FEED, rules=RULES_ANY_QUAKE, extra=extra)
    with pytest.raises(ConfigError) as e:
        load(cfg)
    assert "console" in str(e.value.problems[0]) and "proxy_secret" in str(e.value.problems[0])
    cfg.write_text(cfg.read_text().replace("auth: proxy,", "auth: proxy, proxy_secret: console-proxy,"))
    assert load(cfg).file.console.proxy_secret == "console-proxy"
    # The secret named but in no credential: `warnd check --secrets` says so, naming the field.
    with pytest.raises(ConfigError) as e:
        build(cfg, with_senders=False, check_secrets=True, credentials=Credentials(None, {}))
    assert any(p.path == "console.proxy_secret" and "console-proxy" in p.message for p in e.value.problems)
    build(
        cfg, with_senders=False, check_secrets=True, credentials=Credentials(None, {"WARND_SECRET_CONSOLE_PROXY": "s"})
    )


def test_hosts_are_host_header_values() -> None:
    assert ConsoleSettings().hosts is None
    assert ConsoleSettings(hosts=["Warnd.example.org", "[::1]:8790", "10.0.0.5:8790"]).hosts == [
        "warnd.example.org",
        "[::1]:8790",
        "10.0.0.5:8790",
    ]
    for bad in ("https://warnd.example.org", "warnd.example.org/console", "a b"):
        with pytest.raises(ValidationError, match=r"item 0: .* is not a Host header value"):
            ConsoleSettings(hosts=[bad])
