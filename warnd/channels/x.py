"""The X channel: posting to X through tweepy's v2 Client, one client per regional account (OAuth
1.0a user context: the app's consumer key, the account's access token), and how a warning's text
becomes an X thread (`split`, `weighted`: X's rule of 280 weighted characters).

What tweepy does not do, and this module does:
- the wire, a timeout on every request and a configurable API host (X's documented
  https://api.x.com, or a local fake in drills): the adapter in `x_wire` sends tweepy's requests
  with httpx under the one outbound policy;
- rate limits: wait_on_rate_limit is off (it hot-loops without a reset header and ignores the
  24-hour buckets); a 429 becomes a hold until the latest reset X announced (read by
  x_answers.holds), kept by the dispatcher across restarts;
- threads: a text over 280 weighted characters goes out as numbered replies to itself, each part
  recorded as it is posted so a crash mid-thread resumes after the last part (`split`, below);
- duplicate content: X answers 403 with no error code; the message says "duplicate content".
  A part whose request got no answer (a timeout, a lost connection, a 5xx, or a crash: the
  attempt a restart finds in flight) is recorded in the outbox. X refusing that part as a
  duplicate means that request got through: the part counts as posted. A refusal of any other
  part is an error: the delivery is dead-lettered with an operator notice, never counted sent.
- errors: X is judged by status and body together, in one table (x_answers.X_ANSWERS), not by
  the status alone: a 402 (the app's credits spent) holds every account, a 403 differs by its
  message.
- the warning's map (x_media): the first part of a thread carries it when it is ready within
  the wait (0.2 s for a life-safety post, its upload included; `picture_wait` otherwise) and
  its upload succeeds; a map that fails or is refused is left off and the text goes as it is.
  A map (or upload) not ready in time goes, once it is (at most x_media.LATE_WAIT later), as a
  reply to the thread's last part ("Peta: <first line> <label>": no earlier post's text),
  posted after the delivery is done (the account's next warning never waits for a map) and
  recorded like a part. Only the attempt that posted the first part does either: a thread
  resumed after a crash (a part already recorded) never uploads, attaches or replies again.

How a text becomes a thread (`split`): cuts fall at paragraph breaks first, then line breaks,
then between words; each part carries its place ("1/3") so a reader who meets a later part knows
there is more above it. X refuses a text the account has already posted, so no part may repeat a
part of another post:
- every later part starts with the warning's first line (shortened): a part that is only a list
  of regencies would otherwise read the same for two quakes in one place;
- every part ends with the warning's thread label before its number ("PD-3.3 2/3"): successive
  updates of one tsunami warning share their first line and their regency lists, and the label
  (pipeline.wording.thread_label) is one no other post of the account about the event has.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import requests
import tweepy
from requests_oauthlib import OAuth1

from warnd.channels import threads
from warnd.channels.base import Budget, Job, Sent
from warnd.channels.x_answers import ParentGone, classify
from warnd.channels.x_media import Media
from warnd.channels.x_wire import TWEEPY_HOST, NotConnected, Route
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery, Target
from warnd.obs import get_logger

log = get_logger("warnd.x")
# What gets the media id of a map that was not ready for the first part (x_media.Media.first).
Later = asyncio.Task[str | None]

APP_HOLD = "x-app"
# Failures after which X may have taken the post: no answer, or one that does not say.
_UNANSWERED = (Failure.NETWORK, Failure.SERVER_ERROR)

# Posting runs tweepy's blocking client in threads; sized for many accounts posting at once
# (the default pool has min(32, cpus + 4) threads: 6 on a 2-core machine).
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="warnd-x")

# requests_oauthlib logs signed headers (with the access token) at DEBUG.
for _name in ("requests_oauthlib", "oauthlib", "tweepy", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class XSender:
    replies = True
    batch = 1
    channel = "x"
    hold_keys: tuple[str, ...] = (APP_HOLD,)

    def __init__(
        self,
        account: str,
        *,
        consumer_key: Secret,
        consumer_secret: Secret,
        access_token: Secret,
        access_token_secret: Secret,
        api_base: str,
        connect_timeout: float,
        read_timeout: float,
        account_budget: tuple[int, float] | tuple[int, float, int],
        app_budget: tuple[int, float] | tuple[int, float, int],
        outbound: Outbound,
        clock: Clock,
        picture_wait: float = 2.0,
    ) -> None:
        """`picture_wait`: how long a post that is not life-safety waits for its map (maps.wait)."""
        self.target = Target.account(account)
        self.clock = clock
        self.budgets: tuple[Budget, ...] = (
            Budget(f"x:{account}", *account_budget),
            Budget(APP_HOLD, *app_budget),
        )
        self.client = tweepy.Client(
            consumer_key=consumer_key.reveal(),
            consumer_secret=consumer_secret.reveal(),
            access_token=access_token.reveal(),
            access_token_secret=access_token_secret.reveal(),
            return_type=requests.Response,
            wait_on_rate_limit=False,
        )
        auth = OAuth1(
            consumer_key.reveal(),
            client_secret=consumer_secret.reveal(),
            resource_owner_key=access_token.reveal(),
            resource_owner_secret=access_token_secret.reveal(),
            decoding=None,
        )
        # Nothing of requests' own environment reading (proxies, CA bundle, netrc) applies: the
        # adapter sends with the outbound policy.
        self.client.session.trust_env = False
        self.client.session.mount(TWEEPY_HOST + "/", Route(api_base, auth, (connect_timeout, read_timeout), outbound))
        self.media = Media(account, self.client.session, auth, clock, _POOL, picture_wait)

    def __repr__(self) -> str:
        return f"XSender({self.target})"

    def cost(self, job: Job) -> int:
        return max(1, len(self._thread(job)) - len(job.delivery.parts))

    async def send(self, job: Job) -> Sent:
        parts = self._thread(job)
        done = list(job.delivery.parts)
        # Only before the first part: a resumed thread's first part is out, with or without it.
        media_id, later = await self.media.first(job) if not done else (None, None)
        try:
            return await self._thread_out(job, parts, done, media_id, later)
        except BaseException:
            # The text did not go out whole: no map follows it.
            if later is not None:
                later.cancel()
            raise

    async def _thread_out(
        self, job: Job, parts: tuple[str, ...], done: list[str | None], media_id: str | None, later: Later | None
    ) -> Sent:
        d = job.delivery
        w = d.warning
        known = [p for p in done if p]
        first: str | None = known[0] if known else None
        reply_to = known[-1] if known else job.reply_to
        for n, text in enumerate(parts[len(done) :], len(done) + 1):
            # Only a request of ours for this very part that never got its answer (recorded
            # below, or an attempt a restart found in flight) can have put the text on X: then,
            # and only then, X refusing it as a duplicate means it is there.
            maybe_posted = d.unanswered == n
            try:
                posted = await self._post_part(text, reply_to, media_id, job)
            except DeliveryError as e:
                if e.failure in _UNANSWERED:
                    await job.checkpoint.part_unanswered(n)
                if e.failure is not Failure.DUPLICATE:
                    raise
                if not maybe_posted:
                    raise self._unexplained_duplicate(d, n, len(parts)) from None
                log.info(
                    "delivery.part_already_posted",
                    event_id=w.event_id,
                    warning_id=w.id,
                    target=d.target,
                    part=n,
                    parts=len(parts),
                    detail="refused as duplicate content after a request whose answer was lost",
                )
                await job.checkpoint.part_sent(None)
                # An earlier request put the first part on X, perhaps with its map.
                if later is not None:
                    later.cancel()
                later = None
                if len(parts) == 1:
                    return Sent(remote_id=None, duplicate=True)
                continue
            await job.checkpoint.part_sent(posted)
            media_id = None
            first = first or posted
            reply_to = posted
        if later is not None and reply_to:
            label = threads.thread_label(w.thread_label)
            text = (
                f"Peta: {threads.headline(w.text.strip().split(chr(10), 1)[0], weighted)}{' ' + label if label else ''}"
            )
            self.media.follow(job, later, functools.partial(self._create, text, reply_to))
        elif later is not None:
            later.cancel()
        return Sent(remote_id=first)

    @staticmethod
    def _thread(job: Job) -> tuple[str, ...]:
        """The delivery's thread, split once for the attempt: cost and send read the same parts."""
        w = job.delivery.warning
        return job.texts.get(lambda: split(w.text, lang=w.lang, label=w.thread_label))

    def _unexplained_duplicate(self, d: Delivery, n: int, of: int) -> DeliveryError:
        """X refused a part warnd never sent as a repeat: counting it delivered would lose it."""
        detail = f"X refused part {n}/{of} as duplicate content; warnd has no record of posting it"
        log.error(
            "delivery.duplicate_refused",
            event_id=d.warning.event_id,
            warning_id=d.warning.id,
            target=d.target,
            part=n,
            parts=of,
            thread_label=d.warning.thread_label,
            detail=detail,
        )
        return DeliveryError(detail, Failure.BAD_REQUEST)

    async def _post_part(self, text: str, reply_to: str | None, media_id: str | None, job: Job) -> str:
        """The new post's id; DeliveryError (DUPLICATE when X already has this text)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_POOL, self._create, text, reply_to, media_id)
        except ParentGone:
            if not reply_to:
                raise
            # The post being answered was deleted or is not visible: post on its own rather
            # than lose the warning.
            return await self._post_part(text, None, media_id, job)
        except DeliveryError as e:
            if media_id is None or e.failure is not Failure.BAD_REQUEST:
                raise
            # X refused the post with the map attached: the text goes without it.
            self.media.failed(job, "attach_refused", str(e))
            return await self._post_part(text, reply_to, None, job)

    def _create(self, text: str, reply_to: str | None, media_id: str | None = None) -> str:
        try:
            response = self.client.create_tweet(
                text=text, in_reply_to_tweet_id=reply_to, media_ids=[media_id] if media_id else None
            )
        except tweepy.HTTPException as e:
            raise classify(e, self.clock.now()) from None
        except (NotConnected, requests.ConnectTimeout, requests.exceptions.ProxyError) as e:
            # The request never reached X: it cannot have posted, nor counted against a limit.
            raise DeliveryError(f"X API unreachable: {type(e).__name__}", Failure.NETWORK, spent=False) from None
        except (requests.ConnectionError, requests.Timeout) as e:
            raise DeliveryError(f"X API unreachable: {type(e).__name__}", Failure.NETWORK) from None
        except requests.RequestException as e:
            raise DeliveryError(f"X API request failed: {type(e).__name__}", Failure.NETWORK) from None
        try:
            data = response.json()["data"]
            return str(data["id"])
        except (ValueError, KeyError, TypeError):
            # 2xx without a post id: X took it, most likely; a retry would be refused as a
            # duplicate, which also counts as delivered.
            raise DeliveryError("X API answered 2xx without a post id", Failure.SERVER_ERROR) from None

    async def probe(self) -> None:
        """GET /2/users/me with this account's token: None when X knows it, DeliveryError when X
        refuses it (401/403: revoked, suspended) or cannot be reached."""
        await asyncio.get_running_loop().run_in_executor(_POOL, self._me)

    def _me(self) -> None:
        try:
            self.client.get_me(user_auth=True)
        except tweepy.HTTPException as e:
            raise classify(e, self.clock.now()) from None
        except requests.RequestException as e:
            raise DeliveryError(f"X API unreachable: {type(e).__name__}", Failure.NETWORK) from None

    async def aclose(self) -> None:
        await self.media.aclose()
        self.client.session.close()


# How a text becomes an X thread.

LIMIT = 280


# Characters an emoji is made of (pictographs, modifiers, joiners, selectors, keycaps). A text
# with none of them is weighed without twitter-text's emoji scan, which costs milliseconds.
_EMOJI_PARTS = frozenset({"So", "Sk", "Cf", "Mn", "Me", "Cs", "Co"})
# A URL twitter-text finds ends in a top-level domain, and a top-level domain starts with a
# letter after a dot ("bmkg.go.id", "xn--p1ai", "рф"): a text with no dot before a letter has
# none, and is weighed without its URL pass, the costliest part of weighing a warning's text
# (a thread's split weighs every growing part again).
_MAYBE_URL = re.compile(r"\.[^\W\d_]")


class _TwitterText(NamedTuple):
    parse_tweet: Callable[[str], Any]
    extract_urls: Callable[[str], list[dict[str, Any]]]
    character_weight: Callable[[str, dict[str, Any]], Any]
    options: dict[str, Any]
    scale: int
    url_weight: int


@functools.cache
def twitter_text() -> _TwitterText:
    """twitter-text, imported on first need. Its expressions (emoji, URLs, the list of top-level
    domains) take about a third of a second to compile, and an ASCII text without a URL, most
    warnings, is weighed without them: the daemon loads them in a thread just after READY
    (app.py), not on the way to it."""
    from twitter_text import parse_tweet
    from twitter_text.config import config
    from twitter_text.extract_urls import extract_urls_with_indices
    from twitter_text.get_character_weight import get_character_weight

    options: dict[str, Any] = config["defaults"]
    scale = int(options["scale"])
    return _TwitterText(
        parse_tweet,
        extract_urls_with_indices,
        get_character_weight,
        options,
        scale,
        int(options["transformed_url_length"]) * scale,
    )


@functools.lru_cache(maxsize=4096)
def weighted(text: str) -> int:
    """X's weighted length: what twitter-text's parse_tweet says, faster for warning texts."""
    norm = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    maybe_url = _MAYBE_URL.search(norm) is not None
    if norm.isascii() and not maybe_url:
        # Every ASCII character weighs one, and only a URL weighs otherwise.
        return len(norm)
    tt = twitter_text()
    if not norm.isascii() and any(not c.isascii() and unicodedata.category(c) in _EMOJI_PARTS for c in norm):
        return int(tt.parse_tweet(text).weightedLength)
    urls = tt.extract_urls(norm) if maybe_url else []
    total, at = 0, 0
    for u in urls:
        start, end = u["indices"]
        total += _plain(norm[at:start], tt) + tt.url_weight
        at = end
    total += _plain(norm[at:], tt)
    return total // tt.scale


def _plain(text: str, tt: _TwitterText) -> int:
    if text.isascii():
        return len(text) * tt.scale
    return sum(int(tt.character_weight(c, tt.options)) for c in text)


def split(text: str, limit: int = LIMIT, lang: str = "id", label: str | None = None) -> list[str]:
    """The parts of an X thread (one part when the text fits), each ending with `label` and its
    number, weighed as X weighs them (channels.threads)."""
    return threads.split(text, limit, lang, label, length=weighted)
