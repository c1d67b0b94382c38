import asyncio
import gzip
import time

import pytest

from warnd.config.outbound import Outbound
from warnd.errors import FetchError
from warnd.pollers.fetch import Fetcher, Validators

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")


def fetch(url, tmp_path, **kw):
    async def go():
        f = Fetcher("warnd-test", tmp_path, DIRECT)
        try:
            return await f.fetch(
                "t",
                url,
                timeout=kw.pop("timeout", 5),
                max_bytes=kw.pop("max_bytes", 1_000_000),
                validators=kw.pop("validators", Validators()),
            )
        finally:
            await f.aclose()

    return asyncio.run(go())


def test_conditional_get_and_304(feed_server, tmp_path):
    url = feed_server.serve("/a.json", b'{"x": 1}')
    first = fetch(url, tmp_path)
    assert first.status == 200 and first.body == b'{"x": 1}' and first.validators.etag
    second = fetch(url, tmp_path, validators=first.validators)
    assert second.not_modified and second.body == b""
    headers = feed_server.hits("/a.json")[-1]
    assert headers["If-None-Match"] == first.validators.etag
    assert headers["User-Agent"] == "warnd-test"


def test_http_error_is_a_fetch_error(feed_server, tmp_path):
    url = feed_server.serve("/e", b"oops", status=503)
    with pytest.raises(FetchError, match="HTTP 503"):
        fetch(url, tmp_path)


def test_total_deadline_cuts_a_dripping_server(feed_server, tmp_path):
    url = feed_server.serve("/slow", b"x" * 200, drip=0.05)
    started = time.monotonic()
    with pytest.raises(FetchError, match="within 1 s"):
        fetch(url, tmp_path, timeout=1.0)
    assert time.monotonic() - started < 3


def test_oversized_body_is_cut_at_the_cap(feed_server, tmp_path):
    url = feed_server.serve("/big", b"x" * 300_000)
    with pytest.raises(FetchError, match="larger than the cap"):
        fetch(url, tmp_path, max_bytes=100_000)


def test_gzip_bomb_is_cut_at_the_cap(feed_server, tmp_path):
    bomb = b"\0" * 50_000_000
    url = feed_server.serve("/bomb", bomb, gzip=True)
    assert len(gzip.compress(bomb)) < 100_000
    with pytest.raises(FetchError, match="larger than the cap"):
        fetch(url, tmp_path, max_bytes=1_000_000)


def test_gzip_body_within_the_cap_is_decoded(feed_server, tmp_path):
    url = feed_server.serve("/z", b'{"ok": true}' * 100, gzip=True)
    assert fetch(url, tmp_path).body == b'{"ok": true}' * 100


def test_file_paths_with_mtime_validator(tmp_path):
    doc = tmp_path / "doc.json"
    doc.write_bytes(b"{}")
    first = fetch("doc.json", tmp_path)
    assert first.body == b"{}"
    assert fetch(f"file://{doc}", tmp_path, validators=first.validators).not_modified
    with pytest.raises(FetchError, match="cannot read"):
        fetch("missing.json", tmp_path)


def test_redirect_loops_are_cut(feed_server, tmp_path):
    url = feed_server.serve("/loop", b"", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch(url, tmp_path)
    assert len(feed_server.hits("/loop")) == 6


def test_a_304_leaves_the_connection_open_for_the_next_poll(feed_server, tmp_path):
    # Closed after each 304, a feed polled every 5 s over HTTPS would cost its host a TCP and
    # TLS handshake every poll.
    url = feed_server.serve("/quiet.json", b'{"x": 1}')

    async def go():
        f = Fetcher("warnd-test", tmp_path, DIRECT)
        try:
            first = await f.fetch("t", url, timeout=5, max_bytes=1_000_000, validators=Validators())
            return [
                await f.fetch("t", url, timeout=5, max_bytes=1_000_000, validators=first.validators) for _ in range(5)
            ]
        finally:
            await f.aclose()

    later = asyncio.run(go())
    assert [o.status for o in later] == [304] * 5
    assert len(feed_server.peers) == 1
