"""The Bluesky channel: posting to an account's PDS over XRPC with httpx (AT Protocol), one
sender per account, its session made from the account's handle and app password.

Why httpx and not the `atproto` SDK: the SDK brings its own HTTP stack and session handling,
and warnd sends every request through the one outbound policy (config/outbound.py: proxy, CA).
Five XRPC calls are all a post needs; they are here.

- session: com.atproto.server.createSession with the handle and app password, once, kept in
  memory; an ExpiredToken (or InvalidToken) answer refreshes it with refreshSession (a new
  session when the refresh token is refused too) and the request is sent again once. The PDS
  limits session creation (30 per 5 minutes per account), so a session is never made per post.
- posts: com.atproto.repo.createRecord of app.bsky.feed.post: `text` of at most 300 graphemes
  (bluesky_text: longer texts become a thread of replies), `createdAt`, `langs` (the account's
  lang), `facets` for links and hashtags (UTF-8 byte offsets), `reply` with `root` and `parent`
  (strong refs: uri and cid). A post's remote id is "<uri> <cid>", and "<uri> <cid> <root uri>
  <root cid>" when the post answers another thread: what a later reply needs of it.
- nothing twice: every part is created with its own record key, a TID derived from the delivery
  and the part (bluesky_text.rkey), so a second create of a part the PDS already has is refused
  (a 500 on today's PDS, RecordAlreadyExists on a newer one). The record is then read back
  (com.atproto.repo.getRecord): the same text is this part, delivered earlier: it counts as
  posted, with its cid. Parts go to job.checkpoint as they are posted; a resumed thread starts
  after the last one recorded.
- the map: uploaded with com.atproto.repo.uploadBlob and embedded (app.bsky.embed.images, the
  Indonesian alt text) in the first part, when it is ready within the wait (0.2 s for a
  life-safety post, the upload included) and within 1,000,000 bytes. A map that is late, too
  large or refused is left off and logged (`bluesky.media_failed`); the text goes as it is.
- errors: status and XRPC error name together, in one table (bluesky_answers.BSKY_ANSWERS).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx

from warnd.channels.base import Budget, Job, Picture, Sent, map_failed, picture_within
from warnd.channels.bluesky_answers import Act, classify, judge
from warnd.channels.bluesky_text import MAX_BYTES, facets, rkey, split
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery, Target
from warnd.obs import get_logger

log = get_logger("warnd.bluesky")

POST = "app.bsky.feed.post"
# app.bsky.embed.images: each image's blob at most 1,000,000 bytes.
MAX_IMAGE = 1_000_000
MAX_ALT = 2000
LIFE_SAFETY_WAIT = 0.2


@dataclass(frozen=True, slots=True)
class Ref:
    """A strong reference to a post: its at:// URI and its record's CID."""

    uri: str
    cid: str

    def json(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def remote_id(post: Ref, root: Ref | None) -> str:
    """What the outbox keeps of a post: enough to reply to it later (its ref, and its thread's
    root when it is not the root itself)."""
    if root is None or root == post:
        return f"{post.uri} {post.cid}"
    return f"{post.uri} {post.cid} {root.uri} {root.cid}"


def parse_remote_id(value: str | None) -> tuple[Ref, Ref] | None:
    """(the post, its thread's root) from a remote id; None when it holds no ref (a post of
    another channel, an id recorded without its cid)."""
    words = (value or "").split()
    if len(words) not in (2, 4) or not words[0].startswith("at://"):
        return None
    post = Ref(words[0], words[1])
    return post, Ref(words[2], words[3]) if len(words) == 4 else post


@dataclass
class _Session:
    did: str
    access: str
    refresh: str


class BlueskySender:
    replies = True
    batch = 1
    channel = "bluesky"
    hold_keys: tuple[str, ...] = ()

    def __init__(
        self,
        account: str,
        *,
        handle: str,
        app_password: Secret,
        pds: str,
        timeout: float,
        hour_budget: tuple[int, float, int],
        day_budget: tuple[int, float, int],
        user_agent: str,
        outbound: Outbound,
        clock: Clock,
        picture_wait: float = 2.0,
    ) -> None:
        self.target = Target.account(account)
        self.account = account
        self.handle = handle
        self.pds = pds.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self.picture_wait = picture_wait
        self.budgets: tuple[Budget, ...] = (
            Budget(f"bluesky:{account}:hour", *hour_budget),
            Budget(f"bluesky:{account}:day", *day_budget),
        )
        self._password = app_password
        self._user_agent = user_agent
        self._outbound = outbound
        self._http: httpx.AsyncClient | None = None
        self._session: _Session | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"BlueskySender({self.account})"

    # --- the wire -------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = self._outbound.async_client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                headers={"User-Agent": self._user_agent},
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=60),
            )
        return self._http

    async def _request(
        self,
        method: str,
        nsid: str,
        *,
        token: str | None,
        body: dict[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        url = f"{self.pds}/xrpc/{nsid}"
        try:
            async with asyncio.timeout(self.timeout):
                return await self._client().request(
                    method, url, json=body, content=content, params=params, headers=headers
                )
        except (httpx.ConnectError, httpx.ProxyError, httpx.ConnectTimeout) as e:
            # The request never reached the PDS: it cannot have posted, nor counted.
            raise DeliveryError(
                f"Bluesky PDS unreachable ({nsid}): {type(e).__name__}", Failure.NETWORK, spent=False
            ) from None
        except (TimeoutError, httpx.HTTPError) as e:
            raise DeliveryError(f"Bluesky PDS unreachable ({nsid}): {type(e).__name__}", Failure.NETWORK) from None

    async def _session_now(self, stale: _Session | None = None) -> _Session:
        """The session, made when there is none (or it is `stale`: refreshed, or made anew
        when its refresh token is refused too)."""
        async with self._lock:
            if self._session is not None and self._session is not stale:
                return self._session
            if stale is not None:
                r = await self._request("POST", "com.atproto.server.refreshSession", token=stale.refresh)
                if r.is_success and (fresh := _read_session(r)) is not None:
                    self._session = fresh
                    return fresh
                if judge(r.status_code, r.content).act is Act.HOLD:
                    raise classify(r.status_code, r.content, r.headers, self.clock.now(), "refreshSession")
            r = await self._request(
                "POST",
                "com.atproto.server.createSession",
                token=None,
                body={"identifier": self.handle, "password": self._password.reveal()},
            )
            if not r.is_success:
                row = judge(r.status_code, r.content)
                if row.act is Act.REFRESH:
                    # A new session refused as if it were a token: the password is what is wrong.
                    raise DeliveryError(f"Bluesky refused the session ({r.status_code})", Failure.AUTH)
                raise classify(r.status_code, r.content, r.headers, self.clock.now(), "createSession")
            made = _read_session(r)
            if made is None:
                raise DeliveryError("Bluesky createSession answered without a session", Failure.SERVER_ERROR)
            self._session = made
            log.info("bluesky.session", account=self.account, did=made.did)
            return made

    async def _call(self, method: str, nsid: str, **kwargs: Any) -> httpx.Response:
        """An authenticated XRPC call; an expired token is refreshed and the call sent once more.
        The answer, success or not (the caller judges it)."""
        session = await self._session_now()
        r = await self._request(method, nsid, token=session.access, **kwargs)
        if not r.is_success and judge(r.status_code, r.content).act is Act.REFRESH:
            session = await self._session_now(stale=session)
            r = await self._request(method, nsid, token=session.access, **kwargs)
        return r

    # --- the sender -----------------------------------------------------------------------

    def cost(self, job: Job) -> int:
        return max(1, len(self._thread(job)) - len(job.delivery.parts))

    def _thread(self, job: Job) -> tuple[str, ...]:
        w = job.delivery.warning
        return job.texts.get(lambda: split(w.text, lang=w.lang, label=w.thread_label))

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        w = d.warning
        parts = self._thread(job)
        done = list(d.parts)
        known = [p for r in done if (p := parse_remote_id(r)) is not None]
        answered = parse_remote_id(job.reply_to)
        # The thread's root: the post this delivery answers belongs to its root's thread.
        root: Ref | None = answered[1] if answered else (known[0][0] if known else None)
        parent: Ref | None = known[-1][0] if known else (answered[0] if answered else None)
        first: str | None = done[0] if done else None
        # The session first: a map's upload is cut off at its wait, and a session request cut
        # off with it would be made again for the next post (Bluesky allows 30 in 5 minutes).
        await self._session_now()
        embed = await self._embed(job) if not done else None
        for n, text in enumerate(parts[len(done) :], len(done) + 1):
            reply = {"root": root.json(), "parent": parent.json()} if root and parent else None
            post = await self._post_part(d, n, text, reply, embed if n == 1 else None)
            rid = remote_id(post, root)
            await job.checkpoint.part_sent(rid)
            first = first or rid
            root = root or post
            parent = post
        log.info("bluesky.posted", event_id=w.event_id, warning_id=w.id, target=d.target, parts=len(parts))
        return Sent(remote_id=first)

    async def _post_part(
        self, d: Delivery, n: int, text: str, reply: dict[str, Any] | None, embed: dict[str, Any] | None
    ) -> Ref:
        session = await self._session_now()
        key = rkey(d, n)
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": self.clock.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "langs": [d.warning.lang],
        }
        if len(text.encode()) > MAX_BYTES:
            raise DeliveryError(f"Bluesky part {n} is over {MAX_BYTES} bytes", Failure.BAD_REQUEST)
        if spans := facets(text):
            record["facets"] = spans
        if reply is not None:
            record["reply"] = reply
        if embed is not None:
            record["embed"] = embed
        body = {"repo": session.did, "collection": POST, "rkey": key, "record": record}
        r = await self._call("POST", "com.atproto.repo.createRecord", body=body)
        if r.is_success:
            try:
                answer = r.json()
                return Ref(str(answer["uri"]), str(answer["cid"]))
            except (ValueError, KeyError, TypeError):
                # 2xx without a ref: most likely taken; the record key finds it on the retry.
                raise DeliveryError(
                    "Bluesky createRecord answered 2xx without uri and cid", Failure.SERVER_ERROR
                ) from None
        error = classify(r.status_code, r.content, r.headers, self.clock.now(), "createRecord")
        row = judge(r.status_code, r.content)
        if row.act is Act.LOOKUP:
            found = await self._existing(d, n, key, text, session)
            if found is not None:
                return found
        if row.act is Act.DEAD and embed is not None:
            self._media_failed(d, "attach_refused", str(error))
            return await self._post_part(d, n, text, reply, None)
        raise error

    async def _existing(self, d: Delivery, n: int, key: str, text: str, session: _Session) -> Ref | None:
        """The part, when the PDS already has it under its record key with its text."""
        try:
            r = await self._call(
                "GET", "com.atproto.repo.getRecord", params={"repo": session.did, "collection": POST, "rkey": key}
            )
            value = r.json() if r.is_success else None
        except (DeliveryError, ValueError):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("value"), dict):
            return None
        w = d.warning
        if value["value"].get("text") != text:
            detail = f"record key {key} of part {n} holds another text: this part is not posted"
            log.error("delivery.rkey_collision", event_id=w.event_id, warning_id=w.id, target=d.target, detail=detail)
            raise DeliveryError(detail, Failure.BAD_REQUEST)
        log.info(
            "delivery.part_already_posted",
            event_id=w.event_id,
            warning_id=w.id,
            target=d.target,
            part=n,
            detail="the PDS has this part under its record key from an earlier request",
        )
        try:
            return Ref(str(value["uri"]), str(value["cid"]))
        except KeyError:
            return None

    # --- the map --------------------------------------------------------------------------

    async def _embed(self, job: Job) -> dict[str, Any] | None:
        if job.picture is None:
            return None
        d = job.delivery
        budget = min(LIFE_SAFETY_WAIT, self.picture_wait) if d.life_safety else self.picture_wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        try:
            picture = await picture_within(job.picture, budget)
        except Exception as e:  # a picture source never fails the post
            self._media_failed(d, "source_failed", f"{type(e).__name__}: {e}")
            return None
        if picture is None:
            self._media_failed(d, "late", f"no map within {budget} s: the text goes without it")
            return None
        if len(picture.png) > MAX_IMAGE:
            self._media_failed(d, "too_large", f"the map is {len(picture.png)} bytes, over Bluesky's {MAX_IMAGE}")
            return None
        try:
            # A life-safety post does not wait for the upload beyond its budget either.
            wait = max(0.0, deadline - loop.time()) if d.life_safety else self.timeout
            blob = await asyncio.wait_for(self._upload(picture), wait)
        except TimeoutError:
            self._media_failed(d, "upload_slow", "the upload did not finish within the wait")
            return None
        except DeliveryError as e:
            self._media_failed(d, "upload_failed", str(e))
            return None
        image: dict[str, Any] = {"alt": picture.alt[:MAX_ALT], "image": blob}
        size = _png_size(picture.png)
        if size is not None:
            image["aspectRatio"] = {"width": size[0], "height": size[1]}
        return {"$type": "app.bsky.embed.images", "images": [image]}

    async def _upload(self, picture: Picture) -> dict[str, Any]:
        r = await self._call("POST", "com.atproto.repo.uploadBlob", content=picture.png, content_type="image/png")
        if not r.is_success:
            raise classify(r.status_code, r.content, r.headers, self.clock.now(), "uploadBlob")
        try:
            blob = r.json()["blob"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryError("Bluesky uploadBlob answered without a blob", Failure.SERVER_ERROR) from None
        if not isinstance(blob, dict):
            raise DeliveryError("Bluesky uploadBlob answered without a blob", Failure.SERVER_ERROR)
        return blob

    def _media_failed(self, d: Delivery, reason: str, detail: str) -> None:
        map_failed("bluesky", self.account, d, reason, detail)

    # --- the credential check -------------------------------------------------------------

    async def probe(self) -> None:
        """A session (made when there is none) and com.atproto.server.getSession with it: None
        when the PDS takes the app password; DeliveryError otherwise."""
        r = await self._call("GET", "com.atproto.server.getSession")
        if not r.is_success:
            raise classify(r.status_code, r.content, r.headers, self.clock.now(), "getSession")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _read_session(r: httpx.Response) -> _Session | None:
    try:
        body = r.json()
        return _Session(str(body["did"]), str(body["accessJwt"]), str(body["refreshJwt"]))
    except (ValueError, KeyError, TypeError):
        return None


def _png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk."""
    if len(png) < 24 or not png.startswith(b"\x89PNG\r\n\x1a\n") or png[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", png[16:24])
    return (int(width), int(height)) if width and height else None
