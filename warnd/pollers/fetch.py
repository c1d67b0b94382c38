"""Fetching one feed document: from a file path, a file:// URL or http(s).

Bounded in every direction: one total deadline per fetch (httpx's read timeout is per socket
read, so a server dripping a byte a second would otherwise hold a poll forever), a size cap on
the decoded body (decompressed here with max_length, so a gzip bomb never allocates more than
the cap), and a limited number of redirects. A 304 is a success that costs nothing.

A sequence (a feed with `sequence: true`, a local folder only) plays recorded documents in name
order, one per poll. Where it stands is kept in the ETag the poll stores once the document's
events are committed, so a restart goes on from there, a crash reads the same step again, and
after the last file the feed stays on it (unchanged: a 304).
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
from warnd.config.schema import is_local
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
    document: str | None = None
    """The file a sequence read (its name in the folder)."""
    age: float | None = None
    """The answer's `Age` header: seconds a cache in front of the host has held this copy."""
    max_age: float | None = None
    """`Cache-Control: s-maxage` or `max-age`: how long a cache may serve a copy without asking."""


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
        self,
        feed: str,
        url: str,
        *,
        timeout: float,
        max_bytes: int,
        validators: Validators,
        sequence: bool = False,
    ) -> FetchOutcome:
        started = time.monotonic()
        if sequence and not is_local(url):
            raise FetchError(feed, "a sequence is read from a local folder only")
        try:
            async with asyncio.timeout(timeout):
                if sequence:
                    return await asyncio.to_thread(self._read_step, feed, url, max_bytes, validators, started)
                if is_local(url):
                    path = local_path(url, self.base)
                    return await asyncio.to_thread(self._read_file, feed, path, max_bytes, validators, started)
                return await self._get(feed, url, max_bytes, validators, started, timeout)
        except TimeoutError:
            raise FetchError(feed, f"no complete answer within {timeout:g} s") from None

    def _read_step(self, feed: str, url: str, max_bytes: int, validators: Validators, started: float) -> FetchOutcome:
        """The next document of a sequence folder after the one named in the stored ETag (the
        first when there is none; the last again once there)."""
        folder = local_path(url, self.base)
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        except OSError as e:
            raise FetchError(feed, f"cannot list the sequence folder {folder}: {e.strerror or e}") from None
        if not names:
            raise FetchError(feed, f"the sequence folder {folder} holds no document")
        last = sequence_step(validators.etag)
        # The first name after the last one read: a file removed meanwhile does not send the
        # sequence back to its start.
        name = next((n for n in names if last is None or n > last), names[-1])
        return self._read_file(feed, folder / name, max_bytes, validators, started, step=name)

    def _read_file(
        self, feed: str, path: Path, max_bytes: int, validators: Validators, started: float, step: str | None = None
    ) -> FetchOutcome:
        try:
            stat = path.stat()
            # A file's mtime and size stand in for an ETag: drills edit files in place. A
            # sequence's ETag also names its step.
            tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if step is not None:
                tag = f'"{SEQUENCE_TAG}{step}/{tag[1:]}'
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
        return FetchOutcome(False, body, Validators(etag=tag), 200, time.monotonic() - started, step)

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
                age, max_age = cache_headers(r.headers)
                if r.status_code == 304:
                    # A 304 has no body, but until the end of the answer is read the connection
                    # does not go back to the pool: closed, every poll would open a new one (a
                    # TCP and TLS handshake against the feed's host, each time).
                    await r.aread()
                    return FetchOutcome(
                        True, b"", validators, 304, time.monotonic() - started, age=age, max_age=max_age
                    )
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
                return FetchOutcome(
                    False, body, new, r.status_code, time.monotonic() - started, age=age, max_age=max_age
                )
        except httpx.TooManyRedirects:
            raise FetchError(feed, f"more than {MAX_REDIRECTS} redirects from {_host(url)}") from None
        except httpx.HTTPError as e:
            raise FetchError(feed, f"{type(e).__name__} talking to {_host(url)}: {e}") from None


def cache_headers(headers: httpx.Headers) -> tuple[float | None, float | None]:
    """(Age, the freshness lifetime a shared cache may use) from an answer, None where absent."""
    age = _seconds(headers.get("age"))
    max_age = None
    shared = None
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "s-maxage":
            shared = _seconds(value.strip('"'))
        elif name.lower() == "max-age":
            max_age = _seconds(value.strip('"'))
        elif name.lower() in ("no-cache", "no-store"):
            max_age = 0.0
    return age, shared if shared is not None else max_age


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    return float(value) if value.isdigit() else None


SEQUENCE_TAG = "step:"


def sequence_step(etag: str | None) -> str | None:
    """The file name a sequence's ETag carries (None: not a sequence's, or none yet)."""
    if etag is None or not etag.startswith(f'"{SEQUENCE_TAG}'):
        return None
    name, sep, _ = etag[len(SEQUENCE_TAG) + 1 :].rpartition("/")
    return name if sep else None


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
