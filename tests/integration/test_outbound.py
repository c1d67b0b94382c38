"""The outbound policy: which CA store verifies a server (an HTTPS server on loopback whose
certificate only a CA of the test's own signs), and how the environment's proxies are read."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.cli import main
from warnd.config.outbound import Outbound, ProxyConfigError, ssl_context
from warnd.config.schema import HttpSettings
from warnd.errors import FetchError
from warnd.pollers.fetch import Fetcher, Validators
from warnd.testing._server import QuietHandler

PROXY_VARS = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Path:
    """A CA of the test's own (ca.pem) and a certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=warnd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=d,
    )  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d,
    )  # fmt: skip
    return d


class _Hello(QuietHandler):
    def do_GET(self) -> None:
        self.reply(200, b'{"hello": "tls"}', "application/json")


@pytest.fixture
def https_url(tls: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls / "server.pem", tls / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/feed.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def own_ca(tls: Path, monkeypatch) -> Path:
    """The test's CA is the system store, as an organisation's CA installed on the host would be
    (OpenSSL reads SSL_CERT_FILE in place of its default file)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls / "ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return tls / "ca.pem"


def _fetch(url: str, outbound: Outbound, tmp_path: Path) -> bytes:
    async def go() -> bytes:
        f = Fetcher("warnd-test", tmp_path, outbound)
        try:
            out = await f.fetch("t", url, timeout=10, max_bytes=1000, validators=Validators())
        finally:
            await f.aclose()
        return out.body

    return asyncio.run(go())


def test_the_system_store_verifies_a_server_signed_by_a_ca_installed_on_the_host(https_url, own_ca, tmp_path):
    system = Outbound.of(HttpSettings(ca="system"))
    assert _fetch(https_url, system, tmp_path) == b'{"hello": "tls"}'
    with system.client(timeout=httpx.Timeout(5.0)) as c:
        assert c.get(https_url).status_code == 200


def test_certifi_does_not_know_the_hosts_own_ca(https_url, own_ca, tmp_path):
    certifi = Outbound.of(HttpSettings(ca="certifi"))
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        _fetch(https_url, certifi, tmp_path)
    with certifi.client(timeout=httpx.Timeout(5.0)) as c, pytest.raises(httpx.ConnectError):
        c.get(https_url)


def test_the_stores_hold_what_each_setting_names(own_ca):
    ours = ssl._ssl._test_decode_cert(str(own_ca))  # type: ignore[attr-defined]
    system = ssl_context("system").get_ca_certs()
    certifi = ssl_context("certifi").get_ca_certs()
    assert [c["subject"] for c in system] == [ours["subject"]]
    assert ours["subject"] not in [c["subject"] for c in certifi] and len(certifi) > 100


def test_environment_proxies_become_routes_and_none_ignores_them(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw-Kd9@proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    env = Outbound.of(HttpSettings(proxy="environment"))
    assert env.routes == {
        "https://": "http://user:pw-Kd9@proxy.internal:3128",
        "all://localhost": None,
        "all://*.internal.example": None,
    }
    assert env.proxied and "pw-Kd9" not in repr(env)
    none = Outbound.of(HttpSettings(proxy="none"))
    assert none.routes == {} and not none.proxied


def test_a_socks_proxy_is_refused_without_showing_its_url(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://user:pw-Zr4@proxy.internal:1080")
    with pytest.raises(ProxyConfigError) as e:
        Outbound.of(HttpSettings())
    assert "ALL_PROXY" in str(e.value) and "pw-Zr4" not in str(e.value) and "proxy.internal" not in str(e.value)
    # Told to ignore the environment, the same variable is no problem.
    assert Outbound.of(HttpSettings(proxy="none")).routes == {}


FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""


def _check(cfg, capsys):
    code = main(["check", "-c", str(cfg)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_wrong_http_setting_names_the_field_and_the_choices(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra="http:\n  proxy: squid\n")
    code, text = _check(cfg, capsys)
    assert code == 2
    assert "http.proxy" in text and "'environment' or 'none'" in text


def test_an_unusable_proxy_in_the_environment_is_a_config_problem_at_http_proxy(tmp_path, capsys, monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://warnd:pw-Hq2@proxy.internal:1080")
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    code, text = _check(cfg, capsys)
    assert code == 2
    assert "http.proxy" in text and "HTTPS_PROXY" in text and "pw-Hq2" not in text
    # The operator's way out, without touching the environment.
    code, text = _check(
        write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra="http: {proxy: none}\n"), capsys
    )
    assert code == 0, text
