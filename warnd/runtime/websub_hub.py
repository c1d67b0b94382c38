"""The WebSub hub's door: POST /websub (W3C WebSub 5.1), its checks, and the verification of
intent that follows (5.3).

A request is checked at once and answered 400 with the field and what is wrong with it, or 202
Accepted; the subscriber's intent is then verified from the event loop (a GET to its callback,
channels.websub), and only a verified subscription, or unsubscription, reaches the store. A node
that stops between the 202 and the verification forgets the request: the subscriber saw no
verification and asks again, as the spec expects of it.

Bounds: the body (MAX_BODY, within BODY_TIMEOUT), the requests of one client address per minute (a table of at most
MAX_CLIENTS addresses, the least recently seen forgotten first), and the verifications in flight
(MAX_VERIFYING; more get 503 with Retry-After). hub.secret is kept only in the store: never in a
log line, an answer, a metric or an error.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from aiohttp import web

from warnd.cap import feed_links
from warnd.channels import websub
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.schema import WebSubSettings, is_loopback
from warnd.metrics import Metrics
from warnd.model import Target, subscription_id
from warnd.obs import get_logger
from warnd.redact import carried_secret, redact_url
from warnd.runtime import public_address
from warnd.runtime.public_address import numeric_shorthand
from warnd.store.backend import Database, DatabaseError
from warnd.store.targets import Targets
from warnd.store.websub import Subscriptions
from warnd.store.worker import StoreWorker

log = get_logger("warnd.websub")

MAX_BODY = 8192
MAX_URL = 2000
MAX_SECRET = 200
MAX_CLIENTS = 4096
MAX_VERIFYING = 64
# Seconds a client has to send its whole form once its head arrived: a body dripped byte by
# byte must not hold a connection.
BODY_TIMEOUT = 5.0
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class HubRequest:
    """A subscription request that passed the checks."""

    mode: Literal["subscribe", "unsubscribe"]
    account: str
    topic: str
    callback: str
    lease: int
    secret: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return subscription_id(self.topic, self.callback)


class Refused(Exception):
    """A request the hub will not take: its field and what is wrong, for the 400 answer."""


def _one(form: Mapping[str, list[str]], name: str, *, required: bool = True) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise Refused(f"{name}: given {len(values)} times; give it once")
    if not values or values[0] == "":
        if required:
            raise Refused(f"{name}: missing")
        return None
    return values[0]


def check_callback(url: str, allow_loopback: bool = False) -> str:
    """The callback as given, or Refused: https, or http to this machine only (and this machine
    only with `allow_loopback`, for drills); no numeric shorthand for an address, no credential
    in it (a user:password, a secret-looking query parameter), no fragment. Where a name leads
    is judged when it is resolved, before each request (runtime.public_address)."""
    if len(url) > MAX_URL:
        raise Refused(f"hub.callback: longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise Refused("hub.callback: not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise Refused("hub.callback: must be an https URL with a host")
    if parts.scheme == "http" and not is_loopback(host):
        raise Refused("hub.callback: must be https (http only to this machine's loopback address)")
    if numeric_shorthand(host):
        raise Refused("hub.callback: a numeric host must be a plain dotted quad or an IPv6 literal")
    if is_loopback(host) and not allow_loopback:
        raise Refused("hub.callback: must lead to a public address, not this machine")
    what = carried_secret(url)
    if what is not None:
        raise Refused(
            f"hub.callback: carries {what}; a callback must hold no credential (give hub.secret to have pushes signed)"
        )
    if parts.fragment:
        raise Refused("hub.callback: must have no #fragment")
    return url


def parse_request(
    form: Mapping[str, list[str]], base: str, accounts: Collection[str], settings: WebSubSettings
) -> HubRequest:
    """The request, checked (Refused naming the field and what is wrong)."""
    given = _one(form, "hub.mode")
    mode: Literal["subscribe", "unsubscribe"]
    if given == "subscribe":
        mode = "subscribe"
    elif given == "unsubscribe":
        mode = "unsubscribe"
    else:
        raise Refused(f"hub.mode: must be subscribe or unsubscribe, not {str(given)[:40]!r}")
    topic = _one(form, "hub.topic")
    assert topic is not None
    account = next((a for a in accounts if feed_links(base, a).topic == topic), None)
    if account is None:
        example = feed_links(base, "<account>").topic
        raise Refused(
            f"hub.topic: {redact_url(topic)[:200]!r} is not a feed of this hub; its topics are {example}"
            f" for the accounts {', '.join(sorted(accounts))}"
        )
    callback = _one(form, "hub.callback")
    assert callback is not None
    check_callback(callback, settings.allow_loopback)
    lease = round(settings.lease)
    asked = _one(form, "hub.lease_seconds", required=False)
    if asked is not None:
        if not asked.isdigit() or len(asked) > 12:
            raise Refused("hub.lease_seconds: must be a whole number of seconds")
        lease = min(max(int(asked), round(settings.lease_min)), round(settings.lease_max))
    secret = _one(form, "hub.secret", required=False) if mode == "subscribe" else None
    if secret is not None and len(secret.encode()) > MAX_SECRET:
        raise Refused(f"hub.secret: longer than {MAX_SECRET} bytes")
    return HubRequest(mode, account, topic, callback, lease, secret)


class ClientRate:
    """At most `per_minute` requests per client address in any minute (a token bucket per
    address), remembering at most `size` addresses: the least recently seen go first."""

    def __init__(self, per_minute: Callable[[], int], size: int = MAX_CLIENTS) -> None:
        self.per_minute = per_minute
        self.size = size
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        rate = float(self.per_minute())
        tokens, at = self._buckets.pop(client, (rate, now))
        tokens = min(rate, tokens + (now - at) * rate / 60.0)
        ok = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return ok

    def __len__(self) -> int:
        return len(self._buckets)


async def _read_body(request: web.Request) -> bytes:
    """The body up to MAX_BODY + 1 bytes (one more says it is too large), however it is split."""
    body = b""
    while len(body) <= MAX_BODY:
        part = await request.content.read(MAX_BODY + 1 - len(body))
        if not part:
            break
        body += part
    return body


def _text(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers={"Cache-Control": "no-store", **headers})


class Hub:
    def __init__(
        self,
        conn: Database,
        store: StoreWorker,
        clock: Clock,
        *,
        settings: Callable[[], WebSubSettings],
        base: Callable[[], str | None],
        accounts: Callable[[], Collection[str]],
        outbound: Callable[[], Outbound],
        user_agent: Callable[[], str],
        metrics: Metrics,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """`base`: the hub's public base URL (None: no hub, 404). `on_change`: a subscription
        was added, renewed or ended (the pushes' senders are looked at again)."""
        self.conn = conn
        self.store = store
        self.clock = clock
        self.settings = settings
        self.base = base
        self.accounts = accounts
        self.outbound = outbound
        self.user_agent = user_agent
        self.metrics = metrics
        self.on_change = on_change
        self.rate = ClientRate(lambda: self.settings().requests_per_minute)
        self.subs = Subscriptions(conn)
        self.targets = Targets(conn)
        self._verifying: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = websub.client(self.outbound(), self.settings().timeout, self.user_agent())
        return self._http

    async def close(self) -> None:
        for task in list(self._verifying):
            task.cancel()
        if self._verifying:
            await asyncio.wait(self._verifying, timeout=2.0)
        if self._http is not None:
            await self._http.aclose()

    async def idle(self, timeout: float) -> None:
        """Tests: wait for the verifications in flight."""
        if self._verifying:
            await asyncio.wait(set(self._verifying), timeout=timeout)

    async def handle(self, request: web.Request) -> web.Response:
        base = self.base()
        if base is None:
            return _text(404, "no WebSub hub here (websub.enabled is false, or no websub.public_url is set)")
        if request.method != "POST":
            return _text(405, "the hub takes POST (application/x-www-form-urlencoded)", Allow="POST")
        client = request.remote or "unknown"
        if not self.rate.take(client):
            self.metrics.websub.labels("unknown", "limited").inc()
            log.warning("websub.limited", client=client)
            return _text(
                429, "too many subscription requests from this address; try again in a minute", **{"Retry-After": "60"}
            )
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _text(413, f"the request is larger than {MAX_BODY} bytes")
        if request.content_type != FORM:
            return self._refuse(client, f"Content-Type: must be {FORM}")
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                body = await _read_body(request)
        except TimeoutError:
            return _text(408, f"the request body did not arrive within {BODY_TIMEOUT:g} s")
        if len(body) > MAX_BODY:
            return _text(413, f"the request is larger than {MAX_BODY} bytes")
        try:
            text = body.decode("utf-8")
            form = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return self._refuse(client, "the body: not a UTF-8 form with at most 20 fields")
        try:
            req = parse_request(form, base, self.accounts(), self.settings())
        except Refused as e:
            return self._refuse(client, str(e))
        if len(self._verifying) >= MAX_VERIFYING:
            self.metrics.websub.labels(req.mode, "busy").inc()
            return _text(503, "the hub is verifying many requests; try again shortly", **{"Retry-After": "10"})
        task = asyncio.create_task(self._verify(req), name=f"websub-verify:{req.id}")
        self._verifying.add(task)
        task.add_done_callback(self._verifying.discard)
        self.metrics.websub.labels(req.mode, "accepted").inc()
        log.info(
            "websub.accepted",
            subscription=req.id,
            mode=req.mode,
            account=req.account,
            callback=redact_url(req.callback),
            lease_seconds=req.lease,
            signed=req.secret is not None,
            client=client,
        )
        return _text(202, f"accepted: the hub will verify the {req.mode} request with a GET to the callback")

    def _refuse(self, client: str, why: str) -> web.Response:
        self.metrics.websub.labels("unknown", "refused").inc()
        log.info("websub.refused", client=client, error=why)
        return _text(400, why)

    async def _verify(self, req: HubRequest) -> None:
        settings = self.settings()
        wlog = log.bind(subscription=req.id, mode=req.mode, account=req.account, callback=redact_url(req.callback))
        try:
            try:
                # The callback's name is resolved, every address checked, and the requests go to
                # the address checked: a stranger chose it (runtime.public_address).
                pinned = await public_address.resolve(
                    req.callback, settings.allow_loopback, pin=not self.outbound().proxied
                )
            except public_address.NotPublic as e:
                self.metrics.websub.labels(req.mode, "unverified").inc()
                wlog.warning("websub.unverified", error=f"the callback's address is not public ({e})")
                return
            at = {"headers": pinned.headers, "extensions": pinned.extensions}
            if req.mode == "subscribe":
                full = await self.store.run(self._full, req.id, settings.max_subscriptions)
                if full:
                    why = f"the hub holds its most subscriptions ({settings.max_subscriptions})"
                    await websub.deny(self.http(), pinned.url, req.topic, why, settings.timeout, **at)
                    self.metrics.websub.labels(req.mode, "denied").inc()
                    wlog.warning("websub.denied", reason=why)
                    return
            params = {
                "hub.mode": req.mode,
                "hub.topic": req.topic,
                "hub.challenge": secrets.token_urlsafe(24),
                "hub.lease_seconds": str(req.lease),
            }
            if req.mode == "unsubscribe":
                del params["hub.lease_seconds"]
            why_not = await websub.verify_intent(self.http(), pinned.url, params, settings.timeout, **at)
            if why_not is not None:
                self.metrics.websub.labels(req.mode, "unverified").inc()
                wlog.warning("websub.unverified", error=why_not)
                return
            await self.store.run(self._record, req, self.clock.now())
            self.metrics.websub.labels(req.mode, "verified").inc()
            if req.mode == "subscribe":
                wlog.info("websub.subscribed", lease_seconds=req.lease, signed=req.secret is not None)
            else:
                wlog.info("websub.unsubscribed")
            self.on_change()
        except DatabaseError as e:
            wlog.error("websub.store_failed", error=str(e), detail="the request is lost; the subscriber asks again")
        except Exception as e:
            # A verification must never take the loop down with it.
            wlog.exception("websub.verify_failed", error=type(e).__name__)

    def _full(self, sub_id: str, most: int) -> bool:
        """On the store's thread: whether a new subscription would be one too many (a renewal
        never is)."""
        held = self.subs.get(sub_id)
        if held is not None and held.state.value in ("active", "paused"):
            return False
        return self.subs.held() >= most

    def _record(self, req: HubRequest, now: datetime) -> None:
        """On the store's thread: the verified request, in one transaction."""
        with self.conn.transaction():
            if req.mode == "subscribe":
                self.subs.verified(req.id, req.account, req.topic, req.callback, req.secret, req.lease, now)
                return
            if self.subs.remove(req.id):
                self.subs.drop_queued(req.id, "unsubscribed", now)
                self.targets.enable(Target.websub(req.id))
