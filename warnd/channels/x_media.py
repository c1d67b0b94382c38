"""A warning's map on its X post: X's v2 simple upload (POST /2/media/upload, multipart, OAuth
1.0a user context), its alt text (POST /2/media/metadata), and the rule that the map never holds
the text back.

tweepy's v2 Client has no media upload, so this is one request warnd makes itself, on the same
session as the account's posts: the session's adapter (x_wire.Route) sends it to the configured
API host with httpx under the outbound policy, re-signed for that host. The OAuth 1.0a signature
of a multipart body covers no body parameters (requests_oauthlib signs form-encoded bodies only),
as X expects.

The map is a nicety. Every failure here (the picture source failing, an upload refused, rate
limited or unanswered) is logged as `x.media_failed` with the event and warning, counted in
warnd_x_media_failed, and the post goes without the image. A 429 on uploads holds further
uploads of the account until the reset X announced, never its posts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime

import requests
from requests_oauthlib import OAuth1

from warnd.channels.base import Job, Picture, map_failed, picture_within
from warnd.channels.x_answers import Act, holds, judge
from warnd.channels.x_wire import TWEEPY_HOST
from warnd.clock import Clock
from warnd.errors import DeliveryError
from warnd.obs import get_logger

log = get_logger("warnd.x")

# How long a life-safety post waits for its map and its upload together (the shared design:
# never more than 200 ms).
LIFE_SAFETY_WAIT = 0.2
# How much longer, once the text is out, the map (or its upload) of a post that went without it
# is waited for before it goes as a reply. A map takes tens of milliseconds, the first after a region load about
# half a second (docs/performance.md): one later than this is stuck. The wait runs after the
# delivery is done, so the account's next warning does not wait behind it.
LATE_WAIT = 5.0
# What a late map's reply post is given at close, beyond the map's own wait.
_LATE_POST = 10.0
# X's simple upload takes images up to 5 MB; alt text up to 1000 characters.
MAX_IMAGE = 5 * 1024 * 1024
MAX_ALT = 1000

_REASONS = {
    Act.HOLD: "upload_rate_limited",
    Act.HOLD_APP: "upload_rate_limited",
    Act.RETRY: "upload_unreachable",
}


class MediaFailed(Exception):
    """The map could not be uploaded: `reason` names why, for the log and the metric."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Media:
    """One account's map uploads, on the account's own session and signing."""

    def __init__(
        self, account: str, session: requests.Session, auth: OAuth1, clock: Clock, executor: Executor, wait: float
    ) -> None:
        self.account = account
        self.session = session
        self.auth = auth
        self.clock = clock
        self.executor = executor
        # How long a post that is not life-safety waits for its map (maps.wait).
        self.wait = wait
        # A 429 on uploads: no upload before this (posts go on without their maps).
        self.hold_until: datetime | None = None
        # Late maps' replies, posted after their delivery is done so that the account's next
        # warning never waits for a map.
        self._late: set[asyncio.Task[None]] = set()

    def follow(self, job: Job, later: asyncio.Task[str | None], post: Callable[[str], str]) -> None:
        """The map that was not ready for the first part, posted once it is with `post(media_id)`
        (a reply to the thread's last part). It runs after the delivery is done (the text is what
        the delivery is), so the account's next warning never waits for it. Only the attempt that
        posted the first part calls this, and the reply is recorded like a part: a resumed
        delivery (a part recorded) never posts it, and a crash before it is posted loses the
        map's reply, never a text: at most once."""
        task = asyncio.get_running_loop().create_task(self._follow(job, later, post))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _follow(self, job: Job, later: asyncio.Task[str | None], post: Callable[[str], str]) -> None:
        try:
            media_id = await later
        except Exception as e:  # the image never fails the delivery whose text is out
            self.failed(job, "upload_failed", f"{type(e).__name__}: {e}")
            return
        if media_id is None:
            return
        try:
            posted = await asyncio.get_running_loop().run_in_executor(self.executor, post, media_id)
        except DeliveryError as e:
            self.failed(job, "reply_refused", str(e))
            return
        await job.checkpoint.part_sent(posted)

    async def aclose(self) -> None:
        """A late map's reply still waiting is given its wait and one post, then dropped."""
        if self._late:
            _, pending = await asyncio.wait(set(self._late), timeout=LATE_WAIT + _LATE_POST)
            for task in pending:
                task.cancel()

    async def first(self, job: Job) -> tuple[str | None, asyncio.Task[str | None] | None]:
        """(the uploaded map's media id for the first post of `job`, or None when it goes without
        one; when the map or its upload was not ready in time, the task that gets its media id
        once it is, for a reply after the text: `later`)."""
        if job.picture is None:
            return None, None
        life_safety = job.delivery.life_safety
        budget = min(LIFE_SAFETY_WAIT, self.wait) if life_safety else self.wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        picture, missing = await self._picture(job, budget)
        if picture is None:
            return None, (asyncio.ensure_future(self._later(job, None)) if missing else None)
        upload = self._start(job, picture)
        if upload is None:
            return None, None
        # A life-safety post does not wait for X to take the image either: the budget covers
        # both, and an upload still going on when it is spent is used for the reply.
        done, _ = await asyncio.wait({upload}, timeout=max(0.0, deadline - loop.time()) if life_safety else None)
        if not done:
            return None, asyncio.ensure_future(self._later(job, upload))
        return self._result(job, upload), None

    async def _later(self, job: Job, upload: asyncio.Future[str] | None) -> str | None:
        """The media id of a map that was not there, or not uploaded, for the first post, once it
        is (at most LATE_WAIT more); None when it does not come or fails (logged and counted)."""
        if upload is None:
            picture, _ = await self._picture(job, LATE_WAIT)
            if picture is None:
                self.failed(job, "late", f"no map {LATE_WAIT} s after the text")
                return None
            upload = self._start(job, picture)
            if upload is None:
                return None
        done, _ = await asyncio.wait({upload}, timeout=LATE_WAIT)
        if not done:
            self.failed(job, "upload_slow", f"the upload took over {LATE_WAIT} s more")
            return None
        return self._result(job, upload)

    async def _picture(self, job: Job, seconds: float) -> tuple[Picture | None, bool]:
        """(the map, or None; True when the source had none to give yet, False when it failed)."""
        assert job.picture is not None
        try:
            picture = await picture_within(job.picture, seconds)
        except Exception as e:  # a picture source is never allowed to fail the post
            self.failed(job, "source_failed", f"{type(e).__name__}: {e}")
            return None, False
        if picture is None:
            w = job.delivery.warning
            log.info("x.media_not_ready", event_id=w.event_id, warning_id=w.id, waited=seconds)
        return picture, picture is None

    def _start(self, job: Job, picture: Picture) -> asyncio.Future[str] | None:
        """The upload, started in the sender's pool; None while uploads are held."""
        if self.hold_until is not None and self.clock.now() < self.hold_until:
            self.failed(job, "upload_rate_limited", f"uploads held until {self.hold_until.isoformat()}")
            return None
        return asyncio.get_running_loop().run_in_executor(self.executor, self.upload, picture)

    def _result(self, job: Job, upload: asyncio.Future[str]) -> str | None:
        try:
            return upload.result()
        except MediaFailed as e:
            self.failed(job, e.reason, str(e))
        except Exception as e:  # whatever else goes wrong with the image, the post goes
            self.failed(job, "upload_failed", f"{type(e).__name__}: {e}")
        return None

    def upload(self, picture: Picture) -> str:
        """The media id X gave the map (blocking: runs in the sender's pool)."""
        if len(picture.png) > MAX_IMAGE:
            raise MediaFailed("too_large", f"the map is {len(picture.png)} bytes, over X's 5 MB")
        answer = self._request(
            "/2/media/upload",
            files={"media": ("map.png", picture.png, "image/png")},
            data={"media_category": "tweet_image"},
        )
        try:
            media_id = str(answer.json()["data"]["id"])
        except (ValueError, KeyError, TypeError):
            raise MediaFailed("upload_refused", "X answered the upload without a media id") from None
        if picture.alt:
            try:
                body = {"id": media_id, "metadata": {"alt_text": {"text": picture.alt[:MAX_ALT]}}}
                self._request("/2/media/metadata", json=body)
            except MediaFailed as e:
                # The image still goes; only its description is missing.
                log.warning("x.media_alt_failed", account=self.account, reason=e.reason, detail=str(e))
        return media_id

    def _request(self, path: str, **kwargs: object) -> requests.Response:
        try:
            answer = self.session.post(TWEEPY_HOST + path, auth=self.auth, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as e:
            raise MediaFailed("upload_unreachable", f"X API unreachable: {type(e).__name__}") from None
        if 200 <= answer.status_code < 300:
            return answer
        row = judge(answer.status_code, answer.content)
        if row.act in (Act.HOLD, Act.HOLD_APP):
            self.hold_until, _ = holds(answer.headers, self.clock.now())
        detail = answer.text[:200] if row.body is not None else answer.reason
        raise MediaFailed(_REASONS.get(row.act, "upload_refused"), f"{row.reason} ({answer.status_code}): {detail}")

    def failed(self, job: Job, reason: str, detail: str) -> None:
        map_failed("x", self.account, job.delivery, reason, detail)
