"""The operator console's HTTP side, on the operator listener only, under /console/
(docs/operator/console.md):

  GET  /console/                   the page (warnd/console/index.html); no login needed
  GET  /console/static/<path>      its files (a fixed table of types)
  POST /console/login, /logout     users mode: a session in the store, an HttpOnly cookie
  GET  /console/api/me             who is logged in, their CSRF token, the auth mode
  GET  /console/api/state          one JSON document (runtime.console_state)
  GET  /console/api/stream         the same document as server-sent events, on every change
  GET  /console/api/basemap        the provinces and regencies, simplified GeoJSON
  GET  /console/api/formats        the formats `simulate` reads
  POST /console/api/action/<name>  an action (runtime.console_actions, and any passed in)

Every /console/api/ path but `me` needs a login (or, for GETs, the operator token), and every
POST there the session's CSRF token in X-CSRF-Token. POST bodies are JSON, at most 1 MB; every
other path of the listener still takes no body and no method but GET and HEAD (runtime.http).
At most MAX_STREAMS streams are open at once, so that streams never take the connections
(32) the operator listener keeps for /healthz, /metrics and operators' commands.

Every /console path answers only a Host header it knows (console.hosts; by default the listen
address and loopback names with the listener's port): 421 otherwise, against DNS rebinding. Every
response carries CONSOLE_HEADERS (a Content-Security-Policy, X-Frame-Options: DENY).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from warnd.clock import Clock
from warnd.config.schema import ConsoleSettings
from warnd.config.secrets import Secret
from warnd.errors import OperatorError
from warnd.geo.regions import RegionIndex
from warnd.obs import get_logger
from warnd.runtime import console_auth as auth
from warnd.runtime.console_actions import Handler, formats
from warnd.runtime.console_state import ConsoleState, basemap
from warnd.runtime.console_stream import MAX_STREAMS, Hub
from warnd.store.backend import Database, DatabaseError
from warnd.store.operators import Operators
from warnd.store.worker import StoreWorker

log = get_logger("warnd.console")

PREFIX = "/console"
STATIC = Path(__file__).resolve().parents[1] / "console"
MAX_BODY = 1_000_000
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, VERSION
}

# On every response under /console (runtime.http). Leaflet and the page draw with the style
# property and SVG, never with inline <style> or style="" markup; the map images and Leaflet's
# own icons come from this listener (and data: URIs); the stream and the API are same-origin.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
CONSOLE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _closing(response: web.Response) -> web.Response:
    response.force_close()
    return response


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(
        doc, status=status, headers={"Cache-Control": "no-store"}, dumps=lambda d: json.dumps(d, ensure_ascii=False)
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


@dataclass(frozen=True)
class Who:
    user: str
    csrf: str | None
    via: str  # session | proxy | token


class Console:
    def __init__(
        self,
        *,
        settings: Callable[[], ConsoleSettings],
        store: StoreWorker,
        reader: Database,
        writer: Database,
        clock: Clock,
        state: ConsoleState,
        regions: Callable[[], RegionIndex],
        actions: Mapping[str, Handler],
        simulate: Handler | None = None,
        wake: Callable[[], None] = lambda: None,
        token: Callable[[], Secret | None] = lambda: None,
        static: Path = STATIC,
        two_person: Callable[[], bool] = lambda: False,
        proxy_secret: Callable[[], Secret | None] = lambda: None,
        proxy_secret_missing: Callable[[], str | None] = lambda: None,
        listen: Callable[[], str] = lambda: "127.0.0.1:0",
    ) -> None:
        """`reader`: the connection `store.read` runs on; `writer`: the one `store.run` runs on.
        `actions`: name -> handler, run on the store's writing thread; `simulate` runs on a
        thread of its own. `wake`: what SIGUSR1 does (the dispatcher looks at the outbox).
        `proxy_secret`: the value of console.proxy_secret's credential (None: not set, or not
        readable, which `proxy_secret_missing` then says and which closes proxy mode). `listen`:
        the configured operator listener, whose host the Host header may name."""
        self.settings = settings
        self.store = store
        self.reader = reader
        self.writer = writer
        self.clock = clock
        self.state = state
        self.regions = regions
        self.actions = dict(actions)
        self.simulate = simulate
        self.wake = wake
        self.token = token
        self.static = static
        self.two_person = two_person
        self.proxy_secret = proxy_secret
        self.proxy_secret_missing = proxy_secret_missing
        self.listen = listen
        self.throttle = auth.Throttle()
        self.proxy_csrf = auth.ProxyCsrf()
        self.hub = Hub(lambda: self.store.read(self.state.document))
        self.demo: dict[str, str] | None = None

    # --- wiring ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX, self.to_page)
        app.router.add_get(PREFIX + "/", self.page)
        app.router.add_get(PREFIX + "/static/{path:.+}", self.static_file)
        app.router.add_post(PREFIX + "/login", self.login)
        app.router.add_post(PREFIX + "/logout", self.logout)
        app.router.add_get(PREFIX + "/api/me", self.me)
        app.router.add_get(PREFIX + "/api/state", self.api_state)
        app.router.add_get(PREFIX + "/api/stream", self.stream)
        app.router.add_get(PREFIX + "/api/basemap", self.basemap)
        app.router.add_get(PREFIX + "/api/formats", self.formats)
        app.router.add_post(PREFIX + "/api/action/{name:.+}", self.action)

    def admits(self, request: web.Request) -> web.Response | None:
        """The console's rules before any handler: what runtime.http's guard does for its paths
        (methods, bodies), with POST and a bounded body allowed. None: let it through."""
        settings = self.settings()
        if not settings.enabled:
            return _error(404, "the console is not enabled (console.enabled)")
        host = request.headers.get("Host", "").strip().lower()
        if host not in self.hosts(request):
            # DNS rebinding: a page of another site, its name pointed at this machine, would
            # otherwise read and act on the console from a browser here.
            return _closing(
                _error(421, f"Host {host[:100]!r} is not one this console answers to (console.hosts)"),
            )
        if settings.auth == "proxy" and (missing := self.proxy_secret_missing()) is not None:
            return _error(503, f"console.proxy_secret cannot be read ({missing}); the console is closed until it can")
        if request.method == "POST":
            if request.content_length is not None and request.content_length > MAX_BODY:
                response = _error(413, f"the body is over {MAX_BODY} bytes")
                response.force_close()
                return response
            return None
        if request.method not in ("GET", "HEAD"):
            response = _error(405, "only GET, HEAD and POST are served here")
            response.headers["Allow"] = "GET, HEAD, POST"
            response.force_close()
            return response
        if request.body_exists:
            response = _error(413, "a GET takes no body")
            response.force_close()
            return response
        return None

    def hosts(self, request: web.Request) -> set[str]:
        """The Host values this request may carry: console.hosts, or by default the listen
        address, localhost, 127.0.0.1 and [::1] with the port the request came in on."""
        configured = self.settings().hosts
        if configured is not None:
            return set(configured)
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        listen_host, _, listen_port = self.listen().rpartition(":")
        port = str(sockname[1]) if isinstance(sockname, tuple) and len(sockname) >= 2 else listen_port
        names = {listen_host.strip("[]").lower(), "localhost", "127.0.0.1", "::1"}
        allowed = {f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in names if h}
        if port == "80":
            # A browser leaves the default port out.
            allowed |= {f"[{h}]" if ":" in h else h for h in names if h}
        return allowed

    async def start(self) -> None:
        """The demo's login, when the config asks for it (loopback only: the schema refuses it
        elsewhere): a fresh random password at each start, printed for the person at the
        terminal and offered by the page, never logged."""
        if not self.settings().demo_login:
            return
        password = secrets.token_urlsafe(12)
        hashed = await asyncio.to_thread(auth.hash_password, password)
        await self.store.run(self._demo_user, hashed)
        self.demo = {"user": "demo", "password": password}

    def announce(self, where: str) -> None:
        """Once the operator listener is bound: where the console is, in the log; and, in the
        demo, for the person at the terminal, with the demo's login (on standard error, never in
        the log)."""
        if not self.settings().enabled:
            return
        host, _, port = where.rpartition(":")
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/console/"
        log.info("console.listening", url=url, auth=self.settings().auth)
        if self.demo is not None:
            print(
                f"warnd console: {url} (demo login: user {self.demo['user']}, password {self.demo['password']})",
                file=sys.stderr,
                flush=True,
            )

    def _demo_user(self, hashed: str) -> None:
        ops = Operators(self.writer)
        if not ops.add("demo", hashed, self.clock.now()):
            ops.set_hash("demo", hashed)

    async def close(self) -> None:
        """Before the listener stops: open streams end now, so a stop never waits on them."""
        await self.hub.close()

    # --- who is asking ----------------------------------------------------------------------

    async def who(self, request: web.Request, *, token_ok: bool) -> Who | None:
        settings = self.settings()
        if settings.auth == "proxy":
            name = request.headers.get(settings.proxy_header, "").strip()
            if name and auth.valid_name(name) is None and self._trusted(request):
                return Who(name, self.proxy_csrf.token(name), "proxy")
        else:
            cookie = request.cookies.get(auth.COOKIE)
            if cookie:
                found = await self.store.read(auth.find_session, self.reader, cookie, self.clock.now())
                if found is not None:
                    return Who(found.user, found.csrf, "session")
        if token_ok and auth.bearer_ok(request.headers.get("Authorization", ""), self.token):
            return Who("token", None, "token")
        return None

    async def _reader(self, request: web.Request) -> Who | web.Response:
        who = await self.who(request, token_ok=True)
        return who if who is not None else _error(401, "log in first")

    def _trusted(self, request: web.Request) -> bool:
        """From a trusted proxy: its address and, when console.proxy_secret is set, its secret."""
        return auth.trusted(
            request.remote, self.settings(), self.proxy_secret(), request.headers.get(auth.PROXY_PROOF_HEADER)
        )

    def _client(self, request: web.Request) -> str:
        """The client's address: behind a trusted proxy, the one the proxy adds last to
        X-Forwarded-For (else every user would share the proxy's, and its slowing)."""
        peer = request.remote or "?"
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and self._trusted(request):
            return forwarded.rsplit(",", 1)[-1].strip()[:64] or peer
        return peer

    def _secure(self, request: web.Request) -> bool:
        if request.secure:
            return True
        proto = request.headers.get("X-Forwarded-Proto", "").lower()
        return proto == "https" and self._trusted(request)

    # --- the page ---------------------------------------------------------------------------

    async def to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(PREFIX + "/")

    async def page(self, request: web.Request) -> web.StreamResponse:
        return self._file(self.static / "index.html")

    async def static_file(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
            return _error(404, "no such file")
        return self._file(self.static.joinpath(*parts))

    def _file(self, path: Path) -> web.StreamResponse:
        kind = TYPES.get(path.suffix.lower())
        try:
            inside = path.resolve().is_relative_to(self.static.resolve())
            body = path.read_bytes() if kind is not None and inside and path.is_file() else None
        except OSError:
            body = None
        if body is None or kind is None:
            return _error(404, "no such file")
        return web.Response(body=body, headers={"Content-Type": kind, "Cache-Control": "no-cache"})

    # --- logging in -------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise OperatorError("the body is not JSON") from None
        if not isinstance(body, dict):
            raise OperatorError("the body must be a JSON object")
        return body

    async def login(self, request: web.Request) -> web.StreamResponse:
        settings = self.settings()
        if settings.auth != "users":
            return _error(404, "console.auth is proxy: log in at the proxy")
        try:
            body = await self._body(request)
        except OperatorError as e:
            return _error(e.status, e.message)
        user, password = body.get("user"), body.get("password")
        if not isinstance(user, str) or not user:
            return _error(400, "user: must be a non-empty string")
        # Before the slowing is touched: no made-up name of any length takes memory there.
        if (why := auth.valid_name(user)) is not None:
            return _error(400, f"user: not an operator's name ({why})")
        if not isinstance(password, str) or not password:
            return _error(400, "password: must be a non-empty string")
        peer = self._client(request)
        address = auth.address_key(peer)
        keys = (f"{user}@{address}", f"@{address}")
        now = asyncio.get_running_loop().time()
        # Counted now, before the first await: parallel attempts cannot all pass the check.
        wait = self.throttle.reserve(keys, now)
        if wait is not None:
            log.warning("console.login_throttled", user=user, address=peer)
            response = _error(429, f"too many failed logins: try again in {int(wait) + 1} s")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        known = await self.store.read(Operators(self.reader).get, user)
        stored = known.hash if known is not None and not known.disabled else None
        good = await asyncio.to_thread(auth.verify, stored, password)
        if not good:
            log.warning("console.login_failed", user=user, address=peer)
            return _error(401, "unknown user or wrong password")
        # The person at this address knows the password: their own earlier slips are forgiven;
        # the address's count keeps what others there tried.
        self.throttle.release(keys, now)
        self.throttle.forget(keys[0])
        session = await self.store.run(auth.open_session, self.writer, user, self.clock.now(), settings.session_hours)
        log.info("console.login", user=user, address=peer)
        response = _json({"user": user, "csrf": session.csrf})
        response.set_cookie(
            auth.COOKIE,
            session.token,
            max_age=int(settings.session_hours * 3600),
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
        )
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        cookie = request.cookies.get(auth.COOKIE)
        if cookie:
            closed = await self.store.run(Operators(self.writer).close_session, auth.token_digest(cookie))
            if closed:
                log.info("console.logout", address=request.remote)
        response = _json({"ok": True, "message": "logged out"})
        response.del_cookie(auth.COOKIE, path=PREFIX)
        return response

    # --- reading ----------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.StreamResponse:
        settings = self.settings()
        who = await self.who(request, token_ok=True)
        return _json(
            {
                "user": who.user if who else None,
                "csrf": who.csrf if who else None,
                "auth": settings.auth,
                "two_person": self.two_person(),
                "demo_login": self.demo if settings.demo_login and settings.auth == "users" else None,
            }
        )

    async def api_state(self, request: web.Request) -> web.StreamResponse:
        who = await self._reader(request)
        if isinstance(who, web.Response):
            return who
        return _json(await self.store.read(self.state.document))

    async def formats(self, request: web.Request) -> web.StreamResponse:
        who = await self._reader(request)
        if isinstance(who, web.Response):
            return who
        return _json({"formats": [{"name": "auto", "description": "try every format"}, *formats()]})

    async def basemap(self, request: web.Request) -> web.StreamResponse:
        who = await self._reader(request)
        if isinstance(who, web.Response):
            return who
        regions = self.regions()
        # Built once per region set, off the loop (simplifying every regency takes a while).
        made = await asyncio.to_thread(regions.derived, basemap)
        headers = {"Content-Type": "application/geo+json", "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=made.gzip, headers=headers | {"Content-Encoding": "gzip"})
        return web.Response(body=made.json, headers=headers)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        who = await self._reader(request)
        if isinstance(who, web.Response):
            return who

        async def still_allowed() -> bool:
            return await self.who(request, token_ok=True) is not None

        response = await self.hub.serve(request, still_allowed)
        if response is None:
            return _error(503, f"{MAX_STREAMS} streams are open already: close one (each tab holds one)")
        return response

    # --- acting -----------------------------------------------------------------------------

    async def action(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        who = await self.who(request, token_ok=False)
        if who is None:
            return _error(401, "log in first")
        given = request.headers.get("X-CSRF-Token", "")
        if who.csrf is None or not hmac.compare_digest(given.encode(), who.csrf.encode()):
            return _error(403, "the X-CSRF-Token header is missing or wrong: reload the page")
        handler = self.actions.get(name)
        if handler is None and not (name == "simulate" and self.simulate is not None):
            return _error(404, f"no action {name!r}")
        body: dict[str, Any] = {}
        try:
            body = await self._body(request)
            if name == "simulate" and self.simulate is not None:
                answer = await asyncio.to_thread(self.simulate, who.user, body)
            else:
                assert handler is not None
                answer = await self.store.run(handler, who.user, body)
        except OperatorError as e:
            log.info("console.action_refused", action=name, user=who.user, error=e.message, **_ids(body))
            return _error(e.status, e.message)
        except DatabaseError as e:
            log.error("console.action_failed", action=name, user=who.user, error=str(e), **_ids(body))
            return _error(
                503, "the store could not be reached: the action may not have been done; look at the state, then retry"
            )
        log.info("console.action", action=name, user=who.user, **_ids(body))
        if name != "simulate":
            self.wake()
        return _json(answer if "ok" in answer else {"ok": True, "message": "done"} | answer)


def _ids(body: dict[str, Any]) -> dict[str, Any]:
    """What an action's log line names: the ids, never a document or a text."""
    keys = ("id", "target", "rule", "account", "region", "event_id", "warning_id", "minutes")
    return {k: body[k] for k in keys if isinstance(body.get(k), str | int) and len(str(body[k])) <= 200}
