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
- POST /2/media/upload (X's v2 simple upload: multipart `media` and `media_category`, OAuth
  1.0a checked like a post): an image up to 5 MB gets a numeric media id issued to that user;
  anything else is refused with X's problem body (400), and past 500 uploads per 15 min per user
  a 429. Every upload, taken or refused, is kept in `state.uploads` with its bytes, so a test
  counts uploads and decodes what was sent. POST /2/media/metadata keeps an upload's alt text
  (`state.alt_texts`). A post's `media.media_ids` must name ids issued to the same user (400
  otherwise); each post keeps the ids it carried (`Post.media_ids`). Faults for uploads only
  are scripted with `script_media` ("429", "status:<status>", "503-html", "slow:<s>").
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
from warnd.testing.fake_x_http import DUPLICATE, IMAGE_MAGIC, MAX_IMAGE, PARENT_GONE, RATE_LIMITED, XHandler, invalid


@dataclass(frozen=True)
class Post:
    id: str
    user: str
    text: str
    reply_to: str | None
    at: float
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upload:
    """One POST /2/media/upload as it arrived: `media_id` when it was taken."""

    user: str | None
    media: bytes
    category: str
    content_type: str
    status: int
    media_id: str | None
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
    media_ids: tuple[str, ...] = ()

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
    media: _Window = field(default_factory=lambda: _Window(500, 900.0))
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
    # POST /2/media/upload, taken or refused, in arrival order; media id -> user it was issued to.
    uploads: list[Upload] = field(default_factory=list)
    media_owner: dict[str, str] = field(default_factory=dict)
    # POST /2/media/metadata: media id -> alt text.
    alt_texts: dict[str, str] = field(default_factory=dict)


class FakeX(LocalServer):
    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        users: dict[str, tuple[str, str]] | None,
        user_limit: tuple[int, float] = (100, 900.0),
        media_limit: tuple[int, float] = (500, 900.0),
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
        self.media_limit = media_limit
        self.user_day_limit = user_day_limit
        self.users: dict[str, _User] = {}
        for token, (secret, name) in (users or {}).items():
            self._add_user(token, secret, name)
        self.app = _Window(*app_limit)
        self.state = FakeXState()
        self.lock = threading.Lock()
        self.faults: deque[tuple[str | None, str]] = deque()
        self.media_faults: deque[tuple[str | None, str]] = deque()
        # A standing outage: every post meets this fault (see XHandler._fault) until it is set to None.
        self.down: str | None = None
        self._next_id = 1_800_000_000_000_000_000

    def _add_user(self, token: str, secret: str, name: str) -> _User:
        user = _User(name, secret, _Window(*self.user_limit), _Window(*self.user_day_limit))
        user.media = _Window(*self.media_limit)
        self.users[token] = user
        return user

    def script(self, *faults: str, user: str | None = None) -> None:
        with self.lock:
            self.faults.extend((user, f) for f in faults)

    def script_media(self, *faults: str, user: str | None = None) -> None:
        """Faults for uploads only, consumed one per upload."""
        with self.lock:
            self.media_faults.extend((user, f) for f in faults)

    def uploads_by(self, name: str) -> list[Upload]:
        with self.lock:
            return [u for u in self.state.uploads if u.user == name]

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

    def take_fault(self, user: str, media: bool = False) -> str | None:
        with self.lock:
            faults = self.media_faults if media else self.faults
            for i, (who, fault) in enumerate(faults):
                if who is None or who == user:
                    del faults[i]
                    return fault
        return None

    def upload(
        self, user: _User, media: bytes, category: str, ctype: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.time()
        with self.lock:
            w = user.media
            w.roll(now)
            headers = {
                "x-rate-limit-limit": str(w.limit),
                "x-rate-limit-remaining": str(max(0, w.limit - w.used - 1)),
                "x-rate-limit-reset": str(w.reset),
            }
            answer: dict[str, Any] = {}
            status, media_id = 200, None
            if w.used >= w.limit:
                self.state.limit_hits += 1
                status, answer = 429, RATE_LIMITED
            elif not media:
                status, answer = 400, invalid("media is required")
            elif len(media) > MAX_IMAGE:
                status, answer = 400, invalid(f"media is {len(media)} bytes; images may be at most {MAX_IMAGE}")
            elif category not in ("tweet_image", ""):
                status, answer = 400, invalid(f"media_category {category!r} is not for an image")
            elif not media.startswith(IMAGE_MAGIC):
                status, answer = 400, invalid("media is not a supported image (JPEG, PNG, GIF, WEBP)")
            else:
                w.used += 1
                self._next_id += 1
                media_id = str(self._next_id)
                self.state.media_owner[media_id] = user.name
                answer = {
                    "data": {
                        "id": media_id,
                        "media_key": f"3_{media_id}",
                        "size": len(media),
                        "expires_after_secs": 86400,
                        "image": {"image_type": "image/png" if media.startswith(b"\x89PNG") else "image/jpeg"},
                    }
                }
            self.state.uploads.append(Upload(user.name, media, category, ctype, status, media_id, now))
            return status, answer, headers

    def refused_upload(self, user: str, media: bytes, category: str, ctype: str, status: int) -> None:
        with self.lock:
            self.state.uploads.append(Upload(user, media, category, ctype, status, None, time.time()))

    def describe(self, user: _User, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        media_id = str(body.get("id", ""))
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        with self.lock:
            if self.state.media_owner.get(media_id) != user.name:
                return 400, invalid(f"media id {media_id!r} is not yours")
            if not isinstance(alt, str) or len(alt) > 1000:
                return 400, invalid("alt_text.text must be a string of at most 1000 characters")
            self.state.alt_texts[media_id] = alt
        return 200, {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": alt}}}}

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
            media_ids = tuple(str(m) for m in (body.get("media") or {}).get("media_ids") or ())
            if any(self.state.media_owner.get(m) != user.name for m in media_ids):
                return 400, invalid("Your media IDs are invalid."), headers
            if reply is not None and not any(p.id == reply for p in self.state.posts):
                return 403, {"title": "Forbidden", "detail": PARENT_GONE, "status": 403}, headers
            if any(p.user == user.name and p.text == text for p in self.state.posts):
                self.state.duplicates += 1
                return 403, DUPLICATE, headers
            self._next_id += 1
            post = Post(str(self._next_id), user.name, text, reply, now, media_ids)
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
        media = body.get("media")
        media_ids = tuple(str(m) for m in media.get("media_ids") or ()) if isinstance(media, dict) else ()
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
                    media_ids,
                )
            )
