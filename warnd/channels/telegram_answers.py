"""What the Telegram Bot API's answers mean: one table (TELEGRAM_ANSWERS) judging each refusal by
its HTTP status and its body's `description`, and the wait a 429 announces.

Every Bot API answer is JSON: `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N,
"description": "...", "parameters": {"retry_after": S, "migrate_to_chat_id": ID}}`, with the
HTTP status equal to `error_code`. An answer that is not that (an HTML page from a proxy, a
body cut off mid-way) is nobody's verdict on the warning: it is tried again, never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from warnd.channels.answers import UNREADABLE, Row, first
from warnd.errors import DeliveryError, Failure

# A 429 without retry_after gave no hint: wait this long rather than hammer the chat.
DEFAULT_HOLD = 30.0
# The longest wait a 429 is believed for (a wrong, huge value must not park the channel a week).
MAX_HOLD = 6 * 3600.0


class Act(StrEnum):
    """What warnd does with an answer from Telegram."""

    HOLD = "hold"  # this chat waits retry_after seconds; nothing is dead-lettered
    ALONE = "alone"  # the message being answered is gone: send without the reply
    PLAIN = "plain"  # Telegram could not parse the HTML: send the same text as plain text
    DISABLE = "disable"  # the bot or its place in the chat is refused: disable with a notice
    RETRY = "retry"  # the retry rule (backoff, give-up time)
    DEAD = "dead"  # final: dead-lettered with a notice


# Telegram's answers and what warnd does, first match wins. The table in
# docs/operator/configure.md#telegram is this one.
TELEGRAM_ANSWERS: tuple[Row[Act], ...] = (
    Row(None, UNREADABLE, Act.RETRY, "Telegram answered with an unreadable body"),
    Row(429, "", Act.HOLD, "Telegram rate limit"),
    Row(401, "", Act.DISABLE, "Telegram refused the bot token"),
    Row(403, "kicked", Act.DISABLE, "the bot was removed from the chat"),
    Row(403, "not a member", Act.DISABLE, "the bot is not a member of the chat"),
    Row(403, "", Act.DISABLE, "Telegram forbids the bot to post in the chat"),
    Row(400, "chat not found", Act.DISABLE, "Telegram does not know the chat (chat_id, or the bot is not in it)"),
    Row(400, "upgraded to a supergroup", Act.DISABLE, "the group became a supergroup with a new chat id"),
    Row(400, "not enough rights", Act.DISABLE, "the bot may not post in the chat"),
    Row(400, "have no rights", Act.DISABLE, "the bot may not post in the chat"),
    Row(400, "replied not found", Act.ALONE, "the message being answered is gone"),
    Row(400, "to be replied not found", Act.ALONE, "the message being answered is gone"),
    Row(400, "can't parse entities", Act.PLAIN, "Telegram could not parse the HTML"),
    Row(408, "", Act.RETRY, "Telegram request timeout"),
    Row(range(500, 600), "", Act.RETRY, "Telegram server error"),
    Row(range(400, 500), "", Act.DEAD, "Telegram refused the request"),
    Row(None, "", Act.RETRY, "Telegram answered an unexpected status"),
)

_FAILURE = {
    Act.HOLD: Failure.RATE_LIMITED,
    Act.ALONE: Failure.BAD_REQUEST,
    Act.PLAIN: Failure.BAD_REQUEST,
    Act.DISABLE: Failure.AUTH,
    Act.RETRY: Failure.SERVER_ERROR,
    Act.DEAD: Failure.BAD_REQUEST,
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One Bot API answer as read: `body` None when it is not the Bot API's JSON object."""

    status: int
    body: dict[str, Any] | None

    @classmethod
    def read(cls, status: int, raw: bytes) -> Answer:
        try:
            parsed = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            return cls(status, None)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("ok"), bool):
            return cls(status, None)
        return cls(status, parsed)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.body is not None and self.body.get("ok") is True

    @property
    def description(self) -> str | None:
        if self.body is None:
            return None
        return str(self.body.get("description") or "").lower()

    def parameter(self, name: str) -> Any:
        params = self.body.get("parameters") if self.body else None
        return params.get(name) if isinstance(params, dict) else None


class ReplyGone(DeliveryError):
    """The message a reply answers is gone: the message can go on its own."""


class NotParsed(DeliveryError):
    """Telegram could not parse the HTML of the text: the text can go as plain text."""


def judge(answer: Answer) -> Row[Act]:
    """The row of TELEGRAM_ANSWERS for this answer (not a success)."""
    return first(TELEGRAM_ANSWERS, answer.status, answer.description)


def classify(answer: Answer, now: datetime, chat: str) -> DeliveryError:
    """The DeliveryError for an answer that is not a success, as TELEGRAM_ANSWERS says. The
    message never holds the request's URL (the bot token is in its path)."""
    row = judge(answer)
    failure = _FAILURE[row.act]
    detail = (answer.description or "")[:200] if answer.body is not None else "not the Bot API's JSON"
    message = f"{row.reason} ({answer.status}): {detail}"
    if row.act is Act.HOLD:
        return DeliveryError(message, failure, hold_until=now + timedelta(seconds=hold_seconds(answer)))
    if row.act is Act.ALONE:
        return ReplyGone(message, failure)
    if row.act is Act.PLAIN:
        return NotParsed(message, failure)
    if row.act is Act.DISABLE:
        migrate = answer.parameter("migrate_to_chat_id")
        fix = (
            f"set chat_id to {migrate} (the group's new id)"
            if migrate is not None
            else "check the bot token, that the bot is still an administrator of the chat, and chat_id"
        )
        # The runtime's target.disabled notice quotes the message: the fix goes in it.
        return DeliveryError(
            f"{message}; {fix}",
            failure,
            notice=f"operator action needed: Telegram chat {chat}: {row.reason}; {fix}, then enable the account",
        )
    # A server error or an unreadable answer: Telegram may or may not have taken it (the
    # possible repeat is documented); it is not counted against the posting budget.
    return DeliveryError(message, failure, spent=not 500 <= answer.status < 600)


def hold_seconds(answer: Answer) -> float:
    """retry_after from the body's parameters, as Telegram documents it; bounded."""
    value = answer.parameter("retry_after")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_HOLD
    return min(max(seconds, 1.0), MAX_HOLD)
