"""The daemon's HTTP side: the endpoint built from the configuration, the operator token it
checks (read at start and on each reload), and its listeners started, with the addresses they
got written to the state directory for `warnd status` and tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from warnd.config import secrets
from warnd.config.secrets import Secret
from warnd.obs import get_logger
from warnd.runtime.build import Bundle
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.console import Console
from warnd.runtime.http import Endpoint
from warnd.runtime.statedir import write_atomic
from warnd.runtime.websub_hub import Hub
from warnd.store.maps import StoredMap
from warnd.store.worker import StoreWorker

log = get_logger("warnd")

# The state directory's files naming where each listener is bound, by config field.
ADDRESS_FILES = ("listen", "public_listen")


class Serving:
    def __init__(
        self,
        bundle: Callable[[], Bundle],
        *,
        health: Callable[[], dict[str, Any]],
        status: Callable[[], dict[str, Any]],
        registry: CollectorRegistry,
        cap: CapFeeds,
        store: StoreWorker,
        maps: Callable[[str], StoredMap | None] = lambda warning_id: None,
        console: Callable[[Serving], Console] | None = None,
        subscribe: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
        hub: Hub | None = None,
    ) -> None:
        """`console`: makes the operator console (given this, for the operator token)."""
        self.bundle = bundle
        self.operator_token: Secret | None = None
        self.token_problem: str | None = None
        # console.proxy_secret's value, and why it cannot be read (proxy mode then admits no one).
        self.proxy_secret: Secret | None = None
        self.proxy_secret_problem: str | None = None
        # Why a listener could not start (None: every one listens), for /healthz.
        self.error: str | None = None
        self.read_token()
        file = bundle().config.file
        host, port = address(file.listen)
        self.endpoint = Endpoint(
            host,
            port,
            health=health,
            status=status,
            registry=registry,
            cap=cap,
            public=address(file.public_listen) if file.public_listen else None,
            token=lambda: self.operator_token,
            token_missing=lambda: self.token_problem,
            store=store,
            maps=maps,
            console=console(self) if console is not None else None,
            subscribe=subscribe,
            hub=hub,
        )

    def read_token(self) -> None:
        """The operator token and the console's proxy secret, read at start and on each reload
        (a rotated one takes effect then). Named but unreadable: operator paths (the console in
        proxy mode) refuse everyone rather than open up."""
        name = self.bundle().config.file.operator_token
        self.operator_token = secrets.read(name) if name else None
        self.token_problem = secrets.missing(name) if name and self.operator_token is None else None
        if self.token_problem:
            log.error("http.token_missing", error=self.token_problem, field="operator_token")
        proxy = self.bundle().config.file.console.proxy_secret
        self.proxy_secret = secrets.read(proxy) if proxy else None
        self.proxy_secret_problem = secrets.missing(proxy) if proxy and self.proxy_secret is None else None
        if self.proxy_secret_problem:
            log.error("console.proxy_secret_missing", error=self.proxy_secret_problem, field="console.proxy_secret")

    async def start(self) -> None:
        """Start the listeners. A port taken is a notice, not a stop: warnings matter more."""
        self.endpoint.watch_accepts()
        cfg = self.bundle().config
        errors = []
        for listener, configured, file in (
            (self.endpoint.operator, cfg.file.listen, "listen"),
            (self.endpoint.public, cfg.file.public_listen, "public_listen"),
        ):
            if listener is None:
                continue
            try:
                host, port = await listener.start()
            except OSError as e:
                errors.append(f"cannot listen on {configured} ({file}): {e.strerror or e}")
                log.error("http.failed", error=errors[-1], listener=listener.name)
                continue
            # For `warnd status` and tests when the port was 0 (any free port).
            write_atomic(cfg.state_dir / file, f"{host}:{port}\n")
            log.info("http.listening", address=f"{host}:{port}", listener=listener.name)
        self.error = "; ".join(errors) or None

    def listening(self) -> str | None:
        """Where the operator listener is bound, as other nodes are told; None: not listening."""
        bound = self.endpoint.bound
        return f"{bound[0]}:{bound[1]}" if bound else None

    async def stop(self) -> None:
        await self.endpoint.stop()
        if self.endpoint.hub is not None:
            await self.endpoint.hub.close()

    def forget_addresses(self) -> None:
        """Last at a stop: `warnd status` no longer looks for a daemon at these addresses."""
        for file in ADDRESS_FILES:
            (self.bundle().config.state_dir / file).unlink(missing_ok=True)


def address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
