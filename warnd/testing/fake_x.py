"""A fake X API v2 on 127.0.0.1: POST /2/tweets as X answers it, for tests and drills.

- OAuth 1.0a user context required: the Authorization header is parsed and its HMAC-SHA1
  signature verified against the app's and the user's secrets (a request signed for another host
  fails, as it would at X). Unknown token: 401. A suspended user: 403.
- Limits per user and per app in fixed windows, with x-rate-limit-* and x-user-limit-24hour-* /
  x-app-limit-24hour-* headers; over a limit: 429 with X's documented body.
- The same text twice from one user: 403 with X's duplicate-content problem body (no code).
  The refusal is kept in `state.attempts` like every other request: a test counts what was
  sent, part by part, not only what X kept (`posts`, where a refused repeat never shows).
- A reply to a post that does not exist: 403 with X's "deleted or not visible" message.
- GET /2/users/me answers who the token belongs to, with its own limit (75 per 15 min per
  user, as X documents) and 429 past it; `revoke(name)` makes the user's token unknown (401 on
  every request, as X answers a revoked token), `reinstate(name)` undoes it. Each call is kept
  in `state.me` (user or None, status).
- Scripted faults, consumed one per request (optionally for one user): "500", "503-html",
  "429" (with a reset a few seconds ahead), "slow:<s>", "hang", "drop" (close before doing
  anything), "drop-after" (post, then close without answering: the outcome is unknown to the
  client), "401", "402" (the app's credits are spent; set as `down` to answer it until
  cleared), "403-not-permitted", "status:<status>" (X's problem body with no message of note),
  "html:<status>" (an HTML error page), "cut-json:<status>" (a JSON body cut off mid-way).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature, utils

from warnd.testing._server import LocalServer, QuietHandler

DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
RATE_LIMITED = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
# The app's pay-per-use credits are spent: as developers report X answering it (the body is not
# in X's documentation).
CREDITS_DEPLETED = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": "https://api.twitter.com/2/problems/credits",
    "status": 402,
}
PARENT_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
NOT_PERMITTED = "You are not permitted to perform this action."


@dataclass(frozen=True)
class Post:
    id: str
    user: str
    text: str
    reply_to: str | None
    at: float


@dataclass(frozen=True)
class Attempt:
    """One POST /2/tweets as it arrived, and X's answer: `post_id` when it was taken."""

    user: str | None
    text: str | None
    reply_to: str | None
    status: int
    post_id: str | None
    at: float
    # The refusal's problem detail, if any.
    detail: str = ""

    @property
    def duplicate(self) -> bool:
        """Refused as a repeat of a text the user has already posted."""
        return self.status == 403 and self.detail == DUPLICATE["detail"]


@dataclass
class _Window:
    limit: int
    length: float
    start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start, self.used = now, 0

    @property
    def reset(self) -> int:
        return int(self.start + self.length) + 1


@dataclass
class _User:
    name: str
    secret: str
    window: _Window
    day: _Window
    me: _Window = field(default_factory=lambda: _Window(75, 900.0))
    suspended: bool = False
    revoked: bool = False


@dataclass
class FakeXState:
    posts: list[Post] = field(default_factory=list)
    # Every request: (user or None, HTTP status, monotonic time).
    requests: list[tuple[str | None, int, float]] = field(default_factory=list)
    # Every request with its text, accepted or refused (faults included), in arrival order.
    attempts: list[Attempt] = field(default_factory=list)
    duplicates: int = 0
    # 429s the client earned by going over a limit (not scripted ones).
    limit_hits: int = 0
    bad_signatures: int = 0
    # GET /2/users/me: (user or None, status), in arrival order.
    me: list[tuple[str | None, int]] = field(default_factory=list)


class FakeX(LocalServer):
    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        users: dict[str, tuple[str, str]] | None,
        user_limit: tuple[int, float] = (100, 900.0),
        user_day_limit: tuple[int, float] = (2400, 86400.0),
        app_limit: tuple[int, float] = (10_000, 86400.0),
        latency: float = 0.0,
        port: int = 0,
    ) -> None:
        """`users`: access token -> (token secret, name). None: accept any token without
        checking its signature (drills, where nobody wants to share secrets with a fake)."""
        super().__init__(_Handler, port)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.open = users is None
        # Seconds each post takes, like a real API far away.
        self.latency = latency
        self.user_limit = user_limit
        self.user_day_limit = user_day_limit
        self.users: dict[str, _User] = {}
        for token, (secret, name) in (users or {}).items():
            self._add_user(token, secret, name)
        self.app = _Window(*app_limit)
        self.state = FakeXState()
        self.lock = threading.Lock()
        self.faults: deque[tuple[str | None, str]] = deque()
        # A standing outage: every post meets this fault (see _fault) until it is set to None.
        self.down: str | None = None
        self._next_id = 1_800_000_000_000_000_000

    def _add_user(self, token: str, secret: str, name: str) -> _User:
        user = _User(name, secret, _Window(*self.user_limit), _Window(*self.user_day_limit))
        self.users[token] = user
        return user

    def script(self, *faults: str, user: str | None = None) -> None:
        with self.lock:
            self.faults.extend((user, f) for f in faults)

    def suspend(self, name: str) -> None:
        with self.lock:
            for u in self.users.values():
                if u.name == name:
                    u.suspended = True

    def revoke(self, name: str) -> None:
        with self.lock:
            for u in self.users.values():
                if u.name == name:
                    u.revoked = True

    def reinstate(self, name: str) -> None:
        with self.lock:
            for u in self.users.values():
                if u.name == name:
                    u.revoked = False

    def me_calls(self, name: str | None = None) -> list[int]:
        """The statuses of GET /2/users/me, of one user (None: those refused as unknown)."""
        with self.lock:
            return [status for who, status in self.state.me if who == name]

    def posts_by(self, name: str) -> list[Post]:
        with self.lock:
            return [p for p in self.state.posts if p.user == name]

    def attempts_by(self, name: str) -> list[Attempt]:
        """What the user sent, in order: every request, taken or refused."""
        with self.lock:
            return [a for a in self.state.attempts if a.user == name]

    # --- called by the handler ------------------------------------------------------------

    def take_fault(self, user: str) -> str | None:
        with self.lock:
            for i, (who, fault) in enumerate(self.faults):
                if who is None or who == user:
                    del self.faults[i]
                    return fault
        return None

    def authenticate(self, header: str, host: str, path: str, method: str = "POST") -> tuple[_User | None, str]:
        if not header.startswith("OAuth "):
            return None, "missing OAuth 1.0a Authorization header"
        try:
            # The header keeps values percent-encoded; the signature is over the decoded ones.
            params = [(k, utils.unescape(v)) for k, v in utils.parse_authorization_header(header)]
        except ValueError:
            return None, "malformed Authorization header"
        p = dict(params)
        for key in ("oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_nonce", "oauth_timestamp"):
            if key not in p:
                return None, f"Authorization header lacks {key}"
        if p["oauth_consumer_key"] != self.consumer_key:
            return None, "unknown consumer key"
        with self.lock:
            user = self.users.get(p["oauth_token"])
            if user is None and self.open:
                user = self._add_user(p["oauth_token"], "", f"user-{len(self.users) + 1}")
        if user is None or user.revoked:
            return None, "unknown access token"
        if not self.open:
            req = OAuthRequest(f"http://{host}{path}", http_method=method)
            req.params = [(k, v) for k, v in params if k != "oauth_signature"]
            req.signature = p["oauth_signature"]
            if not signature.verify_hmac_sha1(req, self.consumer_secret, user.secret):
                with self.lock:
                    self.state.bad_signatures += 1
                return None, "bad OAuth signature"
        return user, ""

    def create(self, user: _User, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.time()
        with self.lock:
            for w in (user.window, user.day, self.app):
                w.roll(now)
            headers = self._limit_headers(user)
            if any(w.used >= w.limit for w in (user.window, user.day, self.app)):
                self.state.limit_hits += 1
                return 429, RATE_LIMITED, headers
            for w in (user.window, user.day, self.app):
                w.used += 1
            headers = self._limit_headers(user)
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                return 400, {"title": "Invalid Request", "detail": "text is required", "status": 400}, headers
            reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if reply is not None and not any(p.id == reply for p in self.state.posts):
                return 403, {"title": "Forbidden", "detail": PARENT_GONE, "status": 403}, headers
            if any(p.user == user.name and p.text == text for p in self.state.posts):
                self.state.duplicates += 1
                return 403, DUPLICATE, headers
            self._next_id += 1
            post = Post(str(self._next_id), user.name, text, reply, now)
            self.state.posts.append(post)
            return 201, {"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}}, headers

    def _limit_headers(self, user: _User) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(user.window.limit),
            "x-rate-limit-remaining": str(max(0, user.window.limit - user.window.used)),
            "x-rate-limit-reset": str(user.window.reset),
            "x-user-limit-24hour-limit": str(user.day.limit),
            "x-user-limit-24hour-remaining": str(max(0, user.day.limit - user.day.used)),
            "x-user-limit-24hour-reset": str(user.day.reset),
            "x-app-limit-24hour-limit": str(self.app.limit),
            "x-app-limit-24hour-remaining": str(max(0, self.app.limit - self.app.used)),
            "x-app-limit-24hour-reset": str(self.app.reset),
        }

    def record(self, user: str | None, status: int, body: dict[str, Any] | None = None, answer: Any = None) -> None:
        body = body or {}
        text = body.get("text")
        reply = (body.get("reply") or {}).get("in_reply_to_tweet_id") if isinstance(body.get("reply"), dict) else None
        data = answer.get("data") if isinstance(answer, dict) else None
        post_id = str(data["id"]) if isinstance(data, dict) and "id" in data else None
        detail = str(answer.get("detail", "")) if isinstance(answer, dict) else ""
        with self.lock:
            self.state.requests.append((user, status, time.monotonic()))
            self.state.attempts.append(
                Attempt(
                    user,
                    text if isinstance(text, str) else None,
                    str(reply) if reply is not None else None,
                    status,
                    post_id,
                    time.time(),
                    detail,
                )
            )


class _Handler(QuietHandler):
    server_version = "fake-x"

    @property
    def fake(self) -> FakeX:
        return self.owner  # type: ignore[no-any-return]

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/2/users/me":
            self._send(404, {"title": "Not Found", "status": 404})
            return
        user, why = self.fake.authenticate(
            self.headers.get("Authorization", ""), self.headers.get("Host", ""), self.path, "GET"
        )
        fake = self.fake
        if user is None:
            with fake.lock:
                fake.state.me.append((None, 401))
            self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": why})
            return
        body: dict[str, Any]
        with fake.lock:
            w = user.me
            w.roll(time.time())
            headers = {
                "x-rate-limit-limit": str(w.limit),
                "x-rate-limit-remaining": str(max(0, w.limit - w.used - 1)),
                "x-rate-limit-reset": str(w.reset),
            }
            if w.used >= w.limit:
                status, body = 429, RATE_LIMITED
            elif user.suspended:
                status, body = 403, {"title": "Forbidden", "status": 403, "detail": "This account is suspended."}
            else:
                w.used += 1
                status, body = 200, {"data": {"id": str(abs(hash(user.name)) % 10**18), "username": user.name}}
            fake.state.me.append((user.name, status))
        self._send(status, body, headers)

    def _send(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        ctype = "text/html" if isinstance(body, str) else "application/json"
        if status in (400, 401, 402, 403) and isinstance(body, dict) and "errors" not in body:
            ctype = "application/problem+json"
        self.reply(status, raw, ctype, headers)

    def do_POST(self) -> None:
        raw = self.body()
        if self.path.split("?")[0] != "/2/tweets":
            self._send(404, {"title": "Not Found", "status": 404})
            return
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {}
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        user, why = self.fake.authenticate(
            self.headers.get("Authorization", ""), self.headers.get("Host", ""), self.path
        )
        if user is None:
            self.fake.record(None, 401, body)
            self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": why})
            return
        fault = self.fake.down or self.fake.take_fault(user.name)
        if fault and self._fault(fault, user, body):
            return
        if user.suspended:
            self.fake.record(user.name, 403, body)
            self._send(403, {"title": "Forbidden", "status": 403, "detail": "This account is suspended."})
            return
        if self.fake.latency:
            time.sleep(self.fake.latency)
        status, answer, headers = self.fake.create(user, body)
        self.fake.record(user.name, status, body, answer)
        if fault == "drop-after":
            # The post exists; the client never hears so.
            self.close_connection = True
            self.connection.close()
            return
        self._send(status, answer, headers)

    def _fault(self, fault: str, user: _User, body: dict[str, Any]) -> bool:
        """True when the fault answered (or dropped) the request itself."""
        if fault == "500":
            self.fake.record(user.name, 500, body)
            self._send(500, {"title": "Internal Server Error", "status": 500})
        elif fault == "503-html":
            self.fake.record(user.name, 503, body)
            self._send(503, "<html><body>Over capacity</body></html>")
        elif fault == "429":
            self.fake.record(user.name, 429, body)
            reset = str(int(time.time()) + 2)
            self._send(429, RATE_LIMITED, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
        elif fault == "401":
            self.fake.record(user.name, 401, body)
            self._send(401, {"title": "Unauthorized", "status": 401})
        elif fault == "402":
            self.fake.record(user.name, 402, body)
            self._send(402, CREDITS_DEPLETED)
        elif fault == "403-not-permitted":
            self.fake.record(user.name, 403, body)
            self._send(403, {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": NOT_PERMITTED})
        elif fault.startswith("status:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            self._send(status, {"title": "Error", "type": "about:blank", "status": status, "detail": "Scripted"})
        elif fault.startswith("html:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            self._send(status, f"<html><head><title>{status}</title></head><body>Something went wrong</body></html>")
        elif fault.startswith("cut-json:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            whole = json.dumps({"title": "Service Unavailable", "detail": "Service Unavailable", "status": status})
            self.reply(status, whole[: len(whole) // 2].encode(), "application/json", None)
        elif fault == "drop":
            self.fake.record(user.name, 0, body)
            self.close_connection = True
            self.connection.close()
        elif fault == "hang":
            self.fake.record(user.name, 0, body)
            self.fake.closing.wait(3600)
            self.close_connection = True
        elif fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
            return False
        else:
            return False
        return True
