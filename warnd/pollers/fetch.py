"""Fetching one feed document: from a file path, a file:// URL or http(s).

Bounded in every direction: one total deadline per fetch (httpx's read timeout is per socket
read, so a server dripping a byte a second would otherwise hold a poll forever), a size cap on
the decoded body (decompressed here with max_length, so a gzip bomb never allocates more than
the cap), and a limited number of redirects. A 304 is a success that costs nothing.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from warnd.config.outbound import Outbound
from warnd.errors import FeedError, FetchError
from warnd.pollers.document import GZIP_MAGIC, gunzip_capped
from warnd.redact import redact_url

MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    not_modified: bool
    body: bytes
    validators: Validators
    status: int
    elapsed: float


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def local_path(url: str, base: Path) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    p = Path(url).expanduser()
    return p if p.is_absolute() else base / p


class Fetcher:
    def __init__(self, user_agent: str, base: Path, outbound: Outbound) -> None:
        self.base = base
        self.client = outbound.async_client(
            headers={
                "User-Agent": user_agent,
                # Bodies are decompressed here, under the size cap; httpx's own decoder would
                # inflate a whole chunk first.
                "Accept-Encoding": "gzip, deflate",
            },
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(10.0),
            # Each feed is read again every 5 s to a few minutes: a connection kept that long
            # saves a TCP and TLS handshake (CPU and a round trip) on every poll. httpx's default
            # drops it after 5 s; a server that closed it first is noticed before reuse.
            limits=httpx.Limits(keepalive_expiry=120.0),
            retries=1,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(
        self, feed: str, url: str, *, timeout: float, max_bytes: int, validators: Validators
    ) -> FetchOutcome:
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                if is_local(url):
                    return await asyncio.to_thread(self._read_file, feed, url, max_bytes, validators, started)
                return await self._get(feed, url, max_bytes, validators, started, timeout)
        except TimeoutError:
            raise FetchError(feed, f"no complete answer within {timeout:g} s") from None

    def _read_file(self, feed: str, url: str, max_bytes: int, validators: Validators, started: float) -> FetchOutcome:
        path = local_path(url, self.base)
        try:
            stat = path.stat()
            # A file's mtime and size stand in for an ETag: drills edit files in place.
            tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if validators.etag == tag:
                return FetchOutcome(True, b"", validators, 304, time.monotonic() - started)
            with path.open("rb") as f:
                body = f.read(max_bytes + 1)
        except OSError as e:
            raise FetchError(feed, f"cannot read {path}: {e.strerror or e}") from None
        if len(body) > max_bytes:
            raise FetchError(feed, f"{path} is larger than the cap of {max_bytes} bytes")
        if body.startswith(GZIP_MAGIC):
            try:
                body = gunzip_capped(body, feed, max_bytes)
            except FeedError as e:
                raise FetchError(feed, e.message) from None
        return FetchOutcome(False, body, Validators(etag=tag), 200, time.monotonic() - started)

    async def _get(
        self, feed: str, url: str, max_bytes: int, validators: Validators, started: float, timeout: float
    ) -> FetchOutcome:
        headers = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            async with self.client.stream("GET", url, headers=headers, timeout=timeout) as r:
                # httpx counts a 304 as a redirect and not a success; it is neither here.
                if r.status_code == 304:
                    return FetchOutcome(True, b"", validators, 304, time.monotonic() - started)
                if r.status_code != 200:
                    raise FetchError(feed, f"HTTP {r.status_code} from {_host(url)}")
                declared = r.headers.get("content-length")
                if (
                    declared
                    and declared.isdigit()
                    and int(declared) > max_bytes
                    and not r.headers.get("content-encoding")
                ):
                    raise FetchError(feed, f"body of {declared} bytes is larger than the cap of {max_bytes}")
                body = await _read_capped(feed, r, max_bytes)
                new = Validators(r.headers.get("etag"), r.headers.get("last-modified"))
                return FetchOutcome(False, body, new, r.status_code, time.monotonic() - started)
        except httpx.TooManyRedirects:
            raise FetchError(feed, f"more than {MAX_REDIRECTS} redirects from {_host(url)}") from None
        except httpx.HTTPError as e:
            raise FetchError(feed, f"{type(e).__name__} talking to {_host(url)}: {e}") from None


async def _read_capped(feed: str, r: httpx.Response, max_bytes: int) -> bytes:
    encoding = r.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        inflate = None
    elif encoding in ("gzip", "x-gzip"):
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflate = zlib.decompressobj()
    else:
        raise FetchError(feed, f"unsupported Content-Encoding {encoding!r}")
    out = bytearray()
    async for raw in r.aiter_raw():
        if inflate is None:
            out += raw
        else:
            try:
                # max_length bounds what one call may allocate: a bomb stops at the cap.
                out += inflate.decompress(raw, max_bytes + 1 - len(out))
                while inflate.unconsumed_tail and len(out) <= max_bytes:
                    out += inflate.decompress(inflate.unconsumed_tail, max_bytes + 1 - len(out))
            except zlib.error as e:
                raise FetchError(feed, f"corrupt {encoding} body: {e}") from None
        if len(out) > max_bytes:
            raise FetchError(feed, f"body larger than the cap of {max_bytes} bytes")
    return bytes(out)


def _host(url: str) -> str:
    # Never the user:password@ a feed URL may carry.
    return urlparse(url).netloc.rpartition("@")[2] or redact_url(url)
