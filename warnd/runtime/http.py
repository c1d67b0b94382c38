"""The daemon's HTTP endpoint (aiohttp, on the daemon's own event loop), on two listeners.

The operator listener (`listen`, loopback by default; a bearer token when `operator_token` is set):
  /healthz                 ok | degraded (200) or failing (503); the reasons only with the token
  /metrics                 Prometheus text format
  /status                  what `warnd status` shows, as JSON
  /console/                the operator console (runtime.console), with rules of its own: POST
                           and a JSON body of at most 1 MB there, and nowhere else
The public listener (`public_listen`, none unless set), and the operator listener too:
  /cap/                    the accounts' CAP feeds (JSON list)
  /cap/<account>/index.atom, /cap/<account>/<alert>.xml   for partners who poll
  /maps/<warning id>.png   each warning's map (runtime.maps), from the store: every node serves it
  /subscriptions           POST only, a JSON body of at most 8 KiB with its Content-Length, in
                           within `subscriptions.body_timeout`: a partner subscribes
                           (runtime.subscribe; 404 unless `subscriptions.enabled`)
  /websub                  the WebSub hub of the CAP feeds (runtime.websub_hub): POST, a form of
                           at most 8 KiB (404 without a hub)
The public listener answers 404 to every operator path: what it serves is meant to be published.

It answers from the event loop on purpose: a loop that is stuck answers nothing, as a stuck
daemon should. Both listeners are bounded (`Limits`) so that no number or kind of clients can
take the file descriptors, memory or time the daemon needs for its own polls and deliveries.
No configuration value is served: the status names feeds, targets and rules, never URLs or
credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from warnd.cap import HUB_PATH, INDEX
from warnd.config.secrets import Secret
from warnd.obs import get_logger
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.conditions import Condition
from warnd.runtime.console import CONSOLE_HEADERS, MAX_BODY, Console, is_console
from warnd.runtime.listener import OPERATOR_LIMITS, PUBLIC_LIMITS, AcceptErrors, Limits, Listener
from warnd.runtime.subscribe import PATH as SUBSCRIBE_PATH
from warnd.runtime.websub_hub import Hub
from warnd.store.backend import DatabaseError
from warnd.store.maps import StoredMap
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.http")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"
PNG_TYPE = "image/png"
# A map is written once and never changes: caches may keep it.
MAP_CACHE = "public, max-age=86400"
OPERATOR_PATHS = ("/healthz", "/metrics", "/status")
# How long /healthz waits for the store before it answers from its last reading: a load
# balancer or a probe must hear back promptly even while another process holds the store's lock.
HEALTH_WAIT = 1.0


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


def _closing(response: web.Response, **headers: str) -> web.Response:
    response.force_close()
    for k, v in headers.items():
        response.headers[k.title()] = v
    return response


async def _plain_server(request: web.Request, response: web.StreamResponse) -> None:
    # No library versions for a scanner to match against.
    response.headers["Server"] = "warnd"
    if is_console(request.path):
        # The console is never framed (clickjacking) and loads nothing but its own files.
        response.headers.update(CONSOLE_HEADERS)


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        public: tuple[str, int] | None = None,
        token: Callable[[], Secret | None] = lambda: None,
        token_missing: Callable[[], str | None] = lambda: None,
        limits: tuple[Limits, Limits] = (OPERATOR_LIMITS, PUBLIC_LIMITS),
        store: StoreWorker | None = None,
        maps: Callable[[str], StoredMap | None] = lambda warning_id: None,
        console: Console | None = None,
        subscribe: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
        hub: Hub | None = None,
    ) -> None:
        """`subscribe`: answers POST /subscriptions (runtime.subscribe), on both listeners; None:
        that path is 404. `hub`: the WebSub hub at /websub on both listeners (None: 404 there).
        `console`: the operator console, served on the operator listener only. `token`: the
        operator token, or None when none is configured. `token_missing`: why a configured token
        could not be read; operator paths then refuse everyone (closed, not open, when the
        credential is lost). `store`: where `health`, `status`, the metrics and the CAP feeds
        read the store (its reading thread; by default, in the caller). `maps`: a warning's
        stored map, read there too."""
        self._maps = maps
        self._store = store or inline()
        self._reading: asyncio.Future[dict[str, Any]] | None = None
        self._last_health: dict[str, Any] | None = None
        self._health = health
        self._status = status
        self._registry = registry
        self._cap = cap
        self._token = token
        self._token_missing = token_missing
        self.console = console
        self._subscribe = subscribe
        self.hub = hub
        self._operator_app = self.app()
        self.operator = Listener("operator", host, port, self._operator_app, limits[0])
        self.public = Listener("public", public[0], public[1], self.public_app(), limits[1]) if public else None
        self._accept_errors: AcceptErrors | None = None

    @property
    def bound(self) -> tuple[str, int] | None:
        return self.operator.bound

    def listeners(self) -> list[Listener]:
        return [self.operator] + ([self.public] if self.public is not None else [])

    def _base(self, client_max_size: int = 1024) -> web.Application:
        # Only the console's POSTs and the WebSub hub's read a body (the guard refuses one
        # everywhere else).
        app = web.Application(middlewares=[self._errors, self._guard], client_max_size=client_max_size)
        app.on_response_prepare.append(_plain_server)
        app.router.add_get("/cap", self.cap_index)
        app.router.add_get("/cap/", self.cap_index)
        app.router.add_get("/cap/{account}/{name}", self.cap_file)
        app.router.add_get("/maps/{name}", self.map_file)
        app.router.add_route("*", SUBSCRIBE_PATH, self.subscription)
        app.router.add_route("*", HUB_PATH, self.websub)
        return app

    def app(self) -> web.Application:
        app = self._base(MAX_BODY if self.console is not None else 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/status", self.status)
        if self.console is not None:
            self.console.routes(app)
        return app

    def public_app(self) -> web.Application:
        return self._base()

    async def start(self) -> tuple[str, int]:
        """Starts the operator listener only (tests and tools); the daemon starts each listener."""
        self.watch_accepts()
        return await self.operator.start()

    def watch_accepts(self) -> None:
        if self._accept_errors is None:
            self._accept_errors = AcceptErrors(asyncio.get_running_loop())

    async def stop(self) -> None:
        if self.console is not None:
            await self.console.close()
        for listener in self.listeners():
            await listener.stop()
        if self._accept_errors is not None:
            self._accept_errors.restore(asyncio.get_running_loop())
            self._accept_errors = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        site_guard = None
        transport = request.transport
        for listener in self.listeners():
            if listener.site is not None and transport is not None and transport in listener.site.open:
                site_guard = listener.site.open[transport]
        if site_guard is not None:
            site_guard.head_arrived()
        if is_console(request.path):
            # The console has rules of its own, and exists on the operator listener only.
            if self.console is None or request.app is not self._operator_app:
                return _closing(_error(404, "not found"))
            refused = self.console.admits(request)
            if refused is not None:
                return refused
            response = await handler(request)
            if request.can_read_body:
                # Answered without reading the body (refused before it mattered): the
                # connection is closed after it, and the answer says so, so that a client does
                # not send its next request on a connection the server is about to drop.
                response.force_close()
            return response
        if request.path == SUBSCRIBE_PATH and self._subscribe is not None:
            # The one other path that reads a body: its handler caps and checks it.
            return await handler(request)
        if request.path == HUB_PATH and self.hub is not None:
            # The hub has rules of its own: POST, a form, its own size cap and rate limit.
            return await handler(request)
        if request.method not in ("GET", "HEAD"):
            return _closing(_error(405, "only GET and HEAD are served here"), allow="GET, HEAD")
        if request.body_exists:
            # Answered without reading it, and the connection closed: the body is never read.
            return _closing(_error(413, "no request here takes a body"))
        return await handler(request)

    def _authorised(self, request: web.Request) -> bool:
        token = self._token()
        if token is None:
            return self._token_missing() is None
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.reveal().encode())

    def _unauthorised(self) -> web.Response:
        missing = self._token_missing()
        if missing is not None:
            return _error(503, f"the operator token cannot be read ({missing}); operator paths are closed until it can")
        response = _error(401, "this path needs the operator token: Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="warnd"'
        return response

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

    async def _read_health(self) -> dict[str, Any]:
        """The health as the store has it, or, when the store is slow to answer, the last reading
        with the store named as busy. Requests arriving meanwhile share the one reading."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._store.read(self._health))
        try:
            doc = await asyncio.wait_for(asyncio.shield(self._reading), HEALTH_WAIT)
        except TimeoutError:
            return self._busy()
        self._last_health = doc
        return doc

    def _busy(self) -> dict[str, Any]:
        last = self._last_health or {"status": "degraded", "reasons": []}
        why = Condition(
            "store_busy",
            "store",
            "degraded",
            f"the store has not answered within {HEALTH_WAIT:g} s (a lock held by another process, or a slow"
            " server); the rest is as last read",
            "the store answers",
        )
        status = "failing" if last["status"] == "failing" else "degraded"
        return last | {"status": status, "reasons": [why.to_json(), *last["reasons"]]}

    async def healthz(self, request: web.Request) -> web.Response:
        doc = await self._read_health()
        code = 503 if doc["status"] == "failing" else 200
        if not self._authorised(request):
            # A load balancer needs the code and no token; the reasons name feeds and targets.
            return _json({"status": doc["status"]}, code)
        return _json(doc, code)

    async def metrics(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        body = await self._store.read(generate_latest, self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        return _json(await self._store.read(self._status))

    async def cap_index(self, request: web.Request) -> web.Response:
        return _json({"feeds": {a: f"/cap/{a}/{INDEX}" for a in await self._store.read(self._cap.accounts)}})

    async def cap_file(self, request: web.Request) -> web.StreamResponse:
        account = request.match_info["account"]
        name = request.match_info["name"]
        # Names are checked before anything is looked up: no "..", nothing but documents.
        if not _NAME.match(account) or not _NAME.match(name) or not name.endswith((".xml", ".atom")):
            return _error(404, "no such CAP feed document")
        try:
            doc = await self._store.read(self._cap.get, account, name)
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

    async def subscription(self, request: web.Request) -> web.StreamResponse:
        if self._subscribe is None:
            return _error(404, "not found")
        return await self._subscribe(request)

    async def websub(self, request: web.Request) -> web.StreamResponse:
        if self.hub is None:
            return _closing(_error(404, "not found"))
        response = await self.hub.handle(request)
        if request.method != "POST" or response.status >= 400:
            # A body the hub did not read (or refused) is never read: the connection closes.
            response.force_close()
        return response

    async def map_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        warning_id = name.removesuffix(".png")
        if not name.endswith(".png") or not _NAME.match(warning_id):
            return _error(404, "no such map")
        try:
            found = await self._store.read(self._maps, warning_id)
        except DatabaseError as e:
            log.warning("http.map_unavailable", warning_id=warning_id, error=str(e))
            return _error(503, "the map cannot be read now: the store is out of reach")
        if found is None:
            return _error(404, "no such map")
        etag = hashlib.sha256(found.png).hexdigest()[:32]
        modified = datetime.fromisoformat(found.created_at.replace("Z", "+00:00"))
        if _unchanged(request, etag, modified):
            response = web.Response(status=304, headers={"Cache-Control": MAP_CACHE})
        else:
            response = web.Response(body=found.png, headers={"Content-Type": PNG_TYPE, "Cache-Control": MAP_CACHE})
        response.etag = etag
        response.last_modified = modified
        return response
