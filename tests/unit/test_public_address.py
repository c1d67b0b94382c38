"""Which addresses a partner's own URL may lead to, and the URL pinned to the address checked."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from aiohttp import web

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


def test_behind_a_proxy_the_url_is_checked_but_left_to_name_its_host() -> None:
    pinned = asyncio.run(resolve("https://localhost:8443/hook", allow_loopback=True, pin=False))
    assert pinned.url == "https://localhost:8443/hook" and not pinned.headers and not pinned.extensions
    with pytest.raises(NotPublic):
        asyncio.run(resolve("https://localhost:8443/hook", allow_loopback=False, pin=False))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_a_pinned_https_request_still_checks_the_certificate_against_the_name(tmp_path: Path) -> None:
    """Connected to the address, the TLS handshake names the host (SNI) and the certificate is
    checked for it: pinning takes nothing from TLS."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def host(request: web.Request) -> web.Response:
        return web.Response(text=request.headers["Host"])

    async def scenario() -> tuple[int, str, str | None]:
        app = web.Application()
        app.router.add_get("/hook", host)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            pinned = await resolve(f"https://localhost:{port}/hook", allow_loopback=True)
            if pinned.address != "127.0.0.1":
                pytest.skip("localhost resolves to ::1 first here")
            async with httpx.AsyncClient(verify=client_ctx) as http:
                r = await http.get(pinned.url, headers=pinned.headers, extensions=pinned.extensions)
            # Without the name, the certificate does not match the address: refused.
            async with httpx.AsyncClient(verify=client_ctx) as http:
                try:
                    await http.get(pinned.url, headers=pinned.headers)
                    refused = None
                except httpx.ConnectError as e:
                    refused = str(e)
            return r.status_code, r.text, refused
        finally:
            await runner.cleanup()

    status, text, refused = asyncio.run(scenario())
    assert status == 200 and text.startswith("localhost:")
    assert refused is not None and "certificate" in refused.lower()
