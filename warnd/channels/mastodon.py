"""The Mastodon channel: one account on one instance, posting statuses with the instance's own
REST API (POST /api/v1/statuses) through httpx under the outbound policy.

Why no client library: Mastodon.py (the one kept on the package index) is built on requests,
a second HTTP stack beside httpx with its own proxy and CA handling; the four requests warnd
makes are smaller than the adapter it would need.

- Length: the instance's limit, read once from GET /api/v2/instance
  (configuration.statuses.max_characters, 500 when it does not say; a URL counts as
  configuration.statuses.characters_reserved_per_url, 23). Characters are counted as code
  points, never fewer than Mastodon's grapheme count, so a part never runs over.
- Threads: a longer text goes out as numbered replies to itself (channels.threads, the labels X
  uses), each part recorded in the checkpoint as it is posted, so a crash mid-thread resumes
  after the last part out.
- Nothing twice: every status carries `Idempotency-Key: <delivery key>-<part>`. The instance
  keeps a key for an hour and answers a repeat with the status it made the first time, so a
  part whose answer was lost (a timeout, kill -9) and is sent again within the hour is not
  posted twice. Later than that a repeat of that one part is possible (documented in
  docs/operator/configure.md#mastodon).
- Replies: a correction, update or cancel answers the account's first status about the event
  (`in_reply_to_id` = job.reply_to, the status id `Sent.remote_id` held). A parent that is gone
  (404) makes the post go on its own.
- The map: uploaded (POST /api/v2/media with its Indonesian alt text as `description`) and
  attached to the first part when it is ready within the wait (0.2 s for a life-safety post,
  upload included; `picture_wait` otherwise). A map (or upload, or the instance's processing
  of it) not ready in time goes, once it is (at most LATE_WAIT later), as a reply to the
  thread's last part ("Peta: <first line> <label>"), posted after the delivery is done and
  recorded like a part, with an Idempotency-Key of its own. A map refused or over the media
  budget is left off and the text goes as it is.
- Answers: mastodon_answers.MASTODON_ANSWERS, by status and body.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import time
from typing import Any

import httpx

from warnd.channels import threads
from warnd.channels.base import Budget, Job, Picture, Sent, map_failed, picture_within
from warnd.channels.mastodon_answers import OverLimit, ParentGone, classify, hold
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Target
from warnd.obs import get_logger

log = get_logger("warnd.mastodon")
# What gets the media id of a map that was not ready for the first part.
Later = asyncio.Task[str | None]

# Mastodon's defaults, when the instance does not say.
DEFAULT_LIMIT = 500
URL_LENGTH = 23
# Mastodon's default limit is 300 requests per 5 minutes per account; posts are kept below it,
# leaving room for uploads, the instance read and the probe; the last 40 are life safety's.
ACCOUNT_BUDGET = (240, 300.0, 40)
# 30 media uploads per 30 minutes per account: warnd uploads at most 25 in any 30 minutes.
MEDIA_BUDGET = (25, 1800.0)
LIFE_SAFETY_WAIT = 0.2
# How much longer, once the text is out, a map that missed it is waited for before it goes as a
# reply (as for X: channels.x_media.LATE_WAIT).
LATE_WAIT = 5.0
# Mastodon's default description_limit is 1500 characters, image_size_limit 16 MB.
MAX_ALT = 1500
MAX_IMAGE = 16 * 1024 * 1024
# How often a 202 upload is asked whether it is ready, within the wait.
_POLL = 0.05

_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


def length(text: str, url_length: int = URL_LENGTH) -> int:
    """A text's length as the instance counts it, or more: every URL as `url_length`."""
    total, at = 0, 0
    for m in _URL.finditer(text):
        total += len(text[at : m.start()]) + url_length
        at = m.end()
    return total + len(text[at:])


_LENGTHS: dict[int, Any] = {}


def _measure(url_length: int) -> Any:
    # One function per URL length, so threads.split's cache keys stay stable.
    if url_length not in _LENGTHS:
        _LENGTHS[url_length] = lambda text: length(text, url_length)
    return _LENGTHS[url_length]


def split(
    text: str, limit: int = DEFAULT_LIMIT, lang: str = "id", label: str | None = None, url_length: int = URL_LENGTH
) -> list[str]:
    """The parts of a Mastodon thread (one part when the text fits)."""
    return threads.split(text, limit, lang, label, length=_measure(url_length))


class MastodonSender:
    replies = True
    batch = 1
    channel = "mastodon"
    hold_keys: tuple[str, ...] = ()

    def __init__(
        self,
        account: str,
        *,
        instance: str,
        token: Secret,
        lang: str,
        outbound: Outbound,
        clock: Clock,
        user_agent: str = "warnd",
        timeout: float = 10.0,
        picture_wait: float = 2.0,
        budget: tuple[int, float, int] = ACCOUNT_BUDGET,
    ) -> None:
        self.target = Target.account(account)
        self.account = account
        self.instance = instance.rstrip("/")
        self.lang = lang
        self.clock = clock
        self.timeout = timeout
        self.picture_wait = picture_wait
        self.budgets: tuple[Budget, ...] = (Budget(f"mastodon:{account}", *budget),)
        self._token = token
        self._user_agent = user_agent
        self._outbound = outbound
        self._http: httpx.AsyncClient | None = None
        # (max_characters, characters_reserved_per_url) once the instance has said.
        self._limits: tuple[int, int] | None = None
        self._uploads: collections.deque[float] = collections.deque()
        self._media_hold: float = 0.0
        self._late: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"MastodonSender({self.target} @ {self.instance})"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = self._outbound.async_client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                headers={"User-Agent": self._user_agent, "Authorization": f"Bearer {self._token.reveal()}"},
                follow_redirects=False,
            )
        return self._http

    # --- texts ---------------------------------------------------------------------------

    def cost(self, job: Job) -> int:
        # Before the instance has said its limit, an estimate at the default: the parts are cut
        # in send, once the limit is known, so that a resumed thread is cut as it was.
        if self._limits is None:
            w = job.delivery.warning
            estimate = len(split(w.text, DEFAULT_LIMIT, w.lang, w.thread_label))
            return max(1, estimate - len(job.delivery.parts))
        return max(1, len(self._thread(job)) - len(job.delivery.parts))

    def _thread(self, job: Job) -> tuple[str, ...]:
        assert self._limits is not None
        limit, url_length = self._limits
        w = job.delivery.warning
        return job.texts.get(lambda: split(w.text, limit, w.lang, w.thread_label, url_length))

    async def limits(self) -> tuple[int, int]:
        """(max_characters, characters_reserved_per_url) of the instance, read once."""
        if self._limits is None:
            status, body, headers = await self._request("GET", "/api/v2/instance")
            if status != 200:
                raise classify(status, body, headers, self.clock.now())
            self._limits = _instance_limits(body)
            log.info("mastodon.instance_limits", account=self.account, max_characters=self._limits[0])
        return self._limits

    # --- sending -------------------------------------------------------------------------

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        w = d.warning
        try:
            await self.limits()
        except DeliveryError as e:
            # The limit is needed to cut the text; failing to read it posts nothing.
            e.spent = False
            raise
        parts = self._thread(job)
        done = list(d.parts)
        known = [p for p in done if p]
        first: str | None = known[0] if known else None
        reply_to = known[-1] if known else job.reply_to
        # Only before the first part: a resumed thread's first part is out, with or without it.
        media_id, later = await self._map(job) if not done else (None, None)
        try:
            for n, text in enumerate(parts[len(done) :], len(done) + 1):
                key = f"{d.idempotency_key}-{n}"
                try:
                    posted = await self._post_part(job, text, reply_to, media_id, key)
                except OverLimit:
                    # The instance's limit is smaller than it said: read it again for the retry.
                    self._limits = None
                    raise
                except DeliveryError as e:
                    if e.failure in (Failure.NETWORK, Failure.SERVER_ERROR):
                        await job.checkpoint.part_unanswered(n)
                    raise
                await job.checkpoint.part_sent(posted)
                log.info(
                    "mastodon.part_posted",
                    event_id=w.event_id,
                    warning_id=w.id,
                    target=d.target,
                    part=n,
                    parts=len(parts),
                    status_id=posted,
                )
                media_id = None
                first = first or posted
                reply_to = posted
        except BaseException:
            # The text did not go out whole: no map follows it.
            if later is not None:
                later.cancel()
            raise
        if later is not None and reply_to:
            self._follow(job, later, reply_to)
        elif later is not None:
            later.cancel()
        return Sent(remote_id=first)

    async def _post_part(self, job: Job, text: str, reply_to: str | None, media_id: str | None, key: str) -> str:
        body: dict[str, Any] = {"status": text, "visibility": "public", "language": self.lang}
        if reply_to:
            body["in_reply_to_id"] = reply_to
        if media_id:
            body["media_ids"] = [media_id]
        try:
            return await self._create(body, key)
        except ParentGone:
            if not reply_to:
                raise
            w = job.delivery.warning
            log.warning("mastodon.parent_gone", event_id=w.event_id, warning_id=w.id, reply_to=reply_to)
            return await self._post_part(job, text, None, media_id, key)
        except DeliveryError as e:
            if media_id is None or e.failure is not Failure.BAD_REQUEST:
                raise
            # The instance refused the status with the map attached: the text goes without it.
            self._media_failed(job, "attach_refused", str(e))
            return await self._post_part(job, text, reply_to, None, key)

    async def _create(self, body: dict[str, Any], key: str) -> str:
        status, raw, headers = await self._request(
            "POST", "/api/v1/statuses", body=body, headers={"Idempotency-Key": key}
        )
        if not 200 <= status < 300:
            raise classify(status, raw, headers, self.clock.now())
        try:
            return str(_json(raw)["id"])
        except (KeyError, TypeError):
            # 2xx without a status id: the instance most likely has it; the retry carries the
            # same Idempotency-Key and gets the status it made.
            raise DeliveryError("Mastodon answered 2xx without a status id", Failure.SERVER_ERROR) from None

    async def _request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        try:
            async with asyncio.timeout(self.timeout):
                r = await self._client().request(method, self.instance + path, json=body, headers=headers, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as e:
            # The request never reached the instance: it cannot have posted nor counted.
            raise DeliveryError(f"Mastodon unreachable: {type(e).__name__}", Failure.NETWORK, spent=False) from None
        except (TimeoutError, httpx.HTTPError) as e:
            raise DeliveryError(f"Mastodon unreachable: {type(e).__name__}", Failure.NETWORK) from None
        return r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()}

    # --- the map -------------------------------------------------------------------------

    async def _map(self, job: Job) -> tuple[str | None, Later | None]:
        """(the media id of the warning's map, uploaded and ready within the wait, or None: the
        first part goes without it; when the map or its upload was not ready in time, the task
        that gets its media id once it is, for a reply after the text: `later`)."""
        if job.picture is None:
            return None, None
        wait = min(LIFE_SAFETY_WAIT, self.picture_wait) if job.delivery.life_safety else self.picture_wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        picture, missing = await self._picture(job, wait)
        if picture is None:
            return None, (loop.create_task(self._later(job, None)) if missing else None)
        upload = loop.create_task(self._upload_logged(job, picture))
        finished, _ = await asyncio.wait({upload}, timeout=max(0.0, deadline - loop.time()))
        if not finished:
            # The upload goes on; its media id is used for the reply after the text.
            return None, loop.create_task(self._later(job, upload))
        return upload.result(), None

    async def _picture(self, job: Job, seconds: float) -> tuple[Picture | None, bool]:
        """(the map, or None; True when the source had none to give yet, False when it failed)."""
        assert job.picture is not None
        try:
            picture = await picture_within(job.picture, seconds)
        except Exception as e:  # a picture source never fails the post
            self._media_failed(job, "source_failed", f"{type(e).__name__}: {e}")
            return None, False
        return picture, picture is None

    async def _later(self, job: Job, upload: asyncio.Task[str | None] | None) -> str | None:
        """The media id of a map that was not there, or not uploaded, for the first part, once
        it is (at most LATE_WAIT more); None when it does not come or fails (logged, counted)."""
        if upload is None:
            picture, _ = await self._picture(job, LATE_WAIT)
            if picture is None:
                self._media_failed(job, "late", f"no map {LATE_WAIT} s after the text")
                return None
            upload = asyncio.get_running_loop().create_task(self._upload_logged(job, picture))
        finished, _ = await asyncio.wait({upload}, timeout=LATE_WAIT)
        if not finished:
            upload.cancel()
            self._media_failed(job, "upload_slow", f"the upload took over {LATE_WAIT} s more")
            return None
        return upload.result()

    def _follow(self, job: Job, later: Later, reply_to: str) -> None:
        """The map that was not ready for the first part, posted once it is as a reply to the
        thread's last part, after the delivery is done (the account's next warning never waits
        for a map), and recorded like a part. Only the attempt that posted the first part calls
        this; its own Idempotency-Key keeps a repeat of its request from posting it twice."""
        task = asyncio.get_running_loop().create_task(self._follow_up(job, later, reply_to))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _follow_up(self, job: Job, later: Later, reply_to: str) -> None:
        media_id = await later
        if media_id is None:
            return
        d = job.delivery
        w = d.warning
        label = threads.thread_label(w.thread_label)
        limit, url_length = self._limits or (DEFAULT_LIMIT, URL_LENGTH)
        headline = threads.headline(w.text.strip().split("\n", 1)[0], _measure(url_length))
        text = f"Peta: {headline}{' ' + label if label else ''}"[:limit]
        try:
            posted = await self._post_part(job, text, reply_to, media_id, f"{d.idempotency_key}-map")
        except DeliveryError as e:
            self._media_failed(job, "reply_refused", str(e))
            return
        await job.checkpoint.part_sent(posted)
        log.info("mastodon.map_posted", event_id=w.event_id, warning_id=w.id, target=d.target, status_id=posted)

    async def _upload_logged(self, job: Job, picture: Picture) -> str | None:
        try:
            return await self._upload(job, picture)
        except DeliveryError as e:
            self._media_failed(job, "upload_refused", str(e))
        except Exception as e:  # whatever else goes wrong with the image, the post goes
            self._media_failed(job, "upload_failed", f"{type(e).__name__}: {e}")
        return None

    async def _upload(self, job: Job, picture: Picture) -> str | None:
        now = time.monotonic()
        if now < self._media_hold:
            self._media_failed(job, "upload_rate_limited", "uploads held after the instance's 429")
            return None
        while self._uploads and now - self._uploads[0] > MEDIA_BUDGET[1]:
            self._uploads.popleft()
        if len(self._uploads) >= MEDIA_BUDGET[0]:
            self._media_failed(job, "upload_budget", f"{MEDIA_BUDGET[0]} uploads in {MEDIA_BUDGET[1]:.0f} s")
            return None
        if len(picture.png) > MAX_IMAGE:
            self._media_failed(job, "too_large", f"the map is {len(picture.png)} bytes")
            return None
        self._uploads.append(now)
        files = {"file": ("map.png", picture.png, "image/png")}
        data = {"description": picture.alt[:MAX_ALT]} if picture.alt else {}
        status, raw, headers = await self._request("POST", "/api/v2/media", files=files, data=data)
        if status == 429:
            self._media_hold = now + max(0.0, (hold(headers, self.clock.now()) - self.clock.now()).total_seconds())
        if status not in (200, 202):
            raise classify(status, raw, headers, self.clock.now())
        try:
            media_id = str(_json(raw)["id"])
        except (KeyError, TypeError):
            raise DeliveryError("Mastodon answered the upload without a media id", Failure.SERVER_ERROR) from None
        # 202 (and 206 on the polls): the instance is still processing it and refuses to
        # attach it until it is done; the caller's wait bounds this.
        while status in (202, 206):
            await asyncio.sleep(_POLL)
            status, raw, headers = await self._request("GET", f"/api/v1/media/{media_id}")
            if status not in (200, 206):
                raise classify(status, raw, headers, self.clock.now())
        return media_id

    def _media_failed(self, job: Job, reason: str, detail: str) -> None:
        map_failed("mastodon", self.account, job.delivery, reason, detail)

    # --- the probe -----------------------------------------------------------------------

    async def probe(self) -> None:
        """GET /api/v1/accounts/verify_credentials with the token: None when the instance takes
        it; DeliveryError (401/403: revoked, suspended) otherwise. Reads the instance's limit too."""
        status, body, headers = await self._request("GET", "/api/v1/accounts/verify_credentials")
        if status != 200:
            raise classify(status, body, headers, self.clock.now())
        try:
            await self.limits()
        except DeliveryError as e:
            # The token is good; the limit is read again before the first status.
            log.warning("mastodon.instance_unread", account=self.account, detail=str(e))

    async def aclose(self) -> None:
        """A late map's reply still waiting is given its wait and one post, then dropped."""
        if self._late:
            _, pending = await asyncio.wait(set(self._late), timeout=LATE_WAIT + self.timeout)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _instance_limits(raw: bytes) -> tuple[int, int]:
    """(max_characters, characters_reserved_per_url) from an Instance (v2) body; Mastodon's
    defaults for what it does not say or says wrongly."""
    doc = _json(raw)
    statuses = ((doc or {}).get("configuration") or {}).get("statuses") or {} if isinstance(doc, dict) else {}
    if not isinstance(statuses, dict):
        statuses = {}

    def number(key: str, default: int, low: int) -> int:
        value = statuses.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= low else default

    return number("max_characters", DEFAULT_LIMIT, 100), number("characters_reserved_per_url", URL_LENGTH, 1)
