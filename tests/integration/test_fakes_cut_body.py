"""A client killed mid-request leaves half a body: the fakes must not act on it.

A real server never processes a request whose body never arrived in full. A fake that did would
record an attempt the daemon never made (X: an empty post refused as "text is required"), and the
kill -9 tests would blame warnd for it.
"""

from __future__ import annotations

import socket
import time

from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink


def _cut(port: int, path: str, body: bytes) -> None:
    """Send the headers and the first half of the body, then close, as a killed client does."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f'Authorization: OAuth oauth_consumer_key="k"\r\nContent-Length: {len(body)}\r\n\r\n'
        )
        s.sendall(head.encode() + body[: len(body) // 2])
    time.sleep(0.3)


def test_fake_x_records_no_attempt_for_a_body_cut_short(fake_x: FakeX) -> None:
    _cut(fake_x.port, "/2/tweets", b'{"text": "Gempa Mag:5.1 ... a whole post"}')
    assert fake_x.state.attempts == []
    assert fake_x.state.requests == []


def test_webhook_sink_records_no_request_for_a_body_cut_short() -> None:
    with WebhookSink({"radio": "s"}) as sink:
        _cut(sink.port, "/radio", b'{"id": "w-1", "text": "a whole warning"}')
        assert sink.state.requests == []
