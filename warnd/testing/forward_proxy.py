"""An egress proxy on 127.0.0.1 for tests and drills: it forwards plain-HTTP requests made in
absolute form (`POST http://127.0.0.1:8123/radio HTTP/1.1`, as a client configured with
HTTP_PROXY sends them) to their origin and relays the answer, recording each one. CONNECT (a
TLS tunnel) is refused: the fakes it stands in front of speak http://.

`require` makes it ask for credentials (407 without the right Proxy-Authorization), as an
organisation's proxy may.
"""

from __future__ import annotations

import base64
import http.client
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from warnd.testing._server import LocalServer, QuietHandler

# Hop-by-hop headers (RFC 9110, 7.6.1) and the proxy's own: never passed on.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Forwarded:
    method: str
    host: str
    """host:port of the origin."""
    path: str
    """The path without the query."""
    headers: dict[str, str]
    status: int


@dataclass
class ProxyState:
    forwarded: list[Forwarded] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class ForwardProxy(LocalServer):
    def __init__(self, port: int = 0, require: tuple[str, str] | None = None) -> None:
        super().__init__(_Handler, port)
        self.state = ProxyState()
        self.lock = threading.Lock()
        self.require = require

    def url(self) -> str:
        """The proxy URL, with the user and password `require` asks for."""
        if self.require is None:
            return self.base
        user, password = self.require
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def forwarded(self, host: str | None = None, path: str | None = None) -> list[Forwarded]:
        with self.lock:
            return [
                f for f in self.state.forwarded if (host is None or f.host == host) and (path is None or f.path == path)
            ]

    def counts(self) -> Counter[tuple[str, str]]:
        """(host:port, path) -> requests forwarded."""
        with self.lock:
            return Counter((f.host, f.path) for f in self.state.forwarded)


class _Handler(QuietHandler):
    @property
    def proxy(self) -> ForwardProxy:
        return self.owner  # type: ignore[no-any-return]

    def _refuse(self, status: int, why: str, headers: dict[str, str] | None = None) -> None:
        with self.proxy.lock:
            self.proxy.state.refused.append(why)
        self.reply(status, why.encode(), "text/plain", headers)

    def do_CONNECT(self) -> None:
        self._refuse(501, "CONNECT is not supported by this proxy")

    def _forward(self) -> None:
        body = self.body()
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self._refuse(400, f"not an absolute http:// request: {self.path[:100]}")
            return
        if self.proxy.require is not None:
            user, password = self.proxy.require
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Proxy-Authorization") != expected:
                self._refuse(407, "proxy credentials required", {"Proxy-Authenticate": 'Basic realm="egress"'})
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        path = target.path or "/"
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            upstream.request(self.command, path + (f"?{target.query}" if target.query else ""), body or None, headers)
            answer = upstream.getresponse()
            raw = answer.read()
            status = answer.status
            relayed = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP | {"content-length"}}
        except OSError as e:
            self._refuse(502, f"origin unreachable: {type(e).__name__}")
            return
        finally:
            upstream.close()
        with self.proxy.lock:
            self.proxy.state.forwarded.append(
                Forwarded(self.command, target.netloc, path, dict(self.headers.items()), status)
            )
        self.send_response(status)
        for k, v in relayed.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = _forward
    do_POST = _forward
    do_PUT = _forward
    do_DELETE = _forward
    do_HEAD = _forward
