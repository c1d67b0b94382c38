"""What a platform's answer means to warnd: a row of a channel's answer table (`x_answers`,
`telegram_answers`, `mastodon_answers`, `bluesky_answers`), each a status (or a range, or any)
and what the body must say, first match wins. Each channel keeps its own table and its own
acts; the matching is the same for all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

A = TypeVar("A", bound=StrEnum)

# A row's `body` for an answer the channel could not read (an HTML error page, a cut-off or
# non-JSON body): the platform's own verdict is missing.
UNREADABLE = None


@dataclass(frozen=True, slots=True)
class Row(Generic[A]):
    # One status, a range of them, or None for any.
    status: int | range | None
    # What the readable body must say, or UNREADABLE. Contained in the body's lower-case text
    # ("" for any body, readable or not), or, with `exact`, equal to it (an error's name; "" for
    # any readable one).
    body: str | None
    act: A
    reason: str
    exact: bool = False

    def matches(self, status: int, text: str | None) -> bool:
        if isinstance(self.status, int) and status != self.status:
            return False
        if isinstance(self.status, range) and status not in self.status:
            return False
        if self.body is UNREADABLE:
            return text is None
        if not self.body:
            return text is not None or not self.exact
        if text is None:
            return False
        return self.body == text if self.exact else self.body in text


def first(rows: Sequence[Row[A]], status: int, text: str | None) -> Row[A]:
    """The first row of a table that matches the answer (every table ends with a row for any)."""
    return next(r for r in rows if r.matches(status, text))
