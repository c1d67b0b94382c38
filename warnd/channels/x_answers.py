"""What X's answers mean: the status and body of each refusal judged by one table (X_ANSWERS),
and the rate-limit headers read into how long an account, or the whole app, waits.

X is judged by status and body together, not by the status alone: a 402 (the app's credits
spent) holds every account, a 403 differs by its message (a deleted parent, duplicate content,
a suspended account). The X channel (warnd.channels.x) turns tweepy's errors into the
DeliveryError that `classify` makes of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import tweepy

from warnd.channels.answers import UNREADABLE, Row, first
from warnd.errors import DeliveryError, Failure

# Without any reset header X gave no hint: wait a minute rather than hammer it.
DEFAULT_HOLD = 60.0


class Act(StrEnum):
    """What warnd does with an answer from X."""

    HOLD_APP = "hold_app"  # every account of the app waits; nothing is dead-lettered
    HOLD = "hold"  # this account waits for the reset X announced
    ALONE = "alone"  # the post being answered is gone: post without the reply
    DUPLICATE = "duplicate"  # judged part by part against the outbox (XSender.send)
    DISABLE = "disable"  # the credential or account is refused: disable with a notice
    RETRY = "retry"  # the retry rule (backoff, give-up time)
    DEAD = "dead"  # final: dead-lettered with a notice


_GONE = "reply to a tweet that is deleted or not visible"

# X's answers and what warnd does, first match wins. The table of X answers in docs/operator/configure.md is this one.
X_ANSWERS: tuple[Row[Act], ...] = (
    # The app's pay-per-use credits are spent (problem title "CreditsDepleted"). Every account
    # posts on the app's credits, so every one waits; matched on the status alone, since the
    # body is not documented and an unreadable one means the same.
    Row(402, "", Act.HOLD_APP, "X credits exhausted"),
    Row(429, "", Act.HOLD, "X rate limit"),
    Row(401, "", Act.DISABLE, "X refused the credential"),
    Row(403, _GONE, Act.ALONE, "the post being answered is deleted or not visible"),
    Row(403, "duplicate content", Act.DUPLICATE, "X refused duplicate content"),
    Row(403, "suspended", Act.DISABLE, "X account suspended"),
    Row(403, "not permitted to perform this action", Act.DISABLE, "X does not permit this account to post"),
    # Not X's own verdict (a proxy's or load balancer's page, an answer cut off): nothing about
    # the account or the warning is known, so it is tried again.
    Row(None, UNREADABLE, Act.RETRY, "X answered with an unreadable body"),
    Row(403, "", Act.DISABLE, "X refused the account"),
    Row(408, "", Act.RETRY, "X request timeout"),
    Row(range(500, 600), "", Act.RETRY, "X server error"),
    Row(range(400, 500), "", Act.DEAD, "X refused the request"),
    Row(None, "", Act.RETRY, "X answered an unexpected status"),
)

# How long every account waits when the app's credits are spent and X names no reset: long
# enough not to pay for refusals, short enough that a top-up is used soon.
CREDITS_HOLD = 900.0

_FAILURE = {
    Act.HOLD_APP: Failure.RATE_LIMITED,
    Act.HOLD: Failure.RATE_LIMITED,
    Act.ALONE: Failure.BAD_REQUEST,
    Act.DUPLICATE: Failure.DUPLICATE,
    Act.DISABLE: Failure.AUTH,
    Act.RETRY: Failure.SERVER_ERROR,
    Act.DEAD: Failure.BAD_REQUEST,
}


class ParentGone(DeliveryError):
    """The post a reply answers is deleted or not visible: the reply can go out on its own."""


def judge(status: int, body: bytes | str | None) -> Row[Act]:
    """The row of X_ANSWERS for this answer."""
    text: str | None
    try:
        parsed = json.loads(body or b"")
        text = json.dumps(parsed).lower() if isinstance(parsed, dict) else None
    except (ValueError, UnicodeDecodeError):
        text = None
    return first(X_ANSWERS, status, text)


def classify(e: tweepy.HTTPException, now: datetime) -> DeliveryError:
    """The DeliveryError for an answer of X that is not a success, as X_ANSWERS says."""
    response = e.response
    status = int(getattr(response, "status_code", 0) or 0)
    row = judge(status, getattr(response, "content", None))
    messages = [str(m) for m in (e.api_messages or [])]
    detail = "; ".join(messages)[:200] or _body_detail(response)
    failure = _FAILURE[row.act]
    message = f"{row.reason} ({status}): {detail}"
    if row.act is Act.DUPLICATE:
        return DeliveryError("X refused duplicate content", failure)
    if row.act is Act.ALONE:
        return ParentGone(message, failure)
    if row.act is Act.HOLD:
        hold, app_hold = holds(response.headers, now)
        return DeliveryError(message, failure, hold_until=hold, app_hold_until=app_hold)
    if row.act is Act.HOLD_APP:
        reset = _epoch(response.headers, "x-rate-limit-reset")
        until = reset if reset is not None and reset > now else now + timedelta(seconds=CREDITS_HOLD)
        return DeliveryError(
            message,
            failure,
            app_hold_until=until,
            notice=f"operator action needed: the X app's credits are spent; every X account waits until"
            f" {until.isoformat()} and then tries again (top up credits in the X Developer Console)",
        )
    # A server error is X not processing the post (its edge or a backend down): the request is
    # not counted against the posting budget. X may still have taken it (runtime.outcomes keeps
    # that possibility for duplicate detection); should it have counted, X's own 429 and its
    # announced reset stop the account, as for any limit X enforces.
    return DeliveryError(message, failure, spent=not 500 <= status < 600)


def holds(headers: Any, now: datetime) -> tuple[datetime, datetime | None]:
    """(hold this account until, hold the whole app until): the latest of the 15-minute and
    24-hour resets X announced; the app is held only when its own 24-hour budget is spent."""

    def epoch(name: str) -> datetime | None:
        return _epoch(headers, name)

    def spent(name: str) -> bool:
        return str(headers.get(name, "")).strip() == "0"

    resets = [r for r in (epoch("x-rate-limit-reset"),) if r]
    if spent("x-user-limit-24hour-remaining"):
        resets += [r for r in (epoch("x-user-limit-24hour-reset"),) if r]
    app = epoch("x-app-limit-24hour-reset") if spent("x-app-limit-24hour-remaining") else None
    if app:
        resets.append(app)
    hold = max(resets) if resets else now + timedelta(seconds=DEFAULT_HOLD)
    return max(hold, now), app


def _epoch(headers: Any, name: str) -> datetime | None:
    value = headers.get(name)
    try:
        return datetime.fromtimestamp(int(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _body_detail(response: Any) -> str:
    try:
        body = response.json()
    except (ValueError, AttributeError):
        return str(getattr(response, "reason", "") or "")[:200]
    return json.dumps(body)[:200]
