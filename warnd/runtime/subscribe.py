"""`POST /subscriptions`: a media partner asks for warnings at its own webhook.

The request is a small JSON document (at most MAX_BODY bytes, `Content-Type: application/json`):
{"name", "contact", "url", "accounts": [...], "hazards": [...]?, "min_level": ...?, "format": ...?}.
Each client address may ask `subscriptions.requests_per_minute` times a minute.

Before anything is stored, warnd proves that whoever asks controls the URL: it sends a GET to the
URL with `warnd.mode=subscribe`, `warnd.challenge=<random>` and `warnd.name=<name>` in the query,
and the partner must answer 2xx with the challenge as the whole body within
`subscriptions.challenge_timeout` (as WebSub's intent verification). Only then is the request
stored, `pending`: an unverified request leaves nothing behind, so nobody can fill the store or
the operators' list with URLs they do not control.

The answer (201) carries the signing secret, once: the requester has just shown it controls the
URL the secret will sign pushes to, so handing the secret to it over the same TLS connection is
the shortest path; an operator who passed it on by hand would be one more person and channel to
see it. warnd keeps it only to sign (store.subscriptions); it is never logged or shown again.
Nothing is delivered until an operator approves the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from warnd.channels.webhook import client
from warnd.clock import Clock
from warnd.config.schema import NAME_PATTERN, SubscriptionSettings, is_loopback
from warnd.errors import OperatorError
from warnd.model import Hazard, iso_utc
from warnd.obs import get_logger
from warnd.redact import carried_secret, redact_url
from warnd.runtime import public_address
from warnd.runtime.build import Bundle
from warnd.runtime.public_address import allowed, numeric_shorthand
from warnd.store.backend import Database, DatabaseError
from warnd.store.subscriptions import FULL, PENDING, PREFIX, TAKEN, Subscription, Subscriptions
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.subscribe")

PATH = "/subscriptions"
MAX_BODY = 8 * 1024
# What a partner's answer to the challenge may be at most: the challenge and some whitespace.
MAX_ANSWER = 1024
# Client addresses remembered for the rate limit at most: the oldest is forgotten first.
MAX_CLIENTS = 4096
# How long the secret is: 32 random bytes (256 bits), URL-safe base64.
SECRET_BYTES = 32
Level = Literal["waspada", "siaga", "awas", "siaga4", "siaga3", "siaga2", "siaga1"]


def _url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an https URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("must be https (http only to this machine's loopback)")
    if numeric_shorthand(parts.hostname):
        raise ValueError("must name its host, or give its address as a dotted quad or an IPv6 literal")
    if _inside(parts.hostname):
        raise ValueError("must not be a private, link-local or reserved address")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user or password")
    what = carried_secret(v)
    if what is not None:
        raise ValueError(f"must not carry {what}: signatures prove each push is warnd's")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return v


def _inside(host: str) -> bool:
    """An address literal that is not public (loopback is judged with the settings, in the
    handler); a name is judged by what it resolves to (runtime.public_address)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not ip.is_loopback and not allowed(ip, allow_loopback=False)


def _printable(v: str) -> str:
    """Refuses control and format characters (Unicode Cc, Cf): an operator reads these fields
    on a terminal and in the console, where they could rewrite what is shown."""
    for ch in v:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            raise ValueError(f"must not contain control or format characters (U+{ord(ch):04X})")
    return v


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    contact: str = Field(min_length=3, max_length=200)
    url: str = Field(max_length=2000)
    accounts: list[str] = Field(min_length=1, max_length=100)
    hazards: list[Hazard] | None = Field(default=None, min_length=1)
    min_level: Level | None = None
    format: Literal["json", "cap"] = "json"

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        return _url(_printable(v))

    @field_validator("contact", "name")
    @classmethod
    def _check_text(cls, v: str) -> str:
        return _printable(v)

    @field_validator("min_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower().replace(" ", "") if isinstance(v, str) else v


def network_of(peer: str) -> str:
    """The client network a rate or a concurrency is counted for: one address is cheap to
    change within a /24 (IPv4) or a /64 (IPv6, what one site is given)."""
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class RateLimit:
    """At most `per_minute` requests per client network in any minute; bounded memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._clock = clock

    def admit(self, client: str, per_minute: int) -> float | None:
        """None when admitted; else the seconds to wait."""
        now = self._clock()
        times = self._seen.pop(client, None) or deque()
        while times and now - times[0] >= 60.0:
            times.popleft()
        self._seen[client] = times
        while len(self._seen) > MAX_CLIENTS:
            self._seen.popitem(last=False)
        if len(times) >= per_minute:
            return max(1.0, 60.0 - (now - times[0]))
        times.append(now)
        return None


class Gate:
    """Requests in hand at once, overall and per client network: each may wait for its body
    (`body_timeout`) and its challenge (`challenge_timeout`), and the public listener's
    connections are shared with everyone reading the CAP feeds and maps."""

    def __init__(self) -> None:
        self.total = 0
        self.by_network: dict[str, int] = {}

    def enter(self, network: str, total: int, per_network: int) -> bool:
        if self.total >= total or self.by_network.get(network, 0) >= per_network:
            return False
        self.total += 1
        self.by_network[network] = self.by_network.get(network, 0) + 1
        return True

    def leave(self, network: str) -> None:
        self.total -= 1
        left = self.by_network[network] - 1
        if left:
            self.by_network[network] = left
        else:
            del self.by_network[network]


def _problem(status: int, message: str, errors: list[dict[str, str]] | None = None) -> web.Response:
    doc: dict[str, Any] = {"error": message}
    if errors:
        doc["errors"] = errors
    response = web.json_response(doc, status=status, headers={"Cache-Control": "no-store"})
    # Closed after every refusal: a body left unread is never waited for, and a client that
    # was refused holds no connection of the public listener's.
    response.force_close()
    return response


def _field_errors(e: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        out.append({"field": where, "message": message})
    return out


class ChallengeFailed(Exception):
    """What went wrong, for warnd's log only: the requester is told no more than that the
    challenge failed, so the endpoint cannot be used to learn what answers where."""


def failed_challenge_message(timeout: float) -> str:
    return (
        "the challenge failed: the URL must answer a GET carrying warnd.challenge with that value as"
        f" the whole body, HTTP 2xx, within {timeout:g} s, from a public address (redirects are not followed)"
    )


async def challenge(url: str, name: str, settings: SubscriptionSettings, bundle: Bundle) -> None:
    """The partner's URL echoes a fresh challenge, or ChallengeFailed says what went wrong."""
    token = secrets.token_urlsafe(24)
    params = {"warnd.mode": "subscribe", "warnd.challenge": token, "warnd.name": PREFIX + name}
    timeout = settings.challenge_timeout
    try:
        async with asyncio.timeout(timeout):
            try:
                # Resolved and checked here, and the request made to the address checked.
                pinned = await public_address.resolve(url, settings.allow_loopback, pin=not bundle.outbound.proxied)
            except public_address.NotPublic as e:
                raise ChallengeFailed(str(e)) from None
            async with client(bundle.outbound, timeout, bundle.config.file.user_agent, connections=1) as http:
                try:
                    async with http.stream(
                        "GET", pinned.url, params=params, headers=pinned.headers, extensions=pinned.extensions
                    ) as r:
                        body = b""
                        async for chunk in r.aiter_bytes():
                            body += chunk
                            if len(body) > MAX_ANSWER:
                                raise ChallengeFailed(f"its answer is longer than {MAX_ANSWER} bytes")
                except httpx.TimeoutException:
                    raise ChallengeFailed(f"no answer within {timeout:g} s") from None
                except httpx.HTTPError as e:
                    raise ChallengeFailed(f"cannot reach {pinned.address} ({type(e).__name__})") from None
    except TimeoutError:
        raise ChallengeFailed(f"no answer within {timeout:g} s") from None
    if not 200 <= r.status_code < 300:
        raise ChallengeFailed(f"it answered HTTP {r.status_code}")
    if body.strip() != token.encode():
        raise ChallengeFailed("its answer is not the challenge")


class SubscribeDesk:
    """The request handler, on the daemon's loop; the store is written on the store's thread."""

    def __init__(
        self,
        conn: Database,
        clock: Clock,
        bundle: Callable[[], Bundle],
        store: StoreWorker | None = None,
        rate: RateLimit | None = None,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.bundle = bundle
        self.store = store or inline()
        self.rate = rate or RateLimit()
        self.gate = Gate()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        b = self.bundle()
        settings = b.config.file.subscriptions
        if not settings.enabled:
            return _problem(404, "not found")
        if request.method != "POST":
            return _problem(405, "only POST is served here", None)
        peer = request.remote or "unknown"
        network = network_of(peer)
        if not self.gate.enter(network, settings.concurrent, settings.concurrent_per_client):
            log.warning("subscription.busy", client=peer, network=network, in_hand=self.gate.total)
            response = _problem(503, "too many subscription requests are being handled: try again in a minute")
            response.headers["Retry-After"] = "60"
            return response
        try:
            return await self._handle(request, b, settings, peer, network)
        except DatabaseError as e:
            log.error("subscription.store_failed", client=peer, error=str(e))
            return _problem(503, "subscriptions cannot be taken now: try again later")
        finally:
            self.gate.leave(network)

    async def _handle(
        self, request: web.Request, b: Bundle, settings: SubscriptionSettings, peer: str, network: str
    ) -> web.StreamResponse:
        wait = self.rate.admit(network, settings.requests_per_minute)
        if wait is not None:
            response = _problem(429, f"too many subscription requests from {network}: try again in {wait:.0f} s")
            response.headers["Retry-After"] = str(int(wait))
            return response
        if request.content_type != "application/json":
            return _problem(415, "the body must be JSON (Content-Type: application/json)")
        length = request.content_length
        if length is None:
            return _problem(411, "the request must say its body's length (Content-Length)")
        if length > MAX_BODY:
            return _problem(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            # All of it, however it was split on the way, and no longer than this to come.
            async with asyncio.timeout(settings.body_timeout):
                raw = await request.content.readexactly(length)
        except TimeoutError:
            return _problem(408, f"the body did not arrive within {settings.body_timeout:g} s")
        except asyncio.IncompleteReadError:
            return _problem(400, "body: shorter than its Content-Length")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            return _problem(400, f"body: not JSON ({e})")
        if not isinstance(doc, dict):
            return _problem(400, "body: must be a JSON object")
        try:
            asked = SubscriptionRequest.model_validate(doc)
        except ValidationError as e:
            errors = _field_errors(e)
            return _problem(400, "; ".join(f"{x['field']}: {x['message']}" for x in errors), errors)
        host = urlsplit(asked.url).hostname or ""
        if is_loopback(host) and not settings.allow_loopback:
            why = "must not be this machine's loopback"
            return _problem(400, f"url: {why}", [{"field": "url", "message": why}])
        unknown = sorted(set(asked.accounts) - set(b.accounts))
        if unknown:
            return _problem(
                400,
                f"accounts: unknown account(s) {', '.join(unknown)}",
                [{"field": "accounts", "message": f"unknown: {', '.join(unknown)}"}],
            )
        if PREFIX + asked.name in b.config.file.partners:
            return _problem(409, f"name: {asked.name!r} is taken")
        try:
            await self.store.run(self._room, asked.name, settings.max_pending)
        except OperatorError as e:
            return _problem(e.status, str(e))
        slog = log.bind(name=asked.name, client=peer, url=redact_url(asked.url))
        try:
            await challenge(asked.url, asked.name, settings, b)
        except ChallengeFailed as e:
            slog.info("subscription.challenge_failed", reason=str(e))
            message = failed_challenge_message(settings.challenge_timeout)
            return _problem(400, f"url: {message}", [{"field": "url", "message": message}])
        secret = secrets.token_urlsafe(SECRET_BYTES)
        now = iso_utc(self.clock.now())
        sub = Subscription(
            id=secrets.token_hex(6),
            name=asked.name,
            contact=asked.contact,
            url=asked.url,
            accounts=tuple(sorted(set(asked.accounts))),
            hazards=tuple(h.value for h in asked.hazards) if asked.hazards is not None else None,
            min_level=asked.min_level,
            format=asked.format,
            state=PENDING,
            requested_at=now,
            requested_from=peer,
        )
        added = await self.store.run(Subscriptions(self.conn).add_pending, sub, secret, settings.max_pending)
        if added is not None:
            return _problem(*_refusals[added](asked.name))
        slog.info("subscription.requested", subscription=sub.id, accounts=list(sub.accounts))
        return web.json_response(
            {
                "id": sub.id,
                "partner": sub.partner,
                "state": sub.state,
                "secret": secret,
                "note": "the secret is shown this once: keep it to verify each push's signature."
                " Deliveries start once an operator approves the subscription.",
            },
            status=201,
            headers={"Cache-Control": "no-store"},
        )

    def _room(self, name: str, max_pending: int) -> None:
        """On the store's thread, before the challenge (no partner is troubled for a request that
        cannot be kept): OperatorError when the name is taken or too many wait. `add` asks again."""
        subs = Subscriptions(self.conn)
        if any(s.name == name for s in subs.listing()):
            raise OperatorError(_taken(name)[1], status=409)
        if subs.count(PENDING) >= max_pending:
            raise OperatorError(_full(name)[1], status=503)


def _taken(name: str) -> tuple[int, str]:
    return 409, f"name: a subscription named {name!r} exists already"


def _full(name: str) -> tuple[int, str]:
    return 503, "too many subscription requests wait for an operator; try again later"


_refusals = {TAKEN: _taken, FULL: _full}
