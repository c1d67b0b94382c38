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

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature, utils

from warnd.testing._server import LocalServer
from warnd.testing.fake_x_http import DUPLICATE, PARENT_GONE, RATE_LIMITED, XHandler


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
        super().__init__(XHandler, port)
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
        # A standing outage: every post meets this fault (see XHandler._fault) until it is set to None.
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
