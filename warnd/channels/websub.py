"""WebSub (W3C Recommendation, 23 January 2018): the hub's requests to a subscriber's callback.

Content distribution (spec 7): each warning of an account reaches each subscription to the
account's feed as one outbox delivery, POSTed to the callback as an Atom feed document holding
that warning's entry alone. The spec lets a hub send only the new entries of an Atom feed rather
than the whole feed; here that is the better choice: the body is built from the outbox row alone,
so every retry (and a repeat after a crash) carries the same bytes, and a subscriber never has to
tell the entries it has from those it has not. Headers:
  Content-Type       application/atom+xml, as the topic is served
  Link               <hub>; rel="hub", <topic>; rel="self"
  X-Hub-Signature    sha256=<hex HMAC-SHA256 of the body under the subscriber's hub.secret>, when
                     it gave one
  Idempotency-Key    the same on every attempt of one warning to one subscription: a push
                     repeated after a crash can be recognised
A 2xx is delivered; 410 Gone says the subscriber wants no more (the push is dead, and the pause
that follows stops the rest); 401/403 are the subscriber's own refusal, not a credential of
warnd's, and end the push dead as any other 4xx.

Verification of intent (spec 5.3): a GET to the callback with hub.mode, hub.topic, hub.challenge
and hub.lease_seconds; the subscriber must answer 2xx with the challenge as the whole body.
A denial (spec 5.2) is a GET with hub.mode=denied, hub.topic and hub.reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from warnd.cap import FeedLinks, alert_file_name, atom
from warnd.channels.base import Budget, Job, Sent, classify_status, retry_after
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery, Subscription, Target
from warnd.redact import redact_url, scrub

ATOM_TYPE = "application/atom+xml; charset=utf-8"
# The most of a verification answer read: a challenge is short.
MAX_ANSWER = 1024


def hub_signature(secret: str, body: bytes) -> str:
    """X-Hub-Signature (spec 7.1): the method, then the hex HMAC of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def link_header(links: FeedLinks) -> str:
    return f'<{links.hub}>; rel="hub", <{links.topic}>; rel="self"'


def push_body(d: Delivery, account: str, title: str, links: FeedLinks) -> bytes:
    """The warning's entry alone in its account's feed, as the feed names it."""
    name = alert_file_name(d.warning.cap_identifier, d.warning.created_at)
    return atom(account, title, [(name, d.cap.encode())], now=d.warning.created_at, links=links)


def client(outbound: Outbound, timeout: float, user_agent: str) -> httpx.AsyncClient:
    """One pool for every subscriber's callback: never follows a redirect (a callback is the URL
    the subscriber gave and verified)."""
    return outbound.async_client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60),
    )


def with_query(url: str, params: Mapping[str, str]) -> str:
    """The callback with the hub's parameters added to its own query (spec 5.3)."""
    parts = urlsplit(url)
    extra = urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"{parts.query}&{extra}" if parts.query else extra, ""))


async def verify_intent(
    http: httpx.AsyncClient,
    callback: str,
    params: Mapping[str, str],
    timeout: float,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> str | None:
    """None when the subscriber confirmed (2xx, the challenge as the body); otherwise why not,
    in words that never quote the callback's secret parts. `callback` may be pinned to a
    checked address, `headers` and `extensions` then keeping its Host and TLS name."""
    url = with_query(callback, params)
    try:
        async with asyncio.timeout(timeout):
            async with http.stream("GET", url, headers=dict(headers or {}), extensions=dict(extensions or {})) as r:
                body = b""
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER:
                        return f"the answer is longer than {MAX_ANSWER} bytes; it must be the challenge alone"
                status = r.status_code
    except (TimeoutError, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as e:
        return scrub(f"cannot reach it ({type(e).__name__}: {e})", url)
    if not 200 <= status < 300:
        return f"it answered HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    if body.strip() != params["hub.challenge"].encode():
        return "its answer is not the challenge (the body must be hub.challenge exactly)"
    return None


async def deny(
    http: httpx.AsyncClient,
    callback: str,
    topic: str,
    reason: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> None:
    """Tell a subscriber its subscription was denied (spec 5.2); its answer does not matter."""
    url = with_query(callback, {"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason})
    try:
        async with asyncio.timeout(timeout):
            await http.get(url, headers=dict(headers or {}), extensions=dict(extensions or {}))
    except (TimeoutError, httpx.HTTPError):
        return


class WebSubSender:
    replies = False
    # A repeat is harmless (the subscriber dedupes on the Idempotency-Key or the entry id).
    batch = 8
    channel = "websub"
    # What it delivers is the warning's CAP document: it waits for it (runtime.cap_fill).
    needs_cap = True
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(
        self,
        sub: Subscription,
        *,
        title: str,
        links: FeedLinks,
        http: Callable[[], httpx.AsyncClient],
        timeout: float,
        clock: Clock,
    ) -> None:
        """`http`: the hub's shared client; `title`: the feed's title."""
        self.target = Target.websub(sub.id)
        self.sub = sub
        self.title = title
        self.links = links
        self._http = http
        self.timeout = timeout
        self.clock = clock
        # What the sender was built from: a renewal with another secret builds a new one (the
        # runtime adds what its own checks depend on).
        self.key: tuple[object, ...] = (sub.callback, sub.secret, sub.topic, title, links)

    def __repr__(self) -> str:
        return f"WebSubSender({self.sub.id})"

    def cost(self, job: Job) -> int:
        return 1

    def headers(self, d: Delivery, body: bytes) -> dict[str, str]:
        out = {
            "Content-Type": ATOM_TYPE,
            "Link": link_header(self.links),
            "Idempotency-Key": d.idempotency_key,
            "X-Warnd-Event": d.warning.event_id,
        }
        if self.sub.secret:
            out["X-Hub-Signature"] = hub_signature(self.sub.secret, body)
        return out

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        if not d.cap:
            raise DeliveryError("warning has no CAP document (issued by an older warnd)", Failure.BAD_REQUEST)
        body = push_body(d, self.sub.account, self.title, self.links)
        where = f"websub {self.sub.id} ({redact_url(self.sub.callback)})"
        try:
            async with asyncio.timeout(self.timeout):
                url, extra, extensions = await self.destination()
                r = await self._http().post(
                    url, content=body, headers=self.headers(d, body) | extra, extensions=extensions
                )
        except (TimeoutError, httpx.TimeoutException) as e:
            raise DeliveryError(f"{where}: timeout ({type(e).__name__})", Failure.NETWORK) from None
        except httpx.HTTPError as e:
            raise DeliveryError(f"{where}: cannot connect ({type(e).__name__})", Failure.NETWORK) from None
        failure = classify_status(r.status_code)
        if failure is None:
            return Sent(remote_id=None)
        if failure is Failure.DUPLICATE:
            return Sent(remote_id=None, duplicate=True)
        detail = f"{where}: HTTP {r.status_code}"
        if failure is Failure.AUTH or r.status_code == 410:
            # The subscriber's own refusal: nothing of warnd's to fix, so not a disabled target.
            why = " (gone: the subscriber wants no more)" if r.status_code == 410 else " (refused by the subscriber)"
            raise DeliveryError(detail + why, Failure.BAD_REQUEST)
        if 300 <= r.status_code < 400:
            detail += " (redirects are not followed)"
        hold = retry_after(r.headers, self.clock.now()) if failure is Failure.RATE_LIMITED else None
        raise DeliveryError(detail, failure, hold_until=hold)

    async def destination(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Where a push goes: the URL, headers to add and httpx's request extensions. The
        runtime's sender checks and pins the callback's address here (a stranger chose it)."""
        return self.sub.callback, {}, {}

    async def aclose(self) -> None:
        return None
