"""Feed format name -> parser. Adding a format is one module with a `parse` function and one
line here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from warnd.errors import FeedError
from warnd.model import ParseResult
from warnd.pollers import bmkg

Parser = Callable[[bytes, str, datetime], ParseResult]

FORMATS: dict[str, Parser] = {
    bmkg.FORMAT: bmkg.parse,
}


def parser_for(name: str) -> Parser | None:
    return FORMATS.get(name)


def detect(data: bytes, feed: str, now: datetime) -> tuple[str, ParseResult]:
    """Try every format; the first that yields events (or at least does not refuse the
    document) wins. For `warnd events` on files of unknown origin."""
    errors = []
    for name, parse in FORMATS.items():
        try:
            return name, parse(data, feed, now)
        except FeedError as e:
            errors.append(f"{name}: {e.message}")
    raise FeedError(feed, "no known format reads this document (" + "; ".join(errors) + ")")
