"""A feed server on 127.0.0.1 whose documents can be swapped while a daemon polls it: ETags and
304s like a CDN, optional gzip, scripted statuses, a server that drips its answer and one that never answers.

Every answer is recorded with the time its last byte was written, so a benchmark can measure
from the moment a document reached the poller. `before` runs ahead of each request (a benchmark
publishes the next quake just as a poll arrives)."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from warnd.testing._server import LocalServer, QuietHandler


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    etag: bool = True
    gzip: bool = False
    drip: float = 0.0  # seconds between bytes: a server that never quite finishes
    hang: bool = False  # accept the request and never answer it
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Served:
    path: str
    status: int
    tag: str
    at: float
    """time.time() when the last byte was written."""


class FeedServer(LocalServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(_Handler, port)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.served: list[Served] = []
        # (time.time() on arrival, the Host header without its port, path): requests per host name.
        self.arrivals: list[tuple[float, str, str]] = []
        # The client's (address, port) of every request: one per connection it opened.
        self.peers: set[tuple[str, int]] = set()
        self.before: Callable[[str], None] | None = None
        self.lock = threading.Lock()

    def serve(self, path: str, body: bytes, **kw: object) -> str:
        with self.lock:
            self.routes[path] = Route(body=body, **kw)  # type: ignore[arg-type]
        return self.base + path

    def arrived(self, host: str | None = None) -> list[tuple[float, str]]:
        """(arrival time, path) of every request, or of those naming `host` in their Host header."""
        with self.lock:
            return [(t, p) for t, h, p in self.arrivals if host is None or h == host]

    def hits(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p.split("?")[0] == path]


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class _Handler(QuietHandler):
    server_version = "feed-server"

    @property
    def feeds(self) -> FeedServer:
        return self.owner  # type: ignore[no-any-return]

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        owner = self.feeds
        if owner.before is not None:
            owner.before(path)
        with owner.lock:
            owner.requests.append((self.path, dict(self.headers)))
            owner.arrivals.append((time.time(), (self.headers.get("Host") or "").rpartition(":")[0], path))
            owner.peers.add((self.client_address[0], self.client_address[1]))
            route = owner.routes.get(path)
        if route is None:
            self.reply(404, b"not found", "text/plain")
            return
        if route.hang:
            owner.closing.wait(3600)
            self.close_connection = True
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        tag = etag(body)
        try:
            if route.etag and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._served(path, 304, tag)
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", tag)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            for k, v in route.headers.items():
                self.send_header(k, v)
            if route.drip:
                # No length: the answer ends when the connection closes.
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if route.drip:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(route.drip)
            else:
                self.wfile.write(body)
            self._served(path, route.status, tag)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _served(self, path: str, status: int, tag: str) -> None:
        self.wfile.flush()
        owner = self.feeds
        with owner.lock:
            owner.served.append(Served(path, status, tag, time.time()))
