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
from warnd.runtime.build import Bundle
from warnd.store.backend import Database
from warnd.store.subscriptions import PENDING, PREFIX, Subscription, Subscriptions
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
    """An address literal of a private network (other than loopback, which only the machine
    itself reaches and tests use): the challenge must not be a way to probe the agency's own
    network from outside. A name that resolves there is not caught here (see docs/partners.md)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not ip.is_loopback and (ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast)


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
        return _url(v)

    @field_validator("min_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower().replace(" ", "") if isinstance(v, str) else v


class RateLimit:
    """At most `per_minute` requests per client address in any minute; bounded memory."""

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


def _problem(status: int, message: str, errors: list[dict[str, str]] | None = None) -> web.Response:
    doc: dict[str, Any] = {"error": message}
    if errors:
        doc["errors"] = errors
    return web.json_response(doc, status=status, headers={"Cache-Control": "no-store"})


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
    pass


async def challenge(url: str, name: str, settings: SubscriptionSettings, bundle: Bundle) -> None:
    """The partner's URL echoes a fresh challenge, or ChallengeFailed says what went wrong."""
    token = secrets.token_urlsafe(24)
    params = {"warnd.mode": "subscribe", "warnd.challenge": token, "warnd.name": PREFIX + name}
    timeout = settings.challenge_timeout
    async with client(bundle.outbound, timeout, bundle.config.file.user_agent, connections=1) as http:
        try:
            async with asyncio.timeout(timeout):
                async with http.stream("GET", url, params=params) as r:
                    body = b""
                    async for chunk in r.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_ANSWER:
                            raise ChallengeFailed(f"its answer is longer than {MAX_ANSWER} bytes")
        except (TimeoutError, httpx.TimeoutException):
            raise ChallengeFailed(f"no answer within {timeout:g} s") from None
        except httpx.HTTPError as e:
            raise ChallengeFailed(f"cannot reach it ({type(e).__name__})") from None
    if not 200 <= r.status_code < 300:
        extra = " (redirects are not followed: give the final URL)" if 300 <= r.status_code < 400 else ""
        raise ChallengeFailed(f"it answered HTTP {r.status_code}{extra}")
    if body.strip() != token.encode():
        raise ChallengeFailed("its answer is not the challenge (answer with warnd.challenge as the whole body)")


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

    async def handle(self, request: web.Request) -> web.StreamResponse:
        b = self.bundle()
        settings = b.config.file.subscriptions
        if not settings.enabled:
            return _problem(404, "not found")
        if request.method != "POST":
            return _problem(405, "only POST is served here", None)
        peer = request.remote or "unknown"
        wait = self.rate.admit(peer, settings.requests_per_minute)
        if wait is not None:
            response = _problem(429, f"too many subscription requests from {peer}: try again in {wait:.0f} s")
            response.headers["Retry-After"] = str(int(wait))
            return response
        if request.content_type != "application/json":
            return _problem(415, "the body must be JSON (Content-Type: application/json)")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _problem(413, f"the body is larger than {MAX_BODY} bytes")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _problem(413, f"the body is larger than {MAX_BODY} bytes")
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
            return _problem(400, f"url: the challenge failed: {e}", [{"field": "url", "message": str(e)}])
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
        if not await self.store.run(Subscriptions(self.conn).add, sub, secret):
            return _problem(409, f"name: a subscription named {asked.name!r} exists already")
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
        """On the store's thread: OperatorError when the name is taken or too many wait."""
        subs = Subscriptions(self.conn)
        if any(s.name == name for s in subs.listing()):
            raise OperatorError(f"name: a subscription named {name!r} exists already", status=409)
        if subs.count(PENDING) >= max_pending:
            raise OperatorError("too many subscription requests wait for an operator; try again later", status=503)
