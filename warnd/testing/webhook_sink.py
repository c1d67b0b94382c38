"""A media partner's webhook endpoint on 127.0.0.1, for tests and drills.

POST /<partner>: the signature is checked the way docs/partners.md tells partners to (HMAC-SHA256 over
"<timestamp>.<body>", timestamp within five minutes); a bad or stale signature gets 401. A request
that carries Standard Webhooks headers (`webhook-id`, as signed partner and ops deliveries do)
must also carry a `webhook-signature` that verifies with the partner's secret. Every POST,
answered or not, is kept in `state.requests` with its headers, for a test to verify on its own. Each
Idempotency-Key is processed once: a repeat is answered 200 and counted, not processed again.
Scripted statuses (500, 429, 503 ...) or "slow:<s>" can be queued per partner. A probe
(`X-Warnd-Kind: probe`) is verified the same way and kept apart in `state.probes`, never among
the warnings processed.

GET /<partner>?warnd.mode=subscribe&warnd.challenge=C (a subscription's verification) is answered
200 with C as the whole body, as docs/partners.md asks, unless the partner is in `wrong_answer`
(answered with other words) or `down`; each challenge is kept in `state.challenges`. A partner's
secret may be added to `secrets` once known (a subscriber is given it when it subscribes).

An `open` receiver takes unsigned POSTs (another alerting system's webhook, in a side-by-side
benchmark) and records each one. GET /_receipts[?since=N] lists what arrived, with arrival times, for a
drill or a benchmark that runs the sink in a process of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from warnd.testing._server import LocalServer, QuietHandler

TOLERANCE = 300


@dataclass(frozen=True)
class Receipt:
    partner: str
    key: str
    content_type: str
    body: bytes
    at: float


@dataclass(frozen=True)
class Request:
    partner: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SinkState:
    processed: list[Receipt] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    repeats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rejected: list[tuple[str, str]] = field(default_factory=list)
    probes: list[Receipt] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    challenges: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now: float) -> str | None:
    """None when valid, else why not."""
    if not timestamp.isdigit():
        return "no timestamp"
    if abs(now - int(timestamp)) > TOLERANCE:
        return "timestamp too old or in the future"
    expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "bad signature"
    return None


def verify_standard(secret: str, msg_id: str, timestamp: str, signatures: str, body: bytes, now: float) -> str | None:
    """Standard Webhooks: None when one of the space-separated `v1,<base64>` signatures is that of
    "<id>.<timestamp>.<body>" under the key (whsec_<base64> decoded, else the secret's bytes)."""
    if not timestamp.isdigit():
        return "no webhook-timestamp"
    if abs(now - int(timestamp)) > TOLERANCE:
        return "webhook-timestamp too old or in the future"
    try:
        key = base64.b64decode(secret[6:], validate=True) if secret.startswith("whsec_") else secret.encode()
    except (binascii.Error, ValueError):
        return "sink secret is not whsec_<base64>"
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for item in signatures.split():
        version, _, sig = item.partition(",")
        try:
            given = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        if version == "v1" and hmac.compare_digest(expected, given):
            return None
    return "bad webhook-signature"


class WebhookSink(LocalServer):
    def __init__(self, secrets: dict[str, str], port: int = 0, open: Iterable[str] = ()) -> None:
        super().__init__(_Handler, port)
        self.secrets = secrets
        self.open = frozenset(open)
        self.state = SinkState()
        self.lock = threading.Lock()
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        # Partners whose receiver is down: every request gets this status until removed.
        self.down: dict[str, int] = {}
        # Partners that answer a subscription's challenge with something else.
        self.wrong_answer: set[str] = set()

    def url(self, partner: str) -> str:
        return f"{self.base}/{partner}"

    def script(self, partner: str, *faults: str) -> None:
        with self.lock:
            self.faults[partner].extend(faults)

    def take_fault(self, partner: str) -> str | None:
        with self.lock:
            q = self.faults.get(partner)
            return q.popleft() if q else None

    def keys(self, partner: str) -> list[str]:
        with self.lock:
            return [r.key for r in self.state.processed if r.partner == partner]

    def probes(self, partner: str) -> list[Receipt]:
        with self.lock:
            return [r for r in self.state.probes if r.partner == partner]

    def receipts(self, partner: str) -> list[Receipt]:
        with self.lock:
            return [r for r in self.state.processed if r.partner == partner]


class _Handler(QuietHandler):
    server_version = "webhook-sink"

    @property
    def sink(self) -> WebhookSink:
        return self.owner  # type: ignore[no-any-return]

    def _answer(self, status: int, text: str = "", headers: dict[str, str] | None = None) -> None:
        self.reply(status, text.encode(), "text/plain", headers)

    def do_POST(self) -> None:
        body = self.body()
        partner = self.path.split("?")[0].strip("/").split("/")[0]
        with self.sink.lock:
            self.sink.state.requests.append(Request(partner, dict(self.headers.items()), body))
        down = self.sink.down.get(partner)
        probe = self.headers.get("X-Warnd-Kind") == "probe"
        # Scripted faults are meant for warnings; a receiver that is down refuses probes too.
        fault = str(down) if down else (None if probe else self.sink.take_fault(partner))
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        elif fault:
            status = int(fault)
            self._answer(status, "scripted", {"Retry-After": "1"} if status in (429, 503) else None)
            return
        if partner in self.sink.open and probe:
            self._probe(partner, body)
            return
        if partner in self.sink.open:
            with self.sink.lock:
                n = len(self.sink.state.processed)
                self.sink.state.processed.append(
                    Receipt(partner, str(n), self.headers.get("Content-Type", ""), body, time.time())
                )
            self._answer(200, "ok")
            return
        secret = self.sink.secrets.get(partner)
        if secret is None:
            self._answer(404, "no such partner")
            return
        why = verify(
            secret.encode(),
            self.headers.get("X-Warnd-Timestamp", ""),
            self.headers.get("X-Warnd-Signature", ""),
            body,
            time.time(),
        )
        msg_id = self.headers.get("webhook-id")
        if not why and msg_id is not None:
            why = verify_standard(
                secret,
                msg_id,
                self.headers.get("webhook-timestamp", ""),
                self.headers.get("webhook-signature", ""),
                body,
                time.time(),
            )
        key = self.headers.get("Idempotency-Key", "")
        if why or not key:
            with self.sink.lock:
                self.sink.state.rejected.append((partner, why or "no idempotency key"))
            self._answer(401, why or "no idempotency key")
            return
        if probe:
            self._probe(partner, body)
            return
        with self.sink.lock:
            seen = (partner, key) in self.sink.state.seen
            if seen:
                self.sink.state.repeats[key] += 1
            else:
                self.sink.state.seen.add((partner, key))
                self.sink.state.processed.append(
                    Receipt(partner, key, self.headers.get("Content-Type", ""), body, time.time())
                )
        self._answer(200, "duplicate" if seen else "ok")

    def _challenge(self, partner: str, params: dict[str, str]) -> None:
        with self.sink.lock:
            self.sink.state.challenges.append((partner, params))
        down = self.sink.down.get(partner)
        if down:
            self._answer(down, "down")
        elif partner in self.sink.wrong_answer:
            self._answer(200, "hello")
        else:
            self._answer(200, params.get("warnd.challenge", ""))

    def _probe(self, partner: str, body: bytes) -> None:
        receipt = Receipt(
            partner, self.headers.get("Idempotency-Key", ""), self.headers.get("Content-Type", ""), body, time.time()
        )
        with self.sink.lock:
            self.sink.state.probes.append(receipt)
        self._answer(200, "probe ok")

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        params = dict(parse_qsl(query))
        if params.get("warnd.mode") == "subscribe":
            self._challenge(path.strip("/").split("/")[0], params)
            return
        if path != "/_receipts":
            self._answer(404, "not found")
            return
        since = int(query.split("since=", 1)[1].split("&")[0]) if "since=" in query else 0
        with self.sink.lock:
            got = [
                {"partner": r.partner, "key": r.key, "at": r.at, "body": r.body.decode("utf-8", "replace")}
                for r in self.sink.state.processed[since:]
            ]
            total = len(self.sink.state.processed)
            repeats = sum(self.sink.state.repeats.values())
            rejected = len(self.sink.state.rejected)
            probes = len(self.sink.state.probes)
        doc = {"processed": got, "total": total, "repeats": repeats, "rejected": rejected, "probes": probes}
        raw = json.dumps(doc).encode()
        self.reply(200, raw, "application/json")
