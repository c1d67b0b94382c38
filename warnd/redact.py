"""Which parts of a URL are secret, and the URL without them.

A URL can carry a credential three ways: `user:password@` before the host, a query parameter
such as `?token=...` or `?sig=...`, and, for chat webhooks, the path itself. Every URL that is
logged, shown or stored goes through `redact_url` first; a URL whose whole value came from a
credential shows only where it goes (scheme, host and port), since nothing tells which of its
parts is the secret.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"

# Words that make a query parameter's name look like a credential ("access_token", "X-Amz-
# Signature", "apiKey", "sig"). Matched against the words of the name, so "keyword" or
# "monkey" are not taken for a key.
_SECRET_WORDS = frozenset(
    {
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sig",
        "signature",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "session",
        "sid",
        "jwt",
        "bearer",
        "hmac",
        "apikey",
        "accesstoken",
        "clientsecret",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter of this name probably holds a credential."""
    words = [w.lower() for w in _WORD.findall(name)]
    return bool(words) and (
        any(w in _SECRET_WORDS for w in words) or "".join(words) in _SECRET_WORDS or name.lower() in _SECRET_WORDS
    )


def _is_url(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def carried_secret(url: str) -> str | None:
    """What in this URL looks like a credential, in words that never repeat it; None if nothing."""
    if not _is_url(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.netloc:
        return "a user name or password (user:password@ before the host)"
    names = sorted({name for _, name, _ in _pairs(parts.query) if is_secret_name(name)})
    if names:
        return f"the query parameter(s) {', '.join(names)}"
    return None


def _host(parts: SplitResult) -> str:
    return parts.netloc.rpartition("@")[2]


def redact_url(url: str, *, from_credential: bool = False) -> str:
    """The URL as it may be shown: no userinfo, the value of each secret-looking query parameter
    replaced by ***. `from_credential`: only scheme://host[:port], with /*** when it had more.
    A file path (a feed read from disk) is returned as it is."""
    if not _is_url(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    host = _host(parts)
    if from_credential:
        rest = "/" + MASK if parts.path.strip("/") or parts.query or parts.fragment else ""
        return f"{parts.scheme}://{host}{rest}"
    query = "&".join(
        f"{segment.partition('=')[0]}={MASK}" if is_secret_name(name) else segment
        for segment, name, _ in _pairs(parts.query)
    )
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def _pairs(query: str) -> list[tuple[str, str, str]]:
    """Each `name=value` of a query as written, with its name and value decoded."""
    out = []
    for segment in query.split("&"):
        if segment:
            name, _, value = segment.partition("=")
            out.append((segment, unquote_plus(name), value))
    return out


def public_url(url: str) -> str:
    """The URL as a link others may follow (a document's own links are resolved against it):
    no userinfo, no secret-looking query parameter. Everything else is kept."""
    if not _is_url(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if "@" not in parts.netloc and not any(is_secret_name(n) for _, n, _ in _pairs(parts.query)):
        return url
    query = "&".join(segment for segment, name, _ in _pairs(parts.query) if not is_secret_name(name))
    return urlunsplit((parts.scheme, _host(parts), parts.path, query, parts.fragment))


def scrub(text: str, url: str, *, from_credential: bool = False) -> str:
    """`text` (an error message, a library's exception) with every secret part of `url` it
    quotes masked: the URL itself, its userinfo and password, its secret query values (and,
    for a URL from a credential, its path and query), raw and percent-decoded."""
    if not _is_url(url) or not text:
        return text
    try:
        parts = urlsplit(url)
    except ValueError:
        return text.replace(url, MASK)
    secrets: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        secrets |= {userinfo, userinfo.partition(":")[2]}
    for _, name, value in _pairs(parts.query):
        if from_credential or is_secret_name(name):
            secrets |= {value, unquote_plus(value)}
    if from_credential:
        secrets |= {parts.path, parts.query}
        secrets |= {p for p in parts.path.split("/") if len(p) >= 8}
    secrets |= {unquote(s) for s in secrets} | {quote(s, safe="") for s in secrets}
    # The whole URL first, so that it reads as its redacted form rather than a run of masks.
    text = text.replace(url, redact_url(url, from_credential=from_credential))
    for s in sorted((s for s in secrets if len(s) >= 3 and s != "/"), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text
