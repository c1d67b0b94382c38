"""Media-partner webhooks: each warning POSTed as JSON or CAP 1.2 XML, signed.

Headers (documented for partners in the README, with a verification example):
  X-Warnd-Timestamp   unix seconds when this attempt was signed
  X-Warnd-Signature   v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
  Idempotency-Key     the same on every retry of one warning to one partner: dedupe on it
  X-Warnd-Event       the event id, X-Warnd-Kind new/update/cancel/escalate/all_clear

The body is built from what the outbox stored, so it is byte-for-byte the same on every retry;
only the timestamp and signature change. A 2xx or 409 (already have it) is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from warnd.channels.base import Budget, Job, Sent, classify_status, retry_after
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery

SIGNATURE_VERSION = "v1"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def client(timeout: float, user_agent: str) -> httpx.AsyncClient:
    """For POSTs to a URL an operator configured: never follows a redirect elsewhere."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        headers={"User-Agent": user_agent},
    )


def json_body(d: Delivery, partner: str) -> bytes:
    payload: dict[str, Any] = {
        "schema": "warnd.warning/1",
        "partner": partner,
        "idempotency_key": d.idempotency_key,
        "warning": d.warning.to_json(),
        "event": d.event,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class WebhookSender:
    replies = False
    channel = "webhook"
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(self, partner: str, *, url: str, secret: Secret, fmt: str, timeout: float, user_agent: str) -> None:
        self.target = f"partner:{partner}"
        self.partner = partner
        self.url = url
        self._secret = secret
        self.fmt = fmt
        self.client = client(timeout, user_agent)

    def __repr__(self) -> str:
        return f"WebhookSender({self.partner})"

    def cost(self, job: Job) -> int:
        return 1

    def body(self, d: Delivery) -> tuple[bytes, str]:
        if self.fmt == "cap" and d.cap:
            return d.cap.encode(), "application/cap+xml; charset=utf-8"
        return json_body(d, self.partner), "application/json; charset=utf-8"

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        body, content_type = self.body(d)
        ts = int(time.time())
        headers = {
            "Content-Type": content_type,
            "X-Warnd-Timestamp": str(ts),
            "X-Warnd-Signature": sign(self._secret.reveal().encode(), ts, body),
            "Idempotency-Key": d.idempotency_key,
            "X-Warnd-Event": d.warning.event_id,
            "X-Warnd-Kind": d.warning.kind.value,
        }
        try:
            r = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as e:
            raise DeliveryError(f"partner {self.partner}: timeout ({type(e).__name__})", Failure.NETWORK) from None
        except httpx.HTTPError as e:
            raise DeliveryError(f"partner {self.partner}: {type(e).__name__}", Failure.NETWORK) from None
        failure = classify_status(r.status_code)
        if failure is None:
            return Sent(remote_id=r.headers.get("x-request-id"))
        if failure is Failure.DUPLICATE:
            return Sent(remote_id=None, duplicate=True)
        detail = f"partner {self.partner}: HTTP {r.status_code}"
        if 300 <= r.status_code < 400:
            detail += " (redirects are not followed: give warnd the final URL)"
        hold = retry_after(r.headers, datetime.now(UTC)) if failure is Failure.RATE_LIMITED else None
        raise DeliveryError(detail, failure, hold_until=hold)

    async def aclose(self) -> None:
        await self.client.aclose()
