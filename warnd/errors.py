"""Every error warnd raises on purpose.

    WarndError
    ├── ConfigError          a config, rules, regions or template file is wrong; carries every
    │                        Problem found (file, line, key path, message). Exit code 2.
    ├── FeedError            a feed document or fetch failed as a whole (network, HTTP status,
    │   │                    size cap, deadline, unparseable document). Never stops the daemon;
    │   │                    updates that feed's health and never touches the ledger.
    │   └── FetchError       the fetch itself failed (before any parsing)
    └── DeliveryError        a channel could not deliver a warning
        (retryable: bool)    True: try again later (timeouts, 5xx, 429); False: dead-letter.

Single bad items inside a good document are not exceptions: parsers return them as
`model.Rejected` values beside the events, so the rest of the document still comes through.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class FeedError(WarndError):
    def __init__(self, feed: str, message: str) -> None:
        self.feed = feed
        self.message = message
        super().__init__(f"feed {feed}: {message}")


class FetchError(FeedError):
    pass


class DeliveryError(WarndError):
    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)
