"""Shared test fixtures: real loopback servers, real files, no mocks of warnd's own parts."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "feeds" / "samples"
REGIONS = ROOT / "config" / "regions"
TEMPLATES = ROOT / "config" / "templates"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    etag: bool = True
    gzip: bool = False
    drip: float = 0.0  # seconds between bytes: a server that never quite finishes
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """A real HTTP server on 127.0.0.1 whose documents a test can swap while a daemon polls."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append((self.path, dict(self.headers)))
                    route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = gzip.compress(route.body) if route.gzip else route.body
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if route.etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.etag:
                    self.send_header("ETag", tag)
                if route.gzip:
                    self.send_header("Content-Encoding", "gzip")
                for k, v in route.headers.items():
                    self.send_header(k, v)
                if not route.drip:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if route.drip:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(route.drip)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, body: bytes, **kw: object) -> str:
        with self._lock:
            self.routes[path] = Route(body=body, **kw)  # type: ignore[arg-type]
        return self.base + path

    def hits(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [h for p, h in self.requests if p.split("?")[0] == path]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    s = FeedServer()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def write_config(
    folder: Path,
    *,
    feeds: str,
    rules: str,
    accounts: str | None = None,
    extra: str = "",
) -> Path:
    """A small real config in `folder`, using the shipped regions and templates."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "test.yaml").write_text(rules)
    if accounts is None:
        accounts = f"""
  jabar: {{channel: file, path: {folder}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}
  ntb: {{channel: file, path: {folder}/posts.jsonl, name: "NTB", regions: ["52"]}}
"""
    cfg = folder / "warnd.yaml"
    cfg.write_text(
        f"""state_dir: {folder}/state
listen: 127.0.0.1:0
feeds:
{feeds}
regions:
  - name: provinsi
    path: {REGIONS}/provinces.geojson
  - name: kabupaten-kota
    path: {REGIONS}/regencies.geojson
templates: {TEMPLATES}
rules:
  - rules/*.yaml
accounts:{accounts}
{extra}"""
    )
    return cfg


RULES_ANY_QUAKE = """rules:
  - id: gempa-test
    match:
      hazard: earthquake
      magnitude: ">= 2.5"
    where:
      within_km: 60
    then:
      accounts: ["*"]
"""
