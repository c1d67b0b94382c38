"""The daemon's HTTP endpoint (aiohttp, on the daemon's own event loop).

  /healthz                 ok | degraded (200) or failing (503), with the reasons, as JSON
  /metrics                 Prometheus text format
  /status                  what `warnd status` shows, as JSON
  /cap/                    the accounts' CAP feeds (JSON list)
  /cap/<account>/index.atom, /cap/<account>/<alert>.xml   for partners who poll

It answers from the event loop on purpose: a loop that is stuck answers nothing, as a stuck
daemon should. Only GET and HEAD; nothing here reads a request body. No configuration value is
served: the status names feeds, targets and rules, never URLs or credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from warnd.obs import get_logger

log = get_logger("warnd.http")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(doc, ensure_ascii=False, indent=1),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def _plain_server(request: web.Request, response: web.StreamResponse) -> None:
    # No library versions for a scanner to match against.
    response.headers["Server"] = "warnd"


class Endpoint:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Callable[[], dict[str, Any]],
        status: Callable[[], dict[str, Any]],
        registry: CollectorRegistry,
        cap_root: Callable[[], Path],
    ) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._status = status
        self._registry = registry
        self._cap_root = cap_root
        self._runner: web.AppRunner | None = None
        self.bound: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=1024)
        app.on_response_prepare.append(_plain_server)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/status", self.status)
        app.router.add_get("/cap", self.cap_index)
        app.router.add_get("/cap/", self.cap_index)
        app.router.add_get("/cap/{account}/{name}", self.cap_file)
        return app

    async def start(self) -> tuple[str, int]:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        first = runner.addresses[0] if runner.addresses else (self.host, self.port)
        self.bound = (str(first[0]), int(first[1]))
        return self.bound

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException as e:
            if e.status >= 400:
                return _error(e.status, e.reason)
            raise
        except Exception as e:
            # Never a traceback to the client: the log has it.
            log.exception("http.error", path=request.path, error=repr(e))
            return _error(500, "internal error; see the warnd log")

    async def healthz(self, request: web.Request) -> web.Response:
        doc = self._health()
        return _json(doc, 503 if doc["status"] == "failing" else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    async def status(self, request: web.Request) -> web.Response:
        return _json(self._status())

    async def cap_index(self, request: web.Request) -> web.Response:
        root = self._cap_root()
        accounts = sorted(p.name for p in root.iterdir() if (p / "index.atom").is_file()) if root.is_dir() else []
        return _json({"feeds": {a: f"/cap/{a}/index.atom" for a in accounts}})

    async def cap_file(self, request: web.Request) -> web.StreamResponse:
        account = request.match_info["account"]
        name = request.match_info["name"]
        # Names are checked before any path is built: no "..", no hidden temporary files.
        if not _NAME.match(account) or not _NAME.match(name) or not name.endswith((".xml", ".atom")):
            return _error(404, "no such CAP feed document")
        path = self._cap_root() / account / name
        if not path.is_file():
            return _error(404, "no such CAP feed document")
        kind = ATOM_TYPE if name.endswith(".atom") else CAP_TYPE
        # FileResponse answers If-None-Match / If-Modified-Since with 304 and serves ranges.
        return web.FileResponse(path, headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"})
