"""Every error warnd raises on purpose.

    WarndError
    ├── ConfigError          a config, rules, regions or template file is wrong; carries every
    │                        Problem found (file, line, key path, message). Exit code 2.
    ├── FeedError            a feed document or fetch failed as a whole (network, HTTP status,
    │   │                    size cap, deadline, unparseable document). Never stops the daemon;
    │   │                    updates that feed's health and never touches the ledger.
    │   └── FetchError       the fetch itself failed (before any parsing)
    ├── OperatorError        what an operator asked for (a console action, a bulletin) cannot be
    │                        done as asked: the message says which field and why; an HTTP
    │                        answer's status (400, 404 for what no longer exists, 409).
    ├── DeliveryError        a channel could not deliver a warning; carries the Failure it was
    │                        classified as (rate limited, server error, network: retried; auth:
    │                        the target is disabled; bad request: dead-lettered) and, for rate
    │                        limits, until when the target (or the whole app) must hold.
    └── StoreError           the state database cannot be used as it is (damaged, truncated,
        │                    not a database, newer than this warnd). Exit code 4: a restart
        │                    would not help.
        └── StoreUnavailable the database server cannot be reached or refused the connection.
                             Exit code 1: a restart may well help.

Single bad items inside a good document are not exceptions: parsers return them as
`model.Rejected` values beside the events, so the rest of the document still comes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Failure(StrEnum):
    """Why a delivery attempt did not succeed: the closed set every channel classifies into."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    NETWORK = "network"
    AUTH = "auth"
    DUPLICATE = "duplicate"
    BAD_REQUEST = "bad_request"

    @property
    def retryable(self) -> bool:
        return self in (Failure.RATE_LIMITED, Failure.SERVER_ERROR, Failure.NETWORK)


class WarndError(Exception):
    """Base of every error warnd raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(WarndError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class OperatorError(WarndError):
    def __init__(self, message: str, status: int = 400) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


class FeedError(WarndError):
    def __init__(self, feed: str, message: str) -> None:
        self.feed = feed
        self.message = message
        super().__init__(f"feed {feed}: {message}")


class FetchError(FeedError):
    pass


class DeliveryError(WarndError):
    def __init__(
        self,
        message: str,
        failure: Failure,
        *,
        hold_until: datetime | None = None,
        app_hold_until: datetime | None = None,
        notice: str | None = None,
        spent: bool = True,
    ) -> None:
        self.failure = failure
        # False when the platform cannot have counted the request against its limits: no
        # connection was made, or it answered with a server error. A posting budget gets that
        # request back (runtime.outcomes); a request that may have been taken keeps its count.
        self.spent = spent
        # For the operator, once, when the hold it starts is new (not for every delivery it stops).
        self.notice = notice
        self.hold_until = hold_until
        self.app_hold_until = app_hold_until
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return self.failure.retryable


class StoreError(WarndError):
    """The state database is damaged or is not one: warnd stops rather than start a new, empty
    store beside the old (which would forget every warning and post them all again)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached or refused the connection: unlike a damaged store,
    a restart may well help (the server comes back), so the exit code lets systemd restart."""
