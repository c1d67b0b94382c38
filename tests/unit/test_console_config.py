"""The `console:` section: its defaults, and what it refuses (a demo login beyond loopback, a
trusted proxy that is not an address), each problem naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.config.load import load
from warnd.config.schema import ConsoleSettings
from warnd.errors import ConfigError

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
    assert c.trusted_proxies == ["127.0.0.1", "::1"]


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
