"""What a Bluesky PDS's answers mean: status and XRPC error name judged together by one table
(BSKY_ANSWERS), and the rate-limit headers (ratelimit-limit / -remaining / -reset, the reset in
Unix seconds) read into how long the account waits.

An XRPC error body is JSON: {"error": "<Name>", "message": "<text>"}. A body that is not (an HTML
page from a proxy, an answer cut off) is no verdict of the PDS and is tried again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from warnd.channels.answers import UNREADABLE, Row, first
from warnd.channels.base import retry_after
from warnd.errors import DeliveryError, Failure

# Without any reset header the PDS gave no hint: wait a minute rather than hammer it.
DEFAULT_HOLD = 60.0


class Act(StrEnum):
    """What warnd does with an answer from the PDS."""

    HOLD = "hold"  # the account waits for the reset the PDS announced
    REFRESH = "refresh"  # the access token expired: refresh the session and send again
    DISABLE = "disable"  # the app password or account is refused: disabled with a notice
    LOOKUP = "lookup"  # may have been taken (or the record exists): read it back by rkey
    RETRY = "retry"  # the retry rule (backoff, give-up time)
    DEAD = "dead"  # final: dead-lettered with a notice


# The PDS's answers and what warnd does, first match wins. The table in
# docs/operator/configure.md (Bluesky) is this one.
def _named(status: int | range | None, error: str | None, act: Act, reason: str) -> Row[Act]:
    """A row matched on the XRPC error's name, whole."""
    return Row(status, error, act, reason, exact=True)


BSKY_ANSWERS: tuple[Row[Act], ...] = (
    _named(429, "", Act.HOLD, "Bluesky rate limit"),
    _named(429, UNREADABLE, Act.HOLD, "Bluesky rate limit"),
    # The access JWT lives minutes; the PDS says so with ExpiredToken (400 on the reference PDS,
    # 401 on others). An InvalidToken may be a token the PDS rotated away: a new session decides.
    _named(None, "ExpiredToken", Act.REFRESH, "Bluesky access token expired"),
    _named(None, "InvalidToken", Act.REFRESH, "Bluesky token not accepted"),
    _named(None, "AccountTakedown", Act.DISABLE, "Bluesky account taken down"),
    _named(None, "AccountDeactivated", Act.DISABLE, "Bluesky account deactivated"),
    _named(None, "AuthFactorTokenRequired", Act.DISABLE, "Bluesky asks for a second factor: use an app password"),
    _named(401, "", Act.DISABLE, "Bluesky refused the app password"),
    _named(403, "", Act.DISABLE, "Bluesky refused the account"),
    # Not the PDS's verdict: nothing about the account or the post is known.
    _named(None, UNREADABLE, Act.RETRY, "Bluesky answered with an unreadable body"),
    # A create of an rkey that exists answers 500 on today's PDS; a newer one names it. The
    # record is read back: the same text is this post, delivered earlier.
    _named(None, "RecordAlreadyExists", Act.LOOKUP, "Bluesky has a record with this key"),
    _named(408, "", Act.RETRY, "Bluesky request timeout"),
    _named(range(500, 600), "", Act.LOOKUP, "Bluesky server error"),
    _named(range(400, 500), "", Act.DEAD, "Bluesky refused the request"),
    _named(None, "", Act.RETRY, "Bluesky answered an unexpected status"),
)


def error_name(body: bytes | None) -> tuple[str | None, str]:
    """(the XRPC error name, or None when the body is no XRPC error; its message)."""
    try:
        parsed = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, ""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("error"), str):
        return None, ""
    return parsed["error"], str(parsed.get("message") or "")[:200]


def judge(status: int, body: bytes | None) -> Row[Act]:
    """The row of BSKY_ANSWERS for this answer."""
    name, _ = error_name(body)
    return first(BSKY_ANSWERS, status, name)


_FAILURE = {
    Act.HOLD: Failure.RATE_LIMITED,
    # Still refused as expired after a fresh session: the PDS's own trouble (a clock, a
    # rotation), not the app password, which createSession judges: retried, never disabled.
    Act.REFRESH: Failure.SERVER_ERROR,
    Act.DISABLE: Failure.AUTH,
    Act.LOOKUP: Failure.SERVER_ERROR,
    Act.RETRY: Failure.SERVER_ERROR,
    Act.DEAD: Failure.BAD_REQUEST,
}


def classify(status: int, body: bytes | None, headers: Any, now: datetime, what: str) -> DeliveryError:
    """The DeliveryError for an answer that is not a success, as BSKY_ANSWERS says. `what`
    names the request (createRecord, createSession) for the message."""
    row = judge(status, body)
    name, message = error_name(body)
    detail = f"{row.reason} ({what}: {status}{' ' + name if name else ''}){': ' + message if message else ''}"
    failure = _FAILURE[row.act]
    if row.act is Act.HOLD:
        return DeliveryError(detail, failure, hold_until=hold(headers, now))
    if row.act is Act.DISABLE:
        return DeliveryError(
            detail,
            failure,
            notice="operator action needed: Bluesky refused this account's app password or the account;"
            " create a new app password (Settings > Privacy and security > App passwords) and store it",
        )
    # A server error is the PDS not processing the request: not counted against the budget.
    return DeliveryError(detail, failure, spent=not 500 <= status < 600)


def hold(headers: Any, now: datetime) -> datetime:
    """Until when the account waits after a 429: the PDS's ratelimit-reset (Unix seconds),
    else Retry-After, else a minute."""
    reset = headers.get("ratelimit-reset")
    try:
        when = datetime.fromtimestamp(int(str(reset).strip()), UTC) if reset is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        when = None
    if when is None:
        when = retry_after({k.lower(): v for k, v in dict(headers).items()}, now)
    if when is None:
        when = now + timedelta(seconds=DEFAULT_HOLD)
    return max(when, now)
