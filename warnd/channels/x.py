"""Posting to X through tweepy's v2 Client, one client per regional account (OAuth 1.0a user
context: the app's consumer key, the account's access token).

What tweepy does not do, and this module does:
- the wire, a timeout on every request and a configurable API host (X's documented
  https://api.x.com, or a local fake in drills): the adapter in `x_wire` sends tweepy's requests
  with httpx under the one outbound policy;
- rate limits: wait_on_rate_limit is off (it hot-loops without a reset header and ignores the
  24-hour buckets); a 429 becomes a hold until the latest reset X announced (read by
  x_answers.holds), kept by the dispatcher across restarts;
- threads: a text over 280 weighted characters goes out as numbered replies to itself, each part
  recorded as it is posted so a crash mid-thread resumes after the last part;
- duplicate content: X answers 403 with no error code; the message says "duplicate content".
  A part whose request got no answer (a timeout, a lost connection, a 5xx, or a crash: the
  attempt a restart finds in flight) is recorded in the outbox. X refusing that part as a
  duplicate means that request got through: the part counts as posted. A refusal of any other
  part is an error: the delivery is dead-lettered with an operator notice, never counted sent.
- errors: X is judged by status and body together, in one table (x_answers.X_ANSWERS), not by
  the status alone: a 402 (the app's credits spent) holds every account, a 403 differs by its
  message.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import requests
import tweepy
from requests_oauthlib import OAuth1

from warnd.channels import thread
from warnd.channels.base import Budget, Job, Sent
from warnd.channels.x_answers import ParentGone, classify
from warnd.channels.x_wire import TWEEPY_HOST, Route
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Delivery, Target
from warnd.obs import get_logger

log = get_logger("warnd.x")

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
    ) -> None:
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

    def __repr__(self) -> str:
        return f"XSender({self.target})"

    def cost(self, job: Job) -> int:
        w = job.delivery.warning
        return max(1, len(thread.split(w.text, lang=w.lang, label=w.thread_label)) - len(job.delivery.parts))

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        w = d.warning
        parts = thread.split(w.text, lang=w.lang, label=w.thread_label)
        done = list(d.parts)
        known = [p for p in done if p]
        first: str | None = known[0] if known else None
        reply_to = known[-1] if known else job.reply_to
        for n, text in enumerate(parts[len(done) :], len(done) + 1):
            # Only a request of ours for this very part that never got its answer (recorded
            # below, or an attempt a restart found in flight) can have put the text on X: then,
            # and only then, X refusing it as a duplicate means it is there.
            maybe_posted = d.unanswered == n
            try:
                posted = await self._post_part(text, reply_to)
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
                if len(parts) == 1:
                    return Sent(remote_id=None, duplicate=True)
                continue
            await job.checkpoint.part_sent(posted)
            first = first or posted
            reply_to = posted
        return Sent(remote_id=first)

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

    async def _post_part(self, text: str, reply_to: str | None) -> str:
        """The new post's id; DeliveryError (DUPLICATE when X already has this text)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_POOL, self._create, text, reply_to)
        except ParentGone:
            if not reply_to:
                raise
        # The post being answered was deleted or is not visible: post on its own rather than
        # lose the warning.
        return await loop.run_in_executor(_POOL, self._create, text, None)

    def _create(self, text: str, reply_to: str | None) -> str:
        try:
            response = self.client.create_tweet(text=text, in_reply_to_tweet_id=reply_to)
        except tweepy.HTTPException as e:
            raise classify(e, self.clock.now()) from None
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
        self.client.session.close()
