"""Where operator notices go besides the log: a file of JSON lines, or a webhook (a chat room,
a paging service) that receives the JSON with a `text` line, signed like partner webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from warnd.channels.base import classify_status
from warnd.channels.file import append_line
from warnd.channels.webhook import client, partner_secrets, signed_headers, signing_key
from warnd.config import secrets
from warnd.config.outbound import Outbound
from warnd.config.schema import OpsChannel, OpsFile
from warnd.errors import DeliveryError, Failure


class OpsSender(Protocol):
    name: str

    async def send(self, body: dict[str, Any]) -> None:
        """Deliver or raise DeliveryError."""
        ...

    async def aclose(self) -> None: ...


class OpsFileSender:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    async def send(self, body: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(append_line, self.path, json.dumps(body, ensure_ascii=False) + "\n")
        except OSError as e:
            raise DeliveryError(f"cannot write {self.path}: {e.strerror or e}", Failure.SERVER_ERROR) from None

    async def aclose(self) -> None:
        return None


class OpsWebhookSender:
    def __init__(
        self, name: str, url: str, secret: secrets.Secret | None, timeout: float, user_agent: str, outbound: Outbound
    ) -> None:
        self.name = name
        self.url = url
        # Signed as partner deliveries are (one secret a line while it rotates); None: unsigned.
        values = partner_secrets(secret) if secret is not None else []
        self._keys = [signing_key(v) for v in values]
        self._legacy_key = values[0].encode() if values else b""
        self.client = client(outbound, timeout, user_agent)

    def __repr__(self) -> str:
        return f"OpsWebhookSender({self.name})"

    async def send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        # The same on every retry: a receiver that dedupes shows each notice once.
        key = f"warnd-notice-{body.get('notice_id')}-{body.get('phase')}"
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
        if self._keys:
            headers.update(signed_headers(self._keys, self._legacy_key, key, data))
        try:
            r = await self.client.post(self.url, content=data, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"ops webhook {self.name}: {type(e).__name__}", Failure.NETWORK) from None
        failure = classify_status(r.status_code)
        if failure is not None and failure is not Failure.DUPLICATE:
            raise DeliveryError(f"ops webhook {self.name}: HTTP {r.status_code}", failure)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class BuiltOps:
    senders: dict[str, OpsSender] = field(default_factory=dict)
    # Channel -> why it cannot send (a missing credential).
    missing: dict[str, str] = field(default_factory=dict)
    # (key path, message) of each missing or unfit credential, for `warnd check --secrets`.
    problems: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)


def make_ops(
    channels: dict[str, OpsChannel],
    resolve: Callable[[str], Path],
    user_agent: str,
    outbound: Outbound,
    *,
    build: bool,
    credentials: secrets.Credentials | None = None,
) -> BuiltOps:
    """`build` False: only check the credentials (`warnd check --secrets`)."""
    out = BuiltOps()
    creds = credentials or secrets.Credentials.from_environment()
    for name, spec in channels.items():
        if isinstance(spec, OpsFile):
            if build:
                out.senders[name] = OpsFileSender(name, resolve(spec.path))
            continue
        why: list[str] = []
        secret = None
        if spec.secret is not None:
            secret = creds.read(spec.secret)
            if secret is None:
                why.append(secrets.missing(spec.secret))
                out.problems.append((("ops", name, "secret"), why[-1]))
            else:
                try:
                    [signing_key(v) for v in partner_secrets(secret)]
                except ValueError as e:
                    # As for a partner: named, with where it lives, never shown.
                    why.append(f"credential {spec.secret!r}: {e}; {secrets.where(spec.secret)}")
                    out.problems.append((("ops", name, "secret"), why[-1]))
        url = spec.url
        if spec.url_credential is not None:
            try:
                url = creds.url(spec.url_credential).reveal()
            except secrets.CredentialError as e:
                why.append(str(e))
                out.problems.append((("ops", name, "url_credential"), why[-1]))
        if why or url is None:
            out.missing[name] = "; ".join(why)
            continue
        if build:
            out.senders[name] = OpsWebhookSender(name, url, secret, spec.timeout, user_agent, outbound)
    return out
