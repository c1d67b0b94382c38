"""The endpoint under bad input, over raw sockets on loopback: every request that is not a plain
GET or HEAD of a known path gets a 4xx or a closed connection, slow and idle clients are
closed, connections beyond the cap are refused at once, and through all of it the event loop
(where polls and deliveries run) keeps answering."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from warnd.config.secrets import Secret
from warnd.runtime.http import Endpoint
from warnd.runtime.listener import Limits, Spell

ROOT = Path(__file__).resolve().parents[2]
# Small enough that a test sees every limit; the head deadline short so a test waits little.
LIMITS = Limits(head_timeout=0.5, keepalive=0.5, connections=4)
WAIT = 15.0  # a socket timeout: a server that never closes fails the test, it does not hang it


class _Cap:
    def accounts(self) -> list[str]:
        return ["aceh"]

    def get(self, account: str, name: str) -> None:
        return None


class Running:
    """An Endpoint with both listeners on its own event loop in a thread, as in the daemon."""

    def __init__(self, token: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.ticks = 0
        secret = Secret(token) if token else None
        self.endpoint = Endpoint(
            "127.0.0.1",
            0,
            health=lambda: {"status": "degraded", "reasons": [{"feed": "bmkg-autogempa"}]},
            status=lambda: {"source": "daemon", "pid": os.getpid()},
            registry=CollectorRegistry(),
            cap=_Cap(),  # type: ignore[arg-type]
            public=("127.0.0.1", 0),
            token=lambda: secret,
            limits=(LIMITS, LIMITS),
        )
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(30)

    async def _start(self) -> None:
        self.endpoint.watch_accepts()
        for listener in self.endpoint.listeners():
            await listener.start()
        self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        # Stands for the daemon's own work on the loop: it must keep running under attack.
        self.ticks += 1
        self.loop.call_later(0.01, self._tick)

    def __enter__(self) -> Running:
        self.thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.endpoint.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def address(self, which: str) -> tuple[str, int]:
        listener = self.endpoint.operator if which == "operator" else self.endpoint.public
        assert listener is not None and listener.bound is not None
        return listener.bound

    def loop_alive(self) -> None:
        before = self.ticks
        deadline = time.monotonic() + WAIT
        while self.ticks == before:
            assert time.monotonic() < deadline, "the event loop stopped turning"
            time.sleep(0.01)


@pytest.fixture
def ep() -> Iterator[Running]:
    with Running() as r:
        yield r


def connect(address: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(address, timeout=WAIT)
    s.settimeout(WAIT)
    return s


def exchange(address: tuple[str, int], raw: bytes) -> tuple[int | None, bytes, bool]:
    """Sends `raw`, reads until the server closes: (status or None, whole answer, closed)."""
    s = connect(address)
    try:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return _status(data), data, True
            if not chunk:
                return _status(data), data, True
            data += chunk
    finally:
        s.close()


def hung_up(s: socket.socket) -> bool:
    """Whether the server closed (or reset) the connection without a word, then closes ours."""
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def _status(data: bytes) -> int | None:
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[0].startswith(b"HTTP/") else None


def get(address: tuple[str, int], path: str, headers: str = "") -> tuple[int | None, bytes]:
    status, data, _ = exchange(
        address, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
    )
    return status, data


def body_of(data: bytes) -> Any:
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_the_public_listener_serves_the_feeds_and_nothing_of_the_operators(ep: Running) -> None:
    public, operator = ep.address("public"), ep.address("operator")
    assert get(public, "/cap/")[0] == 200
    assert body_of(get(public, "/cap/")[1]) == {"feeds": {"aceh": "/cap/aceh/index.atom"}}
    for path in ("/status", "/metrics", "/healthz", "/nothing", "/cap/aceh/../../status"):
        status, data = get(public, path)
        assert status == 404, (path, data)
        assert b"pid" not in data and b"bmkg" not in data
    # The operator listener has both.
    assert get(operator, "/status")[0] == 200
    assert get(operator, "/cap/")[0] == 200
    assert get(operator, "/nothing")[0] == 404


@pytest.mark.parametrize("which", ["operator", "public"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A header line far over the limit.
        (b"GET /cap/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", range(400, 432)),
        # More header lines than allowed, each small.
        (b"GET /cap/ HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", range(400, 432)),
        # A request line over the limit.
        (b"GET /cap/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", range(400, 415)),
        # Not HTTP at all.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", range(400, 401)),
        (b"GET\r\n\r\n", range(400, 401)),
        (b"GET /cap/ HTTP/9.9\r\nHost: x\r\n\r\n", range(400, 506)),
        # Methods other than GET and HEAD.
        (b"POST /cap/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", range(405, 406)),
        (b"DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n", range(404, 406)),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", range(400, 406)),
        # A body, announced large and never sent: answered at once, never waited for.
        (b"GET /cap/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n", range(413, 414)),
        (b"GET /cap/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", range(413, 414)),
        (b"POST /cap/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc", range(405, 406)),
    ],
    ids=[
        "long-header",
        "many-headers",
        "long-request-line",
        "tls-hello",
        "no-path",
        "bad-version",
        "post",
        "delete",
        "options",
        "announced-body",
        "chunked-body",
        "post-with-body",
    ],
)
def test_bad_requests_get_a_4xx_and_a_closed_connection(ep: Running, which: str, raw: bytes, expected: range) -> None:
    status, data, closed = exchange(ep.address(which), raw)
    assert status in expected, data[:300]
    assert closed
    # The listener still serves, and the loop never stalled.
    assert get(ep.address(which), "/cap/")[0] == 200
    ep.loop_alive()


@pytest.mark.parametrize("which", ["operator", "public"])
def test_a_client_that_never_finishes_its_head_is_closed(ep: Running, which: str) -> None:
    s = connect(ep.address(which))
    s.sendall(b"GET /cap/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    got = b""
    try:
        # Dribbles a byte now and then, as a slow-header attack does, until the server hangs up.
        while True:
            s.sendall(b"a")
            s.settimeout(0.2)
            try:
                chunk = s.recv(100)
            except TimeoutError:
                continue
            got += chunk
            if not chunk:
                break
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    assert b"200 OK" not in got
    ep.loop_alive()


@pytest.mark.parametrize("which", ["operator", "public"])
def test_an_idle_connection_is_closed_and_so_is_an_idle_keep_alive(ep: Running, which: str) -> None:
    s = connect(ep.address(which))
    assert hung_up(s)
    # After an answer, a keep-alive connection left idle is closed too.
    s = connect(ep.address(which))
    s.sendall(b"GET /cap/ HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        data += s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200")
    assert hung_up(s)


def test_connections_beyond_the_cap_are_refused_at_once_and_the_other_listener_still_serves(ep: Running) -> None:
    operator, public = ep.address("operator"), ep.address("public")
    held = [connect(operator) for _ in range(LIMITS.connections)]
    try:
        # The cap is reached: the next connections are reset, not queued (each would hold a
        # descriptor for as long as its client liked).
        for _ in range(5):
            extra = connect(operator)
            assert hung_up(extra)
        assert get(public, "/cap/")[0] == 200
        ep.loop_alive()
    finally:
        for s in held:
            s.close()

    def served() -> bool:
        try:
            return get(operator, "/cap/")[0] == 200
        except OSError:
            return False

    deadline = time.monotonic() + WAIT
    while not served():
        assert time.monotonic() < deadline, "the listener did not serve again once its clients left"
        time.sleep(0.05)


def test_the_operator_token() -> None:
    with Running(token="s3cret-operator-token") as ep:
        operator, public = ep.address("operator"), ep.address("public")
        for path in ("/status", "/metrics"):
            status, data = get(operator, path)
            assert status == 401 and b"pid" not in data, data
            assert b"WWW-Authenticate: Bearer" in data
            assert get(operator, path, "Authorization: Bearer wrong\r\n")[0] == 401
            assert get(operator, path, "Authorization: Bearer s3cret-operator-token\r\n")[0] == 200
        # /healthz: the status code and the overall status for anyone (a load balancer), the
        # reasons (which name feeds) only with the token.
        status, data = get(operator, "/healthz")
        assert status == 200 and body_of(data) == {"status": "degraded"}
        status, data = get(operator, "/healthz", "Authorization: Bearer s3cret-operator-token\r\n")
        assert status == 200 and body_of(data)["reasons"] == [{"feed": "bmkg-autogempa"}]
        # The token opens nothing on the public listener.
        assert get(public, "/status", "Authorization: Bearer s3cret-operator-token\r\n")[0] == 404


def test_a_named_token_that_cannot_be_read_closes_the_operator_paths() -> None:
    r = Running()
    r.endpoint._token_missing = lambda: "credential 'ops-token' is missing"
    with r as ep:
        status, data = get(ep.address("operator"), "/status")
        assert status == 503 and b"ops-token" in data and b"pid" not in data
        status, data = get(ep.address("operator"), "/healthz")
        assert status == 200 and body_of(data) == {"status": "degraded"}


def test_a_spell_is_one_line_when_it_starts_and_one_with_the_count_when_it_ends() -> None:
    import structlog

    async def run() -> list[Any]:
        spell = Spell("http.thing_failing", quiet=0.2)
        with structlog.testing.capture_logs() as logs:
            for _ in range(500):
                spell.hit(error="EMFILE")
                await asyncio.sleep(0)
            while spell.count:
                await asyncio.sleep(0.05)
        return logs

    logs = asyncio.run(run())
    assert [e["event"] for e in logs] == ["http.thing_failing", "http.thing_failing_ended"]
    assert logs[1]["count"] == 500


ACCEPT_SERVER = """
import asyncio, resource, sys
from prometheus_client import CollectorRegistry
from warnd.obs import setup_logging
from warnd.runtime.http import Endpoint
from warnd.runtime.listener import Limits, Spell

setup_logging("info", json=True)

class Cap:
    def accounts(self): return []
    def get(self, a, n): return None

async def main():
    ep = Endpoint("127.0.0.1", 0, health=dict, status=dict, registry=CollectorRegistry(), cap=Cap(),
                  limits=(Limits(connections=100_000, head_timeout=60, keepalive=60), Limits()))
    host, port = await ep.start()
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print(port, flush=True)
    await asyncio.sleep(float(sys.argv[1]))
    await ep.stop()

asyncio.run(main())
"""


def test_accept_failures_are_logged_once_per_spell(tmp_path: Path) -> None:
    """A process out of descriptors (here a limit of 40, far below the cap) cannot accept:
    asyncio reports each failed accept; the log gets one line when it starts and a count."""
    script = tmp_path / "server.py"
    script.write_text(ACCEPT_SERVER)
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), "14"], stdout=subprocess.PIPE, stderr=err, cwd=ROOT, text=True
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            clients = []
            for _ in range(80):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
            time.sleep(3)  # several of asyncio's accept retries (one a second) fail
            for c in clients:
                c.close()
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    events = [x.get("event") for x in lines]
    assert events.count("http.accept_failing") == 1, events
    ended = [x for x in lines if x.get("event") == "http.accept_failing_ended"]
    assert len(ended) == 1 and ended[0]["count"] >= 2, lines
    # asyncio's own per-attempt report never reached the log.
    assert "out of system resource" not in log.read_text().replace("http.accept_failing", "")
