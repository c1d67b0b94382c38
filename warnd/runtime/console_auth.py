"""Who is asking, for the operator console: passwords (argon2id), sessions kept in the store,
the CSRF token each session carries, the proxy mode's header from a trusted address that also
sends the proxy's secret, and the slowing of repeated failed logins.

A session token is 256 random bits, handed to the browser once in an HttpOnly, SameSite=Strict
cookie; the store keeps only its sha256. Every POST also carries the session's CSRF token in a
header, which a page of another site can neither read nor send.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
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
# The slowing's memory: at most this many keys (a few hundred bytes each).
MAX_KEYS = 4096
# The header a trusted proxy proves itself with (console.proxy_secret).
PROXY_PROOF_HEADER = "X-Warnd-Proxy-Secret"

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
    """Login attempts per key, in memory: a restart forgets them, as it may (argon2 keeps each
    guess costly anyway).

    An attempt is counted when it starts (`reserve`), before the password is checked, so that
    parallel attempts cannot all pass the check; a good password gives its reservation back. The
    keys are (user, address) and the address alone, never the user alone: operator names are
    public (every bulletin's CAP <source> names one), and a key on the name would let anyone
    keep an operator locked out. At most `cap` keys are kept, the least recently touched going
    first, so that a flood of made-up names or addresses holds a bounded amount of memory."""

    def __init__(self, failures: int = FAILURES, window: float = WINDOW, cap: int = MAX_KEYS) -> None:
        self.failures = failures
        self.window = window
        self.cap = cap
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

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

    def reserve(self, keys: Sequence[str], now: float) -> float | None:
        """Counts an attempt on every key and returns None, or, when a key is blocked already,
        counts nothing and returns the seconds to wait. Synchronous: no other attempt runs
        between the check and the count."""
        wait = self.blocked(keys, now)
        if wait is not None:
            return wait
        for k in keys:
            q = self._seen.get(k)
            if q is None:
                q = self._seen[k] = deque(maxlen=self.failures)
            q.append(now)
            self._seen.move_to_end(k)
        while len(self._seen) > self.cap:
            self._seen.popitem(last=False)
        return None

    def release(self, keys: Sequence[str], now: float) -> None:
        """A good password: its attempt is not held against the keys."""
        for k in keys:
            q = self._seen.get(k)
            if q is not None:
                with contextlib.suppress(ValueError):
                    q.remove(now)
                if not q:
                    del self._seen[k]

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


def address_key(address: str) -> str:
    """What the slowing counts an address as: an IPv6 address by its /64, which one client
    usually holds whole (else each of its addresses would get attempts of its own)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if ip.version == 6 and getattr(ip, "ipv4_mapped", None) is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)


def trusted(peer: str | None, settings: ConsoleSettings, secret: Secret | None, given: str | None) -> bool:
    """Whether the request comes from one of the configured proxies: from one of their addresses
    and, when console.proxy_secret is set, with its secret (`given`, the request's
    X-Warnd-Proxy-Secret). A secret named but unreadable (`secret` None) trusts no one."""
    if not peer:
        return False
    if settings.proxy_secret:
        if secret is None or given is None:
            return False
        if not hmac.compare_digest(given.encode(), secret.reveal().encode()):
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
