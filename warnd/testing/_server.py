"""A threaded HTTP server on 127.0.0.1 that starts and stops cleanly, for the fakes."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, no access log, and `owner`: the LocalServer this request came to."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, delayed ACKs stall every answer 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        return

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client died mid-request (kill -9): a real server never acts on half a body, so
            # neither does a fake; acting on it would record an attempt the client never made.
            self.close_connection = True
            raise ConnectionAbortedError(f"body cut short: {len(raw)} of {length} bytes")
        return raw

    def reply(self, status: int, raw: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 refuses a burst of new connections (many partners).
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection is normal, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LocalServer:
    def __init__(self, handler: type[QuietHandler], port: int = 0) -> None:
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=type(self).__name__, daemon=True)
        self.closing = threading.Event()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.thread.start()
        return self.base

    def stop(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
