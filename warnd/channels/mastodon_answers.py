"""What a Mastodon instance's answers mean: the status and body of each refusal judged by one
table (MASTODON_ANSWERS), and the X-RateLimit-* headers read into how long an account waits.

Mastodon's error body is `{"error": "...", "error_description": "..."}` (the Error entity of
docs.joinmastodon.org). The status mostly decides; the body separates the few answers that
mean something else under the same status: a 404 for a reply whose parent is gone (the post
can go on its own), a 422 for a text over the instance's limit (the limit is read again and
the text cut afresh). A body that is not JSON (a reverse proxy's HTML page, an answer cut off)
is not the instance's verdict: it is retried, except where the status alone is conclusive
(429 waits, 401 disables).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from warnd.channels.answers import UNREADABLE, Row, first
from warnd.errors import DeliveryError, Failure

# Without a reset header the instance gave no hint: wait a minute rather than hammer it.
DEFAULT_HOLD = 60.0
# No hold longer than the instance's longest documented window (30 minutes for media) and then
# some: a reset far in the future is a clock gone wrong, not a limit.
MAX_HOLD = 3600.0


class Act(StrEnum):
    HOLD = "hold"  # this account waits for the reset the instance announced
    ALONE = "alone"  # the post being answered is gone: post without the reply
    RECUT = "recut"  # the text is over the instance's limit: read the limit again, retry
    DISABLE = "disable"  # the token is refused: the target is disabled with a notice
    RETRY = "retry"  # the retry rule (backoff, give-up time)
    DEAD = "dead"  # final: dead-lettered with a notice


# The answers and what warnd does, first match wins. The table in docs/operator/configure.md
# (Mastodon) is this one.
MASTODON_ANSWERS: tuple[Row[Act], ...] = (
    Row(429, "", Act.HOLD, "Mastodon rate limit"),
    Row(401, "", Act.DISABLE, "Mastodon refused the access token"),
    # Not the instance's verdict: a proxy's page or an answer cut off.
    Row(None, UNREADABLE, Act.RETRY, "Mastodon answered with an unreadable body"),
    # "Your login is currently disabled", "This action is not allowed", a suspended account,
    # a token without the write:statuses scope.
    Row(403, "", Act.DISABLE, "Mastodon refused the account"),
    # statuses.errors.in_reply_not_found: "The post you are trying to reply to does not appear to exist."
    Row(404, "reply", Act.ALONE, "the post being answered is gone"),
    Row(422, "character limit", Act.RECUT, "the text is over the instance's character limit"),
    Row(408, "", Act.RETRY, "Mastodon request timeout"),
    Row(range(500, 600), "", Act.RETRY, "Mastodon server error"),
    Row(range(400, 500), "", Act.DEAD, "Mastodon refused the request"),
    Row(None, "", Act.RETRY, "Mastodon answered an unexpected status"),
)

_FAILURE = {
    Act.HOLD: Failure.RATE_LIMITED,
    Act.ALONE: Failure.BAD_REQUEST,
    Act.RECUT: Failure.SERVER_ERROR,
    Act.DISABLE: Failure.AUTH,
    Act.RETRY: Failure.SERVER_ERROR,
    Act.DEAD: Failure.BAD_REQUEST,
}


class ParentGone(DeliveryError):
    """The status a reply answers is deleted or not visible: the reply can go out on its own."""


class OverLimit(DeliveryError):
    """The instance refused a text as too long: its limit is read again before the retry."""


def readable(body: bytes | str | None) -> str | None:
    """The body as lower-case JSON text, None when it is not a JSON object."""
    try:
        parsed = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return json.dumps(parsed, ensure_ascii=False).lower() if isinstance(parsed, dict) else None


def judge(status: int, body: bytes | str | None) -> Row[Act]:
    """The row of MASTODON_ANSWERS for this answer."""
    text = readable(body)
    return first(MASTODON_ANSWERS, status, text)


def classify(status: int, body: bytes, headers: Mapping[str, str], now: datetime) -> DeliveryError:
    """The DeliveryError for an answer that is not a success, as MASTODON_ANSWERS says."""
    row = judge(status, body)
    detail = _detail(body)
    message = f"{row.reason} ({status}){': ' + detail if detail else ''}"
    failure = _FAILURE[row.act]
    if row.act is Act.HOLD:
        return DeliveryError(message, failure, hold_until=hold(headers, now))
    if row.act is Act.ALONE:
        return ParentGone(message, failure)
    if row.act is Act.RECUT:
        return OverLimit(message, failure)
    if row.act is Act.DISABLE:
        return DeliveryError(
            message,
            failure,
            notice="operator action needed: the Mastodon access token or account is refused; make a new"
            " token with the write:statuses and write:media scopes and put it in the credential",
        )
    # A server error is the instance not processing the request: not counted against the budget.
    return DeliveryError(message, failure, spent=not 500 <= status < 600)


def hold(headers: Mapping[str, str], now: datetime) -> datetime:
    """Until when the account waits: X-RateLimit-Reset (an ISO 8601 time, as Mastodon sends it),
    else Retry-After in seconds, else DEFAULT_HOLD; never in the past, never over MAX_HOLD."""
    h = {k.lower(): v for k, v in headers.items()}
    until: datetime | None = None
    reset = (h.get("x-ratelimit-reset") or "").strip()
    if reset:
        try:
            parsed = datetime.fromisoformat(reset)
            until = parsed if parsed.tzinfo else None
        except ValueError:
            until = None
    after = (h.get("retry-after") or "").strip()
    if until is None and after.isdigit():
        until = now + timedelta(seconds=int(after))
    if until is None:
        until = now + timedelta(seconds=DEFAULT_HOLD)
    return min(max(until, now), now + timedelta(seconds=MAX_HOLD))


def _detail(body: bytes) -> str:
    try:
        parsed = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(parsed, dict):
        return str(parsed.get("error") or json.dumps(parsed, ensure_ascii=False))[:200]
    return ""
