"""Media-partner webhooks: each warning POSTed as JSON or CAP 1.2 XML, signed.

Headers (documented for partners in docs/partners.md, with a verification example):
  webhook-id          the Idempotency-Key (Standard Webhooks, standardwebhooks.com)
  webhook-timestamp   unix seconds when this attempt was signed
  webhook-signature   "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>", one per
                      secret, space-separated (several while a secret rotates)
  X-Warnd-Timestamp   the same unix seconds (deprecated: goes in the next release)
  X-Warnd-Signature   v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>, first secret only
                      (deprecated: goes in the next release)
  Idempotency-Key     the same on every retry of one warning to one partner: dedupe on it
  X-Warnd-Event       the event id, X-Warnd-Kind new/update/cancel/escalate/all_clear

The body is built from what the outbox stored, so it is byte-for-byte the same on every retry;
only the timestamp and signature change. A 2xx or 409 (already have it) is delivered.

A probe (`probe`) is signed the same way but says so: `X-Warnd-Kind: probe`, a JSON body of
schema warnd.probe/1, a fresh Idempotency-Key, no X-Warnd-Event. It is no warning and never
goes through the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from warnd.cap import map_url
from warnd.channels.base import Budget, Job, Sent, classify_status, retry_after
from warnd.clock import Clock, timestamp
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery, Target, event_json

SIGNATURE_VERSION = "v1"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


WHSEC_PREFIX = "whsec_"


def partner_secrets(secret: Secret) -> list[str]:
    """A partner credential holds one secret a line: more than one while a secret rotates."""
    return [line.strip() for line in secret.reveal().splitlines() if line.strip()]


def signing_key(value: str) -> bytes:
    """The Standard Webhooks key: `whsec_<base64>` is decoded as the spec says; any other
    secret's own UTF-8 bytes are the key, so a partner keeps the secret it has (its whsec_ form
    is "whsec_" + base64 of those bytes). The message never carries the value."""
    if not value.startswith(WHSEC_PREFIX):
        return value.encode()
    try:
        key = base64.b64decode(value[len(WHSEC_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret starting with whsec_ must be base64 after it") from None
    if not key:
        raise ValueError("a secret starting with whsec_ must not be empty after it")
    return key


def standard_signature(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode() for k in keys)


def signed_headers(keys: list[bytes], legacy_key: bytes, msg_id: str, body: bytes) -> dict[str, str]:
    """The headers of one signed POST, signed now: Standard Webhooks, the deprecated pair, and
    the Idempotency-Key (the same as webhook-id)."""
    ts = int(timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_signature(keys, msg_id, ts, body),
        "X-Warnd-Timestamp": str(ts),
        "X-Warnd-Signature": sign(legacy_key, ts, body),
        "Idempotency-Key": msg_id,
    }


def client(outbound: Outbound, timeout: float, user_agent: str, connections: int = 8) -> httpx.AsyncClient:
    """For POSTs to a URL an operator configured: never follows a redirect elsewhere. Kept-alive
    connections (up to `connections` at once) carry one delivery after another to a partner."""
    return outbound.async_client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=60),
    )


PROBE_SCHEMA = "warnd.probe/1"


def probe_body(partner: str, probe_id: str, sent_at: datetime) -> bytes:
    payload = {
        "schema": PROBE_SCHEMA,
        "partner": partner,
        "probe_id": probe_id,
        "sent_at": sent_at.astimezone(UTC).isoformat(timespec="seconds"),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def json_body(d: Delivery, partner: str, maps_url: str | None = None) -> bytes:
    """`maps_url`: the public base URL of the maps; the body then names the warning's map, with
    its alt text when the warning was issued with one."""
    payload: dict[str, Any] = {
        "schema": "warnd.warning/1",
        "partner": partner,
        "idempotency_key": d.idempotency_key,
        "warning": d.warning.to_json(),
        "event": event_json(d.event, d.attribution),
        # The source's credit as its terms ask for it (the feed catalogue's `attribution`).
        "attribution": d.attribution,
    }
    url = map_url(maps_url, d.warning)
    if url is not None:
        payload["map"] = {"url": url} | ({"alt": d.map_alt} if d.map_alt else {})
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class WebhookSender:
    replies = False
    batch = 32
    channel = "webhook"
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(
        self,
        partner: str,
        *,
        url: str,
        secret: Secret,
        fmt: str,
        timeout: float,
        user_agent: str,
        outbound: Outbound,
        clock: Clock,
        maps_url: str | None = None,
    ) -> None:
        self.target = Target.partner(partner)
        self.maps_url = maps_url
        self.clock = clock
        self.partner = partner
        self.url = url
        values = partner_secrets(secret)
        if not values:
            raise ValueError(f"partner {partner}: the secret is empty")
        # Validated here, so that a malformed whsec_ secret is a config problem, not a failed send.
        self._keys = [signing_key(v) for v in values]
        # The deprecated header keeps its old key, the first secret as written, for one release.
        self._legacy_key = values[0].encode()
        self.fmt = fmt
        self.timeout = timeout
        self.user_agent = user_agent
        self.outbound = outbound
        # Made on first use, so that a sender built by `warnd check` or refused with its config
        # never holds a pool.
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = client(self.outbound, self.timeout, self.user_agent)
        return self._http

    def __repr__(self) -> str:
        return f"WebhookSender({self.partner})"

    @property
    def needs_cap(self) -> bool:
        """A partner who takes CAP waits for the warning's document (runtime.cap_fill)."""
        return self.fmt == "cap"

    def cost(self, job: Job) -> int:
        return 1

    def body(self, d: Delivery) -> tuple[bytes, str]:
        if self.fmt == "cap" and d.cap:
            return d.cap.encode(), "application/cap+xml; charset=utf-8"
        return json_body(d, self.partner, self.maps_url), "application/json; charset=utf-8"

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        body, content_type = self.body(d)
        headers = {
            "Content-Type": content_type,
            **self._signed(d.idempotency_key, body),
            "X-Warnd-Event": d.warning.event_id,
            "X-Warnd-Kind": d.warning.kind.value,
        }
        status, answer = await self._post(body, headers)
        failure = classify_status(status)
        if failure is None:
            return Sent(remote_id=answer.get("x-request-id"))
        if failure is Failure.DUPLICATE:
            return Sent(remote_id=None, duplicate=True)
        detail = f"partner {self.partner}: HTTP {status}"
        if 300 <= status < 400:
            detail += " (redirects are not followed: give warnd the final URL)"
        hold = retry_after(answer, self.clock.now()) if failure is Failure.RATE_LIMITED else None
        raise DeliveryError(detail, failure, hold_until=hold)

    async def probe(self) -> None:
        """A signed test delivery: None when the endpoint took it, DeliveryError when it is
        unreachable or refuses it (401/403: the secret; 404/410: gone; 3xx: moved; 5xx)."""
        body = probe_body(self.partner, uuid.uuid4().hex, self.clock.now())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **self._signed("probe-" + hashlib.sha256(body).hexdigest()[:32], body),
            "X-Warnd-Kind": "probe",
        }
        status, answer = await self._post(body, headers)
        failure = classify_status(status)
        if failure is None or failure is Failure.DUPLICATE:
            return
        detail = f"partner {self.partner}: HTTP {status}"
        if failure is Failure.BAD_REQUEST and (300 <= status < 400 or status in (404, 410)):
            what = "moved (redirects are not followed)" if status < 400 else "no endpoint at the configured URL"
            raise DeliveryError(f"{detail}: {what}", failure)
        if failure is Failure.BAD_REQUEST:
            # It answered and judged the request: the endpoint is there; a probe it does not
            # take is its own business, and a warning would still reach it.
            return
        hold = retry_after(answer, self.clock.now()) if failure is Failure.RATE_LIMITED else None
        raise DeliveryError(detail, failure, hold_until=hold)

    async def destination(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Where a push goes: the URL, headers to add and httpx's request extensions. A sender
        whose URL a stranger chose checks and pins the address here (runtime.subscribers)."""
        return self.url, {}, {}

    def _signed(self, key: str, body: bytes) -> dict[str, str]:
        return signed_headers(self._keys, self._legacy_key, key, body)

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        try:
            # httpx's timeouts bound each read; this bounds the whole answer, as a partner that
            # drips its reply must not hold the lane.
            async with asyncio.timeout(self.timeout):
                url, extra, extensions = await self.destination()
                r = await self._client().post(url, content=body, headers=headers | extra, extensions=extensions)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise DeliveryError(f"partner {self.partner}: timeout ({type(e).__name__})", Failure.NETWORK) from None
        except (httpx.ConnectError, httpx.ProxyError) as e:
            why = f"partner {self.partner}: cannot connect ({type(e).__name__})"
            raise DeliveryError(why, Failure.NETWORK) from None
        except httpx.HTTPError as e:
            raise DeliveryError(f"partner {self.partner}: {type(e).__name__}", Failure.NETWORK) from None
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
