"""Which addresses a partner's own URL may lead to, and the URL pinned to the address checked."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from warnd.runtime.public_address import NotPublic, allowed, numeric_shorthand, resolve


@pytest.mark.parametrize(
    "host", ["167772161", "2852039166", "0xa.0.0.1", "012.0.0.1", "10.1", "0", "a.0x1", "0x7f.1", "127.1", "1.2.3.4.5"]
)
def test_numeric_shorthands_are_refused(host: str) -> None:
    assert numeric_shorthand(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "203.0.113.9", "radio.example", "1a.example", "0x.example", "::1"])
def test_names_and_dotted_quads_are_not_shorthands(host: str) -> None:
    assert not numeric_shorthand(host)


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "127.0.0.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "192.168.1.1", "::", "::1", "fe80::1",
     "fc00::1", "::ffff:10.0.0.1", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "224.0.0.1"],
)  # fmt: skip
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not allowed(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert allowed(ipaddress.ip_address(address), allow_loopback=False)


def test_loopback_only_when_allowed() -> None:
    assert allowed(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert allowed(ipaddress.ip_address("::1"), allow_loopback=True)
    assert not allowed(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)


def test_a_name_is_resolved_checked_and_pinned_to_the_address_checked() -> None:
    pinned = asyncio.run(resolve("https://localhost:8443/hook?x=1", allow_loopback=True))
    assert pinned.address in ("127.0.0.1", "::1")
    host = "127.0.0.1" if pinned.address == "127.0.0.1" else "[::1]"
    assert pinned.url == f"https://{host}:8443/hook?x=1"
    # The server still sees the name it was asked by, and TLS checks the certificate for it.
    assert pinned.headers == {"Host": "localhost:8443"} and pinned.extensions == {"sni_hostname": "localhost"}
    with pytest.raises(NotPublic, match="not a public address"):
        asyncio.run(resolve("https://localhost:8443/hook", allow_loopback=False))
    with pytest.raises(NotPublic, match="does not resolve"):
        asyncio.run(resolve("https://nonexistent.invalid/hook", allow_loopback=False))
    with pytest.raises(NotPublic, match="shorthand"):
        asyncio.run(resolve("https://2852039166/", allow_loopback=False))
