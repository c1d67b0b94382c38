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
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from warnd.channels.cap_feed import INDEX
from warnd.obs import get_logger
from warnd.runtime.cap_feeds import CapFeeds
from warnd.store.backend import DatabaseError

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


def _unchanged(request: web.Request, etag: str, modified: datetime) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when it is sent; If-Modified-Since otherwise."""
    if request.if_none_match is not None:
        return any(e.value in (etag, "*") for e in request.if_none_match)
    since = request.if_modified_since
    return since is not None and modified.replace(microsecond=0) <= since


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
        cap: CapFeeds,
    ) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._status = status
        self._registry = registry
        self._cap = cap
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
        return _json({"feeds": {a: f"/cap/{a}/{INDEX}" for a in self._cap.accounts()}})

    async def cap_file(self, request: web.Request) -> web.StreamResponse:
        account = request.match_info["account"]
        name = request.match_info["name"]
        # Names are checked before anything is looked up: no "..", nothing but documents.
        if not _NAME.match(account) or not _NAME.match(name) or not name.endswith((".xml", ".atom")):
            return _error(404, "no such CAP feed document")
        try:
            doc = self._cap.get(account, name)
        except DatabaseError as e:
            log.warning("http.cap_unavailable", account=account, error=str(e))
            return _error(503, "the CAP feed cannot be read now: the store is out of reach")
        if doc is None:
            return _error(404, "no such CAP feed document")
        if _unchanged(request, doc.etag, doc.modified):
            response = web.Response(status=304, headers={"Cache-Control": "no-cache"})
        else:
            kind = ATOM_TYPE if doc.kind == "atom" else CAP_TYPE
            headers = {"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"}
            response = web.Response(body=doc.body, headers=headers)
        response.etag = doc.etag
        response.last_modified = doc.modified
        return response
