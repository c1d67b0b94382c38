"""The Telegram channel: a bot posting to one channel or group through the Bot API
(`POST <api_base>/bot<token>/sendMessage`, `sendPhoto`; `getMe` as the credential check), with
httpx made by the one outbound policy.

Why httpx and not a client library (python-telegram-bot, aiogram): both bring their own HTTP
stack (httpx wrapped behind their own request layer, or aiohttp as a client) and an update
loop a posting-only bot never uses; warnd needs three methods, its own timeouts, proxy and CA
policy, and the raw answer to classify by status and body.

- Texts: Telegram takes 4,096 characters after entity parsing, counted in UTF-16 code units.
  A longer text goes out as a thread (channels.threads, the same labels as X), each part a
  reply to the part before it, recorded with `job.checkpoint` as it is posted so a crash
  mid-thread resumes after the last part. Texts go in HTML parse mode with `<`, `>` and `&`
  escaped: a warning's text is never taken for markup. Telegram failing to parse it anyway
  sends the same text as plain text rather than lose it.
- Replies: a correction, update or cancel answers the account's first message about the
  event (`reply_parameters.message_id` = `job.reply_to`, the message id `Sent.remote_id`
  holds), with `allow_sending_without_reply`, so a deleted first message never stops it.
- The map: when the whole text fits a photo caption (1,024 characters) and the map is ready
  within the wait (0.2 s for life safety), one `sendPhoto` carries both. Otherwise the text
  goes first and the map follows as a reply to the first message, its caption the map's
  Indonesian description (Telegram has no alt text field), after the delivery is done, so the
  chat's next warning never waits for a map. A map failing is logged and counted, never fails
  the delivery. Only the attempt that posted the first part sends a map: at most once.
- Repeats: Telegram has no idempotency key and a bot cannot read a channel's history, so
  nothing can be looked up before a re-send. A part whose request got no answer (a timeout, a
  connection lost after sending, a 5xx or unreadable answer, or a kill -9 between the request
  and its record) is sent again on the next attempt: that one part can appear twice, once per
  lost answer. Every part that was answered is recorded before the next is sent and is never
  sent again. A re-send of an unanswered part is logged as `telegram.possible_repeat`.
- The token is in the URL path: no URL is ever logged, put in an error or a metric (errors
  name the exception type only; httpx's own request log is kept at WARNING).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from typing import Any

import httpx

from warnd.channels import threads
from warnd.channels.base import Budget, Job, Picture, Sent, map_failed, picture_within
from warnd.channels.telegram_answers import Answer, NotParsed, ReplyGone, classify
from warnd.clock import Clock
from warnd.config.outbound import Outbound
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import Target
from warnd.obs import get_logger

log = get_logger("warnd.telegram")

# httpx logs every request with its URL at INFO: the URL carries the bot token.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

LIMIT = 4096
CAPTION_LIMIT = 1024
# Telegram takes photos up to 10 MB through sendPhoto.
MAX_PHOTO = 10 * 1024 * 1024
LIFE_SAFETY_WAIT = 0.2
LATE_WAIT = 5.0
_UNANSWERED = (Failure.NETWORK, Failure.SERVER_ERROR)


def utf16_length(text: str) -> int:
    """Telegram's measure of a text: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split(text: str, lang: str = "id", label: str | None = None, limit: int = LIMIT) -> list[str]:
    """The parts of a Telegram thread (one part when the text fits), as Telegram measures them."""
    return threads.split(text, limit, lang, label, length=utf16_length)


def escape(text: str) -> str:
    """A plain text for HTML parse mode: `<`, `>` and `&` as entities, nothing else touched."""
    return html.escape(text, quote=False)


class TelegramSender:
    replies = True
    batch = 1
    channel = "telegram"
    hold_keys: tuple[str, ...] = ()

    def __init__(
        self,
        account: str,
        *,
        token: Secret,
        chat_id: str,
        bot: str,
        api_base: str,
        timeout: float,
        chat_budget: tuple[int, float, int],
        bot_budget: tuple[int, float, int],
        outbound: Outbound,
        chat_pace: tuple[int, float, int] = (1, 1.0, 0),
        clock: Clock,
        picture_wait: float = 2.0,
    ) -> None:
        """`bot`: the bot's credential name, which names the budget every chat of that bot
        shares (Telegram's overall limit is per bot); never the token."""
        self.target = Target.account(account)
        self.account = account
        self.chat_id = chat_id
        self.clock = clock
        self.picture_wait = picture_wait
        self.budgets: tuple[Budget, ...] = (
            Budget(f"telegram:{account}", *chat_budget),
            Budget(f"telegram-bot:{bot}", *bot_budget),
            Budget(f"telegram-pace:{account}", *chat_pace),
        )
        self._token = token
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout
        self._outbound = outbound
        self._http: httpx.AsyncClient | None = None
        self._late: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"TelegramSender({self.target})"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = self._outbound.async_client(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)),
                headers={"User-Agent": "warnd"},
            )
        return self._http

    def cost(self, job: Job) -> int:
        return max(1, len(self._thread(job)) - len(job.delivery.parts))

    @staticmethod
    def _thread(job: Job) -> tuple[str, ...]:
        w = job.delivery.warning
        return job.texts.get(lambda: split(w.text, lang=w.lang, label=w.thread_label))

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        w = d.warning
        parts = self._thread(job)
        done = list(d.parts)
        known = [p for p in done if p]
        first: str | None = known[0] if known else None
        reply_to = known[-1] if known else job.reply_to
        picture: Picture | None = None
        missing = False
        if not done and job.picture is not None:
            picture, missing = await self._picture(
                job, min(LIFE_SAFETY_WAIT, self.picture_wait) if d.life_safety else self.picture_wait
            )
        for n, text in enumerate(parts[len(done) :], len(done) + 1):
            if d.unanswered == n:
                log.warning(
                    "telegram.possible_repeat",
                    event_id=w.event_id,
                    warning_id=w.id,
                    target=d.target,
                    part=n,
                    parts=len(parts),
                    detail="an earlier request for this part got no answer; Telegram may already show it",
                )
            with_photo = picture is not None and n == 1 and len(parts) == 1 and utf16_length(text) <= CAPTION_LIMIT
            try:
                if with_photo:
                    assert picture is not None
                    posted = await self._photo_or_text(job, text, reply_to, picture)
                    picture = None
                else:
                    posted = await self._message(text, reply_to)
            except DeliveryError as e:
                # A request that never reached Telegram (no connection) cannot have posted.
                if e.failure in _UNANSWERED and (e.spent or e.failure is Failure.SERVER_ERROR):
                    await job.checkpoint.part_unanswered(n)
                raise
            await job.checkpoint.part_sent(posted)
            first = first or posted
            reply_to = posted
        if first is not None and not done and (picture is not None or missing):
            self._follow(job, picture, first)
        return Sent(remote_id=first)

    async def _photo_or_text(self, job: Job, text: str, reply_to: str | None, picture: Picture) -> str:
        """The message id of the text as the map's caption, or of the text alone when Telegram
        refuses the photo (the text is what the delivery is)."""
        try:
            return await self._send_photo(picture, escape(text), reply_to, html_mode=True)
        except DeliveryError as e:
            if e.failure is not Failure.BAD_REQUEST:
                raise
            self._media_failed(job, "photo_refused", str(e))
            return await self._message(text, reply_to)

    async def _message(self, text: str, reply_to: str | None, html_mode: bool = True) -> str:
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": escape(text) if html_mode else text,
            "link_preview_options": {"is_disabled": True},
        }
        if html_mode:
            payload["parse_mode"] = "HTML"
        if reply_to:
            payload["reply_parameters"] = {"message_id": int(reply_to), "allow_sending_without_reply": True}
        try:
            return _message_id(await self._call("sendMessage", json_body=payload))
        except ReplyGone:
            if not reply_to:
                raise
            return await self._message(text, None, html_mode)
        except NotParsed:
            if not html_mode:
                raise
            return await self._message(text, reply_to, html_mode=False)

    async def _send_photo(self, picture: Picture, caption: str, reply_to: str | None, *, html_mode: bool) -> str:
        if len(picture.png) > MAX_PHOTO:
            raise DeliveryError(f"the map is {len(picture.png)} bytes, over Telegram's 10 MB", Failure.BAD_REQUEST)
        form: dict[str, str] = {"chat_id": self.chat_id, "caption": caption}
        if html_mode:
            form["parse_mode"] = "HTML"
        if reply_to:
            form["reply_parameters"] = json.dumps({"message_id": int(reply_to), "allow_sending_without_reply": True})
        files = {"photo": ("map.png", picture.png, "image/png")}
        return _message_id(await self._call("sendPhoto", data=form, files=files))

    async def _call(
        self,
        method: str,
        *,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Answer:
        # The URL holds the token: it is made here and goes nowhere but the request.
        url = f"{self._api_base}/bot{self._token.reveal()}/{method}"
        try:
            async with asyncio.timeout(self._timeout + 1.0):
                r = await self._client().post(url, json=json_body, data=data, files=files)
        except httpx.ConnectError as e:
            # The request never reached Telegram: it cannot have posted, nor counted.
            raise DeliveryError(f"Telegram unreachable: {type(e).__name__}", Failure.NETWORK, spent=False) from None
        except (TimeoutError, httpx.HTTPError) as e:
            raise DeliveryError(f"Telegram {method}: no answer ({type(e).__name__})", Failure.NETWORK) from None
        answer = Answer.read(r.status_code, r.content)
        if not answer.ok:
            raise classify(answer, self.clock.now(), self.chat_id)
        return answer

    async def _picture(self, job: Job, seconds: float) -> tuple[Picture | None, bool]:
        """(the map, or None; True when the source had none to give yet)."""
        assert job.picture is not None
        try:
            picture = await picture_within(job.picture, seconds)
        except Exception as e:  # a picture source is never allowed to fail the post
            self._media_failed(job, "source_failed", f"{type(e).__name__}: {e}")
            return None, False
        return picture, picture is None

    def _follow(self, job: Job, picture: Picture | None, reply_to: str) -> None:
        """The map as a reply to the first message, after the delivery is done."""
        task = asyncio.get_running_loop().create_task(self._late_photo(job, picture, reply_to))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _late_photo(self, job: Job, picture: Picture | None, reply_to: str) -> None:
        if picture is None:
            assert job.picture is not None
            picture, _ = await self._picture(job, LATE_WAIT)
            if picture is None:
                self._media_failed(job, "late", f"no map {LATE_WAIT} s after the text")
                return
        caption = (picture.alt or "Peta")[:CAPTION_LIMIT]
        try:
            await self._send_photo(picture, caption, reply_to, html_mode=False)
        except DeliveryError as e:
            self._media_failed(job, "photo_refused", str(e))

    def _media_failed(self, job: Job, reason: str, detail: str) -> None:
        map_failed("telegram", self.account, job.delivery, reason, detail)

    async def probe(self) -> None:
        """getMe with the bot's token: None when Telegram knows it; DeliveryError otherwise."""
        await self._call("getMe", json_body={})

    async def aclose(self) -> None:
        if self._late:
            _, pending = await asyncio.wait(set(self._late), timeout=LATE_WAIT + self._timeout)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()


def _message_id(answer: Answer) -> str:
    result = answer.body.get("result") if answer.body else None
    if isinstance(result, dict) and isinstance(result.get("message_id"), int):
        return str(result["message_id"])
    # ok without a message: Telegram took it, most likely; retried like a lost answer.
    raise DeliveryError("Telegram answered ok without a message id", Failure.SERVER_ERROR)
