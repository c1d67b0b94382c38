"""A fake Mastodon instance on loopback that answers as Mastodon does, for tests and drills
(`python -m warnd.testing mastodon`).

Routes: GET /api/v2/instance (the character limit), GET /api/v1/accounts/verify_credentials,
POST /api/v1/statuses (JSON or form), POST /api/v2/media (multipart `file`, `description`;
200, or 202 while "processing" when `processing` is set), GET /api/v1/media/:id (206 while
processing, then 200).

What it enforces as Mastodon does: the bearer token (401 `{"error": "The access token is
invalid"}`), the character limit with a URL counted as 23 (422 "Validation failed: Text
character limit of N exceeded"), a reply to an unknown status (404), media that is unknown or
still processing (422), the per-account limit of `rate_limit` requests per `rate_window`
seconds and of `media_limit` uploads per `media_window` (429 `{"error": "Too many requests"}`),
with X-RateLimit-Limit/Remaining/Reset (ISO 8601) on every authenticated answer, and the
Idempotency-Key: a repeated key within `idempotency_ttl` answers the status it made the first
time, as Mastodon does.

What it records: every request that reached it (`attempts`, repeats included: a client that
sends twice is visible) and every status it made (`statuses`). Scripted faults (`fail`) answer
a request with any status and body, before processing it or after (`after=True`: the status is
made, the client sees the fault: an answer lost on the way). `down` (a status such as 503): the
instance down, every request answered with it and an HTML page until set back to None."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from warnd.testing._server import LocalServer, QuietHandler

INVALID_TOKEN = {"error": "The access token is invalid"}
TOO_MANY = {"error": "Too many requests"}
REPLY_GONE = {"error": "The post you are trying to reply to does not appear to exist."}
PROCESSING = {"error": "Cannot attach files that have not finished processing. Try again in a moment!"}
_DOWN = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


def counted(text: str) -> int:
    """The length Mastodon counts: a URL as 23 characters."""
    return len(_URL.sub("x" * 23, text))


@dataclass
class Status:
    id: str
    account: str
    text: str
    reply_to: str | None
    media_ids: list[str]
    language: str | None
    visibility: str
    key: str | None
    # When the instance made it (unix time): when it reached the instance's readers.
    at: float = field(default_factory=time.time)


@dataclass
class Attempt:
    method: str
    path: str
    account: str | None
    key: str | None
    body: dict[str, Any]


@dataclass
class Media:
    id: str
    account: str
    size: int
    description: str
    ready: bool


@dataclass
class Fault:
    method: str
    path: str
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    after: bool


@dataclass
class _State:
    statuses: list[Status] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    # account -> (window start, requests in it); the same for uploads.
    windows: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    media_windows: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)


class FakeMastodon(LocalServer):
    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        *,
        max_characters: int = 500,
        rate_limit: int = 300,
        rate_window: float = 300.0,
        media_limit: int = 30,
        media_window: float = 1800.0,
        idempotency_ttl: float = 3600.0,
        processing: int = 0,
        port: int = 0,
    ) -> None:
        """`tokens`: access token -> account name (None: any token is the account named by it).
        `processing`: how many GET /api/v1/media/:id polls an upload answers 206 before ready."""
        super().__init__(_Handler, port)
        self.tokens = tokens
        self.max_characters = max_characters
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.media_limit = media_limit
        self.media_window = media_window
        self.idempotency_ttl = idempotency_ttl
        self.processing = processing
        self._polls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.state = _State()
        self._ids = itertools.count(110_000_000_000_000_001)
        # The instance down (a status such as 503): every request is answered with it and an
        # HTML page, as a proxy in front of a stopped instance answers, until set back to None.
        self.down: int | None = None

    def fail(
        self,
        path: str,
        status: int,
        body: bytes | dict[str, Any] = b"",
        *,
        method: str = "POST",
        times: int = 1,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
        after: bool = False,
    ) -> None:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        with self.lock:
            for _ in range(times):
                self.state.faults.append(Fault(method, path, status, raw, content_type, dict(headers or {}), after))

    def statuses_by(self, account: str) -> list[Status]:
        with self.lock:
            return [s for s in self.state.statuses if s.account == account]

    def attempts_at(self, path: str, method: str = "POST") -> list[Attempt]:
        with self.lock:
            return [a for a in self.state.attempts if a.path == path and a.method == method]

    def account_of(self, authorization: str) -> str | None:
        if not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        if not token:
            return None
        if self.tokens is None:
            return token
        return self.tokens.get(token)

    def next_id(self) -> str:
        return str(next(self._ids))


class _Handler(QuietHandler):
    server_version = "fake-mastodon"

    @property
    def fake(self) -> FakeMastodon:
        return self.owner  # type: ignore[no-any-return]

    def do_GET(self) -> None:
        self._handle("GET", b"")

    def do_POST(self) -> None:
        self._handle("POST", self.body())

    def _handle(self, method: str, raw: bytes) -> None:
        path = self.path.split("?")[0]
        fake = self.fake
        now = datetime.now(UTC)
        account = fake.account_of(self.headers.get("Authorization", ""))
        form = self._form(raw)
        with fake.lock:
            fake.state.attempts.append(
                Attempt(method, path, account, self.headers.get("Idempotency-Key"), _printable(form))
            )
            down = fake.down
            # A scripted fault waits for the instance to be back.
            waiting = [] if down else fake.state.faults
            fault = next((f for f in waiting if f.method == method and f.path == path), None)
            if fault is not None:
                fake.state.faults.remove(fault)
        if down is not None:
            self.reply(down, _DOWN, "text/html")
            return
        if path == "/api/v2/instance" and method == "GET" and fault is None:
            self._json(200, _instance(fake.max_characters))
            return
        if fault is not None and not fault.after:
            self._fault(fault)
            return
        if account is None:
            self._json(401, INVALID_TOKEN)
            return
        with fake.lock:
            limit = self._window(fake.state.windows, account, now, fake.rate_limit, fake.rate_window)
        if limit[1] < 0:
            self._json(429, TOO_MANY, limit[0])
            return
        status, body = self._route(method, path, account, form, now)
        if fault is not None:
            self._fault(fault)
            return
        self._json(status, body, limit[0])

    def _route(self, method: str, path: str, account: str, form: dict[str, Any], now: datetime) -> tuple[int, Any]:
        fake = self.fake
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return 200, {"id": "1", "username": account, "acct": account}
        if method == "POST" and path == "/api/v1/statuses":
            return self._status(account, form, now)
        if method == "POST" and path in ("/api/v2/media", "/api/v1/media"):
            with fake.lock:
                _, left = self._window(fake.state.media_windows, account, now, fake.media_limit, fake.media_window)
            if left < 0:
                return 429, TOO_MANY
            upload = form.get("file")
            if not isinstance(upload, bytes) or not upload.startswith(b"\x89PNG\r\n\x1a\n"):
                return 422, {"error": "Validation failed: File content type is invalid"}
            media = Media(
                fake.next_id(), account, len(upload), str(form.get("description") or ""), fake.processing == 0
            )
            with fake.lock:
                fake.state.media[media.id] = media
                fake._polls[media.id] = fake.processing
            return (200 if media.ready else 202), _media_json(media)
        m = re.fullmatch(r"/api/v1/media/(\d+)", path)
        if method == "GET" and m:
            with fake.lock:
                found = fake.state.media.get(m.group(1))
                if found is None or found.account != account:
                    return 404, {"error": "Record not found"}
                if not found.ready:
                    fake._polls[found.id] -= 1
                    found.ready = fake._polls[found.id] < 0
            return (200 if found.ready else 206), _media_json(found)
        return 404, {"error": "Record not found"}

    def _status(self, account: str, form: dict[str, Any], now: datetime) -> tuple[int, Any]:
        fake = self.fake
        key = self.headers.get("Idempotency-Key")
        text = str(form.get("status") or "")
        media_ids = [str(m) for m in (form.get("media_ids") or form.get("media_ids[]") or [])]
        reply_to = form.get("in_reply_to_id")
        with fake.lock:
            if key:
                seen = fake.state.keys.get((account, key))
                if seen is not None and (now - seen[1]).total_seconds() < fake.idempotency_ttl:
                    original = next(s for s in fake.state.statuses if s.id == seen[0])
                    return 200, _status_json(original)
            if not text.strip() and not media_ids:
                return 422, {"error": "Validation failed: Text can't be blank"}
            if counted(text) > fake.max_characters:
                return 422, {"error": f"Validation failed: Text character limit of {fake.max_characters} exceeded"}
            if reply_to and not any(s.id == str(reply_to) for s in fake.state.statuses):
                return 404, REPLY_GONE
            for mid in media_ids:
                media = fake.state.media.get(mid)
                if media is None or media.account != account:
                    return 422, {"error": "Validation failed: Media attachments is invalid"}
                if not media.ready:
                    return 422, PROCESSING
            status = Status(
                fake.next_id(),
                account,
                text,
                str(reply_to) if reply_to else None,
                media_ids,
                form.get("language"),
                str(form.get("visibility") or "public"),
                key,
            )
            fake.state.statuses.append(status)
            if key:
                fake.state.keys[(account, key)] = (status.id, now)
        return 200, _status_json(status)

    @staticmethod
    def _window(
        windows: dict[str, tuple[datetime, int]], account: str, now: datetime, limit: int, seconds: float
    ) -> tuple[dict[str, str], int]:
        """Counts the request in the account's fixed window: (headers, requests left; <0: over)."""
        start, used = windows.get(account, (now, 0))
        if (now - start).total_seconds() >= seconds:
            start, used = now, 0
        used += 1
        windows[account] = (start, used)
        reset = start + timedelta(seconds=seconds)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
        }
        return headers, limit - used

    def _form(self, raw: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
        if content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
            out: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if not name:
                    continue
                value = payload if isinstance(payload, bytes) else b""
                out[str(name)] = value if part.get_filename() else value.decode("utf-8", "replace")
            return out
        fields = parse_qs(raw.decode("utf-8", "replace"))
        return {k: (v if k.endswith("[]") else v[0]) for k, v in fields.items()}

    def _fault(self, fault: Fault) -> None:
        self.reply(fault.status, fault.body, fault.content_type, fault.headers)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.reply(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)


def _printable(form: dict[str, Any]) -> dict[str, Any]:
    return {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v) for k, v in form.items()}


def _instance(max_characters: int) -> dict[str, Any]:
    return {
        "domain": "fake.mastodon.test",
        "title": "fake Mastodon",
        "version": "4.3.0",
        "configuration": {
            "statuses": {
                "max_characters": max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            },
            "media_attachments": {"image_size_limit": 16777216, "description_limit": 1500},
        },
    }


def _status_json(s: Status) -> dict[str, Any]:
    return {
        "id": s.id,
        "content": f"<p>{s.text}</p>",
        "in_reply_to_id": s.reply_to,
        "visibility": s.visibility,
        "language": s.language,
        "media_attachments": [{"id": m, "type": "image"} for m in s.media_ids],
        "account": {"id": "1", "acct": s.account},
    }


def _media_json(m: Media) -> dict[str, Any]:
    return {
        "id": m.id,
        "type": "image",
        "url": f"https://fake.mastodon.test/media/{m.id}.png" if m.ready else None,
        "description": m.description,
    }
