"""Guarded listeners: one bound address each, bounded so that no number or kind of clients can
take the file descriptors, memory or time the daemon needs for its own polls and deliveries
(connections capped, a first-head deadline, header limits), and accept failures logged once per
spell rather than once per failed accept."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from warnd.obs import get_logger

# The endpoint's log lines, whichever module writes them.
log = get_logger("warnd.http")

# What asyncio's accept loop reports when the process (or system) is out of descriptors.
_ACCEPT_FAILED = "socket.accept() out of system resource"


@dataclass(frozen=True)
class Limits:
    """What one client may hold of the daemon. The request head is a few hundred bytes from any
    real client (curl, Prometheus, a reverse proxy); nothing here takes a body."""

    max_line: int = 4096
    """Bytes of the request line (method, path, version)."""
    max_field: int = 4096
    """Bytes of one header line."""
    max_headers: int = 32
    head_timeout: float = 5.0
    """Seconds a new connection has to send its first complete request head."""
    keepalive: float = 5.0
    """Seconds an idle connection is kept between requests (and to send the next head)."""
    connections: int = 64
    """Open connections at once; more are closed on arrival."""


OPERATOR_LIMITS = Limits(connections=32)
PUBLIC_LIMITS = Limits(connections=512)


class Spell:
    """One log line when a run of the same failure starts, one with the count when it ends
    (`quiet` seconds without another): a flood of clients must not become a flood of lines."""

    def __init__(self, event: str, quiet: float = 5.0) -> None:
        self.event = event
        self.quiet = quiet
        self.count = 0
        self._started = 0.0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def hit(self, **fields: Any) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._last = now
        self.count += 1
        if self.count == 1:
            self._started = now
            log.error(self.event, **fields, detail="logged once per spell; a count follows when it ends")
            self._timer = loop.call_later(self.quiet, self._check)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last < self.quiet:
            self._timer = loop.call_at(self._last + self.quiet, self._check)
            return
        self.end()

    def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.count:
            log.warning(self.event + "_ended", count=self.count, seconds=round(self._last - self._started, 1))
        self.count = 0


class AcceptErrors:
    """The loop's exception handler, folding asyncio's one report per failed accept into a spell;
    every other report goes where it went before."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.spell = Spell("http.accept_failing")
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_FAILED:
            self.spell.hit(error=repr(context.get("exception")))
        elif self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def restore(self, loop: asyncio.AbstractEventLoop) -> None:
        self.spell.end()
        if loop.get_exception_handler() is self:
            loop.set_exception_handler(self._previous)


class _Refused(asyncio.Protocol):
    """A connection over the cap: reset at once, so its descriptor is free again now."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()


class _Guard(asyncio.Protocol):
    """Stands in front of aiohttp's protocol for one connection: counts it against the cap and
    closes it when no complete request head came within the head timeout. aiohttp has size
    limits and a keep-alive timeout but neither a cap nor (in every version this project
    allows) a deadline for the first head, which is what slow-header clients exploit."""

    def __init__(self, site: _GuardedSite, inner: asyncio.Protocol) -> None:
        self.site = site
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.site.open[transport] = self
        self._timer = asyncio.get_running_loop().call_later(self.site.limits.head_timeout, self._too_slow)
        self.inner.connection_made(transport)

    def head_arrived(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_arrived()
        if self.transport is not None:
            self.site.open.pop(self.transport, None)
        self.site.live.discard(self)
        self.inner.connection_lost(exc)


class _GuardedSite(web.TCPSite):
    """aiohttp's TCP site with every connection behind a `_Guard`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, limits: Limits, name: str) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self.limits = limits
        self.label = name
        self.open: dict[asyncio.Transport, _Guard] = {}
        # Guards made and not yet lost: counted from the moment asyncio asks for a protocol, so
        # a burst accepted in one turn of the loop cannot slip past the cap.
        self.live: weakref.WeakSet[_Guard] = weakref.WeakSet()
        self.capped = Spell("http.connections_capped")

    def _protocol(self) -> asyncio.Protocol:
        if len(self.live) >= self.limits.connections:
            self.capped.hit(listener=self.label, cap=self.limits.connections)
            return _Refused()
        server = self._runner.server
        assert server is not None
        guard = _Guard(self, server())
        self.live.add(guard)
        return guard

    async def start(self) -> None:
        # TCPSite.start with our protocol factory; BaseSite.start registers the site.
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port

    async def stop(self) -> None:
        self.capped.end()
        await super().stop()


class Listener:
    """One bound address: an aiohttp application behind a guarded site."""

    def __init__(self, name: str, host: str, port: int, app: web.Application, limits: Limits) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.limits = limits
        self._app = app
        self._runner: web.AppRunner | None = None
        self.site: _GuardedSite | None = None
        self.bound: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        lim = self.limits
        runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=lim.keepalive,
            max_line_size=lim.max_line,
            max_field_size=lim.max_field,
            max_headers=lim.max_headers,
            # Nothing here reads a body: never linger to drain one.
            lingering_time=0,
        )
        await runner.setup()
        site = _GuardedSite(runner, self.host, self.port, lim, self.name)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.site = site
        first = runner.addresses[0] if runner.addresses else (self.host, self.port)
        self.bound = (str(first[0]), int(first[1]))
        return self.bound

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.site = None
