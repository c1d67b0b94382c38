"""A WebSub subscriber on 127.0.0.1, for tests and drills: its callbacks answer the hub's
verification of intent and record each push, checking its signature as docs/partners.md tells
subscribers to.

Each callback is a path, `/<name>`, with an optional secret (`secrets[name]`):
- GET: a verification (hub.mode subscribe or unsubscribe) is answered 200 with hub.challenge as
  the body and kept in `state.verifications`; a denial (hub.mode=denied) is kept in
  `state.denials`. `wrong_echo` names callbacks that answer with another body (an unverifiable
  callback), `refuse` those that answer 404.
- POST: a push, kept in `state.pushes` with its headers and body and whether its
  X-Hub-Signature verifies (`Push.signature`: "ok", "missing", "bad"). A push whose signature
  does not verify is answered 2xx as the spec asks and is not processed; each Idempotency-Key is
  processed once (a repeat is counted in `state.repeats`). `down[name] = status` answers every
  push with that status instead; `slow[name] = seconds` answers each push that much later.

`subscribe(...)` sends a subscription request to a hub, as a subscriber would (with curl).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from warnd.testing._server import LocalServer, QuietHandler


@dataclass(frozen=True)
class Push:
    name: str
    headers: dict[str, str]
    body: bytes
    signature: str  # ok | missing | bad | unsigned (no secret for this callback)

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


@dataclass
class SubscriberState:
    verifications: list[dict[str, str]] = field(default_factory=list)
    denials: list[dict[str, str]] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    processed: list[Push] = field(default_factory=list)
    repeats: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def check_signature(secret: str, header: str | None, body: bytes) -> str:
    """How docs/partners.md tells a subscriber to check X-Hub-Signature: "ok", "missing", "bad"."""
    if not header:
        return "missing"
    method, _, given = header.partition("=")
    if method != "sha256":
        return "bad"
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(expected, given) else "bad"


class WebSubSubscriber(LocalServer):
    def __init__(
        self,
        secrets: dict[str, str] | None = None,
        port: int = 0,
        wrong_echo: set[str] | None = None,
        refuse: set[str] | None = None,
    ) -> None:
        super().__init__(_Handler, port)
        self.secrets = dict(secrets or {})
        self.wrong_echo = set(wrong_echo or ())
        self.refuse = set(refuse or ())
        self.down: dict[str, int] = {}
        self.slow: dict[str, float] = {}
        self.state = SubscriberState()
        self.lock = threading.Lock()
        self._seen: set[str] = set()

    def callback(self, name: str) -> str:
        return f"{self.base}/{name}"

    def pushes_to(self, name: str) -> list[Push]:
        with self.lock:
            return [p for p in self.state.pushes if p.name == name]

    def verified(self, name: str, mode: str = "subscribe") -> list[dict[str, str]]:
        with self.lock:
            return [v for v in self.state.verifications if v["name"] == name and v["hub.mode"] == mode]

    def record_push(self, push: Push) -> None:
        with self.lock:
            self.state.pushes.append(push)
            if push.signature in ("missing", "bad"):
                return
            if push.key and push.key in self._seen:
                self.state.repeats[push.key] += 1
                return
            self._seen.add(push.key)
            self.state.processed.append(push)


class _Handler(QuietHandler):
    def _name(self) -> tuple[str, dict[str, str]]:
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        return parts.path.strip("/"), query

    def do_GET(self) -> None:
        owner: WebSubSubscriber = self.owner
        name, query = self._name()
        mode = query.get("hub.mode", "")
        if mode == "denied":
            with owner.lock:
                owner.state.denials.append({"name": name, **query})
            self.reply(200, b"", "text/plain")
            return
        if name in owner.refuse:
            self.reply(404, b"no such subscription", "text/plain")
            return
        challenge = query.get("hub.challenge", "")
        with owner.lock:
            owner.state.verifications.append({"name": name, **query})
        answer = b"not-the-challenge" if name in owner.wrong_echo else challenge.encode()
        self.reply(200, answer, "text/plain")

    def do_POST(self) -> None:
        owner: WebSubSubscriber = self.owner
        name, _query = self._name()
        body = self.body()
        # Named as in docs/partners.md, whatever case the client wrote them in.
        headers = {k.title(): v for k, v in self.headers.items()}
        secret = owner.secrets.get(name)
        signature = check_signature(secret, headers.get("X-Hub-Signature"), body) if secret else "unsigned"
        owner.record_push(Push(name, headers, body, signature))
        delay = owner.slow.get(name)
        if delay:
            time.sleep(delay)
        status = owner.down.get(name)
        if status is not None:
            self.reply(status, b"down", "text/plain")
            return
        self.reply(202, b"", "text/plain")


def subscribe(
    hub: str,
    topic: str,
    callback: str,
    *,
    mode: str = "subscribe",
    secret: str | None = None,
    lease: int | None = None,
) -> tuple[int, str]:
    """A subscription request to `hub`, form-encoded: the hub's status and answer."""
    form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
    if secret is not None:
        form["hub.secret"] = secret
    if lease is not None:
        form["hub.lease_seconds"] = str(lease)
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(  # noqa: S310 (a loopback hub the caller names)
        hub, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
