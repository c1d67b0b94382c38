"""A fake Bluesky PDS on loopback, for tests and drills: the XRPC routes a post needs
(com.atproto.server.createSession / refreshSession / getSession, com.atproto.repo.createRecord /
getRecord / uploadBlob) with the PDS's limits and error shapes:

- auth: a Bearer access JWT; none: 401 AuthenticationRequired; an expired one (`expire_tokens`):
  400 ExpiredToken; an unknown one: 401 InvalidToken; a wrong app password: 401
  AuthenticationRequired; a revoked account (`revoke`) refuses its password and its tokens;
- app.bsky.feed.post: text of at most 300 graphemes and 3,000 bytes, createdAt, langs, facets
  within the text's UTF-8 bytes, reply refs naming records it has (uri and cid), image blobs it
  was given of at most 1,000,000 bytes with alt text: 400 InvalidRequest otherwise;
- a record key that exists: 500 InternalServerError, as the reference PDS answers today;
- the points budget (3 a create; 5,000 an hour unless told): 429 RateLimitExceeded with
  ratelimit-limit / -remaining / -reset / -policy headers.

It records every createRecord request (`attempts`) and keeps every record it stored (`posts`),
so a repeat is visible, never hidden. `script(*faults)` makes the next createRecord requests
meet a fault: "429", "500", "502-html" (a proxy's HTML page), "400", "expired" (ExpiredToken),
"lost" (the record is stored, the answer is a 502), "truncated" (the record is stored, the 200's
JSON is cut off). `down` (a status such as 503): the PDS down, every request answered with it and
an HTML page (a createRecord recorded as an attempt) until set back to None.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import regex

from warnd.testing._server import LocalServer, QuietHandler

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_IMAGE = 1_000_000
POINTS_PER_CREATE = 3
_GRAPHEME = regex.compile(r"\X")
_TID = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@dataclass
class Record:
    did: str
    rkey: str
    uri: str
    cid: str
    value: dict[str, Any]
    # When the PDS stored it (unix time).
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return str(self.value.get("text", ""))

    @property
    def reply_parent(self) -> str | None:
        reply = self.value.get("reply")
        return str(reply["parent"]["uri"]) if isinstance(reply, dict) else None

    @property
    def reply_root(self) -> str | None:
        reply = self.value.get("reply")
        return str(reply["root"]["uri"]) if isinstance(reply, dict) else None


@dataclass
class Attempt:
    handle: str | None
    status: int
    rkey: str | None
    text: str | None


@dataclass
class _Account:
    handle: str
    password: str
    did: str
    revoked: bool = False
    points: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class FakeBlueskyState:
    posts: list[Record] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    sessions: int = 0
    refreshes: int = 0
    get_session: int = 0


def cid_of(data: bytes) -> str:
    return "bafyrei" + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")


class FakeBluesky(LocalServer):
    def __init__(
        self, accounts: dict[str, str], *, port: int = 0, points_per_hour: int = 5000, window: float = 3600.0
    ) -> None:
        """`accounts`: handle -> app password."""
        super().__init__(_Handler, port)
        self.lock = threading.Lock()
        self.state = FakeBlueskyState()
        self.points_per_hour = points_per_hour
        self.window = window
        self.accounts = {
            h: _Account(h, p, "did:plc:" + hashlib.sha256(h.encode()).hexdigest()[:24]) for h, p in accounts.items()
        }
        # token -> (handle, kind "access"/"refresh")
        self._tokens: dict[str, tuple[str, str]] = {}
        self._expired: set[str] = set()
        self._faults: deque[str] = deque()
        # The PDS down (a status such as 503): every request is answered with it and an HTML
        # page, createRecord recorded as an attempt, until set back to None.
        self.down: int | None = None

    # --- for tests and drills -------------------------------------------------------------

    def script(self, *faults: str) -> None:
        with self.lock:
            self._faults.extend(faults)

    def expire_tokens(self) -> None:
        """Every access token handed out so far answers ExpiredToken from now on."""
        with self.lock:
            self._expired |= {t for t, (_, kind) in self._tokens.items() if kind == "access"}

    def revoke(self, handle: str) -> None:
        """The app password is revoked: it and every token of the account are refused."""
        with self.lock:
            self.accounts[handle].revoked = True
            for t in [t for t, (h, _) in self._tokens.items() if h == handle]:
                del self._tokens[t]

    def did(self, handle: str) -> str:
        return self.accounts[handle].did

    def posts_by(self, handle: str) -> list[Record]:
        with self.lock:
            return [p for p in self.state.posts if p.did == self.accounts[handle].did]

    def attempts_by(self, handle: str) -> list[Attempt]:
        with self.lock:
            return [a for a in self.state.attempts if a.handle == handle]

    # --- the PDS --------------------------------------------------------------------------

    def session(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            ident = str(body.get("identifier", ""))
            account = next((a for a in self.accounts.values() if ident in (a.handle, a.did)), None)
            if account is None or account.revoked or body.get("password") != account.password:
                return 401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            self.state.sessions += 1
            return 200, self._issue(account)

    def _issue(self, account: _Account) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._tokens[access] = (account.handle, "access")
        self._tokens[refresh] = (account.handle, "refresh")
        return {
            "did": account.did,
            "handle": account.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    def refresh(self, header: str) -> tuple[int, dict[str, Any]]:
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            found = self._tokens.get(token)
            if found is None or found[1] != "refresh":
                return 400, {"error": "ExpiredToken", "message": "Token has been revoked"}
            del self._tokens[token]
            self.state.refreshes += 1
            return 200, self._issue(self.accounts[found[0]])

    def authenticate(self, header: str) -> tuple[_Account | None, int, dict[str, Any]]:
        if not header.startswith("Bearer "):
            return None, 401, {"error": "AuthenticationRequired", "message": "Authentication Required"}
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            if token in self._expired:
                return None, 400, {"error": "ExpiredToken", "message": "Token has expired"}
            found = self._tokens.get(token)
            if found is None or found[1] != "access":
                return None, 401, {"error": "InvalidToken", "message": "Token could not be verified"}
            return self.accounts[found[0]], 200, {}

    def take_fault(self) -> str | None:
        with self.lock:
            return self._faults.popleft() if self._faults else None

    def spend(self, account: _Account) -> tuple[bool, dict[str, str]]:
        """(within the points budget, the ratelimit headers) for one create."""
        now = time.time()
        with self.lock:
            account.points = [(t, p) for t, p in account.points if t > now - self.window]
            used = sum(p for _, p in account.points)
            reset = int((account.points[0][0] if account.points else now) + self.window) + 1
            ok = used + POINTS_PER_CREATE <= self.points_per_hour
            if ok:
                account.points.append((now, POINTS_PER_CREATE))
                used += POINTS_PER_CREATE
            headers = {
                "ratelimit-limit": str(self.points_per_hour),
                "ratelimit-remaining": str(max(0, self.points_per_hour - used)),
                "ratelimit-reset": str(reset),
                "ratelimit-policy": f"{self.points_per_hour};w={int(self.window)}",
            }
            return ok, headers

    def check(self, account: _Account, body: dict[str, Any]) -> str | None:
        """Why the post is invalid, or None."""
        if body.get("repo") not in (account.did, account.handle):
            return "repo is not the authenticated account"
        if body.get("collection") != "app.bsky.feed.post":
            return "unexpected collection"
        rkey = body.get("rkey")
        if rkey is not None and not (isinstance(rkey, str) and _TID.match(rkey)):
            return "Invalid record key: must be a TID"
        record = body.get("record")
        if not isinstance(record, dict) or record.get("$type") != "app.bsky.feed.post":
            return "Invalid app.bsky.feed.post record: $type"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record/text must be a string"
        if len(_GRAPHEME.findall(text)) > MAX_GRAPHEMES:
            return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        if len(text.encode()) > MAX_BYTES:
            return f"Record/text must not be longer than {MAX_BYTES} characters"
        if not isinstance(record.get("createdAt"), str):
            return 'Record must have the property "createdAt"'
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            return "Record/langs must not have more than 3 elements"
        size = len(text.encode())
        for f in record.get("facets", []) or []:
            i = f.get("index", {}) if isinstance(f, dict) else {}
            start, end = i.get("byteStart"), i.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                return "Record/facets/index out of range of the text's bytes"
        reply = record.get("reply")
        if reply is not None:
            for which in ("root", "parent"):
                ref = reply.get(which) if isinstance(reply, dict) else None
                if not isinstance(ref, dict) or not self._known(str(ref.get("uri")), str(ref.get("cid"))):
                    return f"Record/reply/{which} must be a strong ref to a record"
        embed = record.get("embed")
        if embed is not None:
            images = embed.get("images") if isinstance(embed, dict) else None
            if (
                embed.get("$type") != "app.bsky.embed.images"
                or not isinstance(images, list)
                or not 0 < len(images) <= 4
            ):
                return "Record/embed must be app.bsky.embed.images with 1 to 4 images"
            for image in images:
                blob = image.get("image", {})
                link = blob.get("ref", {}).get("$link")
                with self.lock:
                    data = self.state.blobs.get(link)
                if data is None:
                    return "Could not find blob"
                if len(data) > MAX_IMAGE:
                    return f"Record/embed/images/0/image file too large: {len(data)} bytes, max {MAX_IMAGE}"
                if not isinstance(image.get("alt"), str):
                    return 'Record/embed/images/0 must have the property "alt"'
        return None

    def _known(self, uri: str, cid: str) -> bool:
        with self.lock:
            return any(p.uri == uri and p.cid == cid for p in self.state.posts)

    def store(self, account: _Account, body: dict[str, Any]) -> Record | None:
        """The stored record; None when its record key exists."""
        with self.lock:
            rkey = str(body.get("rkey") or _now_tid())
            uri = f"at://{account.did}/app.bsky.feed.post/{rkey}"
            if any(p.uri == uri for p in self.state.posts):
                return None
            value = dict(body["record"])
            record = Record(account.did, rkey, uri, cid_of(json.dumps(value, sort_keys=True).encode()), value)
            self.state.posts.append(record)
            return record

    def find(self, repo: str, rkey: str) -> Record | None:
        with self.lock:
            return next((p for p in self.state.posts if rkey == p.rkey and repo in (p.did, self._handle(p.did))), None)

    def _handle(self, did: str) -> str:
        return next((a.handle for a in self.accounts.values() if a.did == did), "")

    def attempt(self, handle: str | None, status: int, body: dict[str, Any]) -> None:
        record = body.get("record")
        text = record.get("text") if isinstance(record, dict) else None
        with self.lock:
            self.state.attempts.append(
                Attempt(handle, status, body.get("rkey"), text if isinstance(text, str) else None)
            )


def _now_tid() -> str:
    value = (int(time.time() * 1_000_000) << 10) | secrets.randbelow(1024)
    return "".join("234567abcdefghijklmnopqrstuvwxyz"[(value >> (5 * i)) & 31] for i in reversed(range(13)))


_HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class _Handler(QuietHandler):
    server_version = "fake-bluesky"

    @property
    def fake(self) -> FakeBluesky:
        return self.owner  # type: ignore[no-any-return]

    def _send(self, status: int, body: dict[str, Any] | str | bytes, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, bytes):
            self.reply(status, body, "application/json", headers)
        elif isinstance(body, str):
            self.reply(status, body.encode(), "text/html", headers)
        else:
            self.reply(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _down(self, raw: bytes | None = None) -> bool:
        status = self.fake.down
        if status is None:
            return False
        if raw is not None and urlsplit(self.path).path == "/xrpc/com.atproto.repo.createRecord":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            account, _, _ = self.fake.authenticate(self.headers.get("Authorization", ""))
            self.fake.attempt(account.handle if account else None, status, body if isinstance(body, dict) else {})
        self._send(status, _HTML)
        return True

    def do_GET(self) -> None:
        if self._down():
            return
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/xrpc/com.atproto.server.getSession":
            account, status, error = self.fake.authenticate(self.headers.get("Authorization", ""))
            with self.fake.lock:
                self.fake.state.get_session += 1
            if account is None:
                self._send(status, error)
            else:
                self._send(200, {"did": account.did, "handle": account.handle, "active": True})
        elif url.path == "/xrpc/com.atproto.repo.getRecord":
            found = self.fake.find(query.get("repo", ""), query.get("rkey", ""))
            if found is None:
                self._send(400, {"error": "RecordNotFound", "message": f"Could not locate record: {query.get('rkey')}"})
            else:
                self._send(200, {"uri": found.uri, "cid": found.cid, "value": found.value})
        else:
            self._send(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def do_POST(self) -> None:
        raw = self.body()
        if self._down(raw):
            return
        path = urlsplit(self.path).path
        if path == "/xrpc/com.atproto.repo.uploadBlob":
            self._upload(raw)
            return
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        if path == "/xrpc/com.atproto.server.createSession":
            self._send(*self.fake.session(body))
        elif path == "/xrpc/com.atproto.server.refreshSession":
            self._send(*self.fake.refresh(self.headers.get("Authorization", "")))
        elif path == "/xrpc/com.atproto.repo.createRecord":
            self._create(body, parsed is None)
        else:
            self._send(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def _upload(self, raw: bytes) -> None:
        account, status, error = self.fake.authenticate(self.headers.get("Authorization", ""))
        if account is None:
            self._send(status, error)
            return
        mime = self.headers.get("Content-Type", "application/octet-stream")
        cid = cid_of(raw)
        with self.fake.lock:
            self.fake.state.blobs[cid] = raw
        self._send(200, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(raw)}})

    def _create(self, body: dict[str, Any], unreadable: bool) -> None:
        fake = self.fake
        account, status, error = fake.authenticate(self.headers.get("Authorization", ""))
        if account is None:
            fake.attempt(None, status, body)
            self._send(status, error)
            return
        if unreadable:
            fake.attempt(account.handle, 400, body)
            self._send(400, {"error": "InvalidRequest", "message": "Request body is not JSON"})
            return
        fault = fake.take_fault()
        if fault in ("429", "500", "502-html", "400", "expired"):
            answers: dict[str, tuple[int, dict[str, Any] | str]] = {
                "429": (429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}),
                "500": (500, {"error": "InternalServerError", "message": "Internal Server Error"}),
                "502-html": (502, _HTML),
                "400": (400, {"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}),
                "expired": (400, {"error": "ExpiredToken", "message": "Token has expired"}),
            }
            code, answer = answers[fault]
            headers = (
                {"ratelimit-reset": str(int(time.time()) + 30), "ratelimit-remaining": "0"} if code == 429 else None
            )
            fake.attempt(account.handle, code, body)
            self._send(code, answer, headers)
            return
        within, headers = fake.spend(account)
        if not within:
            fake.attempt(account.handle, 429, body)
            self._send(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers)
            return
        why = fake.check(account, body)
        if why is not None:
            fake.attempt(account.handle, 400, body)
            self._send(400, {"error": "InvalidRequest", "message": why}, headers)
            return
        record = fake.store(account, body)
        if record is None:
            fake.attempt(account.handle, 500, body)
            self._send(500, {"error": "InternalServerError", "message": "Internal Server Error"}, headers)
            return
        answer_body = {"uri": record.uri, "cid": record.cid, "validationStatus": "valid"}
        if fault == "lost":
            fake.attempt(account.handle, 502, body)
            self._send(502, _HTML)
        elif fault == "truncated":
            fake.attempt(account.handle, 200, body)
            self._send(200, json.dumps(answer_body).encode()[:20], headers)
        else:
            fake.attempt(account.handle, 200, body)
            self._send(200, answer_body, headers)
