"""Who is asking, for the operator console: passwords (argon2id), sessions kept in the store,
the CSRF token each session carries, the proxy mode's header from a trusted address, and the
slowing of repeated failed logins.

A session token is 256 random bits, handed to the browser once in an HttpOnly, SameSite=Strict
cookie; the store keeps only its sha256. Every POST also carries the session's CSRF token in a
header, which a page of another site can neither read nor send.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from warnd.config.schema import ConsoleSettings
from warnd.config.secrets import Secret
from warnd.store.backend import Database
from warnd.store.operators import Operators, Session

COOKIE = "warnd_console"
# Every user and address: after this many failed logins within WINDOW, refused until the
# oldest of them is WINDOW old.
FAILURES = 5
WINDOW = 300.0
# Names of operators: what a log line, a session row and a bulletin's author may hold.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
MAX_NAME = 64
MAX_PASSWORD = 1024

# argon2-cffi's defaults are RFC 9106's second recommended set for argon2id (64 MiB, 3 passes).
_hasher = PasswordHasher()
_dummy: str | None = None


def valid_name(name: str) -> str | None:
    """Why `name` cannot be an operator's name, or None."""
    if not name or len(name) > MAX_NAME:
        return f"must be 1 to {MAX_NAME} characters"
    if name == "token" or not set(name) <= NAME_CHARS:
        return "letters, digits and . _ - @ only (and not 'token', which names the operator token's user)"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed. An unknown user (`password_hash` None) costs the
    same time as a known one, so a timing does not tell which names exist."""
    global _dummy
    if password_hash is None:
        if _dummy is None:
            _dummy = _hasher.hash(secrets.token_hex(16))
        password_hash = _dummy
        password = password + "\0unknown"
    try:
        return _hasher.verify(password_hash, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    expires: datetime


def open_session(conn: Database, user: str, now: datetime, hours: float) -> NewSession:
    """On the store's writing thread: a new session for `user`."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = now + timedelta(hours=hours)
    Operators(conn).open_session(token_digest(token), user, csrf, now, expires)
    return NewSession(token, csrf, expires)


def find_session(conn: Database, token: str, now: datetime) -> Session | None:
    if not token or len(token) > 200:
        return None
    return Operators(conn).session(token_digest(token), now)


class Throttle:
    """Failed logins per key (a user name, an address), in memory: a restart forgets them, as
    it may (argon2 keeps each guess costly anyway)."""

    def __init__(self, failures: int = FAILURES, window: float = WINDOW) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._seen.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._seen[key]
        return q

    def blocked(self, keys: Iterable[str], now: float) -> float | None:
        """Seconds until every key may try again, or None when none is blocked."""
        waits = [q[0] + self.window - now for k in keys if len(q := self._recent(k, now)) >= self.failures]
        return max(waits) if waits else None

    def failed(self, keys: Iterable[str], now: float) -> None:
        for k in keys:
            q = self._seen.setdefault(k, deque())
            q.append(now)
            while len(q) > self.failures:
                q.popleft()
        # Bounded: a flood of made-up user names must not grow this without end.
        if len(self._seen) > 10_000:
            for k in [k for k in self._seen if not self._recent(k, now)]:
                self._seen.pop(k, None)

    def succeeded(self, user_key: str) -> None:
        self._seen.pop(user_key, None)


def trusted(peer: str | None, settings: ConsoleSettings) -> bool:
    """Whether the request's peer is one of the configured proxies."""
    if not peer:
        return False
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    for net in settings.trusted_proxies:
        network = ipaddress.ip_network(net, strict=False)
        if ip.version == network.version and ip in network:
            return True
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None and network.version == 4 and mapped in network:
            return True
    return False


class ProxyCsrf:
    """Proxy mode has no session row: a user's CSRF token is an HMAC of the name under a key
    made at each start (a restart asks the page to fetch it again)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def token(self, user: str) -> str:
        return hmac.new(self._key, user.encode(), hashlib.sha256).hexdigest()

    def check(self, user: str, given: str) -> bool:
        return hmac.compare_digest(self.token(user), given)


def bearer_ok(header: str, token: Callable[[], Secret | None]) -> bool:
    """The operator token, as /status takes it; only when one is configured."""
    secret = token()
    if secret is None:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), secret.reveal().encode())
