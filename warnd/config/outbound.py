"""The one proxy and CA policy of every request warnd sends out: feed polls, X posts and
credential checks, partner webhooks and probes, ops webhooks. Every outbound httpx client is
made here, from the config's `http:` section, so no path can disagree with another about how
to reach the network.

Proxies are resolved once, when the policy is made, into httpx mounts; the clients themselves
run with trust_env off, so nothing else in the environment (a netrc, SSL_CERT_FILE read by
httpx rather than OpenSSL) changes what one client does and not another. A proxy URL may hold
credentials: it never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

import certifi
import httpx

# httpx's own reading of NO_PROXY (curl's rules: ".example.com", "example.com", IP addresses,
# "localhost", "*"), so the patterns mean what httpx documents for its environment support.
from httpx._utils import get_environment_proxies

from warnd.config.schema import HttpSettings

ProxyMode = Literal["environment", "none"]
CaMode = Literal["system", "certifi"]
_T = TypeVar("_T", httpx.HTTPTransport, httpx.AsyncHTTPTransport)


class ProxyConfigError(ValueError):
    """A proxy variable warnd cannot use; the message names the variable, never its value."""


def environment_routes() -> dict[str, str | None]:
    """httpx mount pattern -> proxy URL, or None for "connect directly" (NO_PROXY), from the
    process's environment as urllib and httpx read it (lower-case names first)."""
    given = getproxies_environment()
    routes = get_environment_proxies()
    for scheme in ("http", "https", "all"):
        url = given.get(scheme)
        if not url:
            continue
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProxyConfigError(
                f"{scheme.upper()}_PROXY (or {scheme}_proxy) is not an http:// or https:// proxy URL"
                " (SOCKS proxies are not supported); fix it, or set http.proxy: none"
            )
    return routes


@lru_cache(maxsize=4)
def _context(ca: CaMode, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # cert_file and cert_dir are only the cache key: OpenSSL reads SSL_CERT_FILE / SSL_CERT_DIR
    # itself when it loads its default paths, so a context made before they changed is stale.
    if ca == "certifi":
        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context()


def ssl_context(ca: CaMode) -> ssl.SSLContext:
    """system: OpenSSL's default paths, which on a Linux host are the distribution's store
    (/etc/ssl/certs, where update-ca-certificates puts an organisation's own CA); certifi: only
    certifi's copy of Mozilla's bundle. Loaded once per process and shared: loading a store
    costs tens of milliseconds, and a context is safe to share between clients and threads."""
    return _context(ca, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@dataclass(frozen=True, slots=True)
class Outbound:
    proxy: ProxyMode = "environment"
    ca: CaMode = "system"
    # Kept out of repr: a proxy URL may carry a user and password.
    routes: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, settings: HttpSettings) -> Outbound:
        """ProxyConfigError when the environment names a proxy warnd cannot use."""
        routes = environment_routes() if settings.proxy == "environment" else {}
        return cls(settings.proxy, settings.ca, routes)

    @property
    def proxied(self) -> bool:
        return any(url is not None for url in self.routes.values())

    def async_client(
        self,
        *,
        timeout: httpx.Timeout,
        headers: Mapping[str, str],
        follow_redirects: bool = False,
        max_redirects: int = 0,
        limits: httpx.Limits | None = None,
        retries: int = 0,
    ) -> httpx.AsyncClient:
        """For the daemon's event loop. HTTP/1.1 only: h2 is not installed, and every peer of
        warnd (feeds, partners, X) speaks 1.1."""
        default, mounts = self._transports(httpx.AsyncHTTPTransport, limits, retries)
        return httpx.AsyncClient(
            headers=dict(headers),
            timeout=timeout,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            trust_env=False,
            transport=default,
            mounts=mounts,
        )

    def client(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits | None = None,
    ) -> httpx.Client:
        """Blocking, for code that runs in threads (tweepy). Never follows a redirect itself: the
        caller above it decides."""
        default, mounts = self._transports(httpx.HTTPTransport, limits, 0)
        return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=default, mounts=mounts)

    def _transports(self, kind: type[_T], limits: httpx.Limits | None, retries: int) -> tuple[_T, dict[str, _T | None]]:
        ctx = ssl_context(self.ca)
        pool = limits if limits is not None else httpx.Limits()

        def make(proxy: str | None) -> _T:
            return kind(verify=ctx, http1=True, http2=False, limits=pool, retries=retries, proxy=proxy)

        # A None mount sends that pattern through the default (direct) transport: NO_PROXY.
        mounts: dict[str, _T | None] = {p: make(url) if url else None for p, url in self.routes.items()}
        return make(None), mounts
