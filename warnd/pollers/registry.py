"""Feed format name -> parser. Adding a format is one module with `FORMAT` and a `parse`
function, and one line here."""

from __future__ import annotations

from collections.abc import Callable

from warnd.errors import FeedError
from warnd.model import ParseResult, Source
from warnd.pollers import (
    bmkg,
    bmkg_realtime,
    cap,
    dsda_history,
    dsda_xml,
    gauge_geojson,
    gdacs,
    inatews,
    jakarta_csv,
    nwis,
    petabencana,
    usgs,
)

Parser = Callable[[bytes, Source], ParseResult]

FORMATS: dict[str, Parser] = {
    bmkg.FORMAT: bmkg.parse,
    inatews.FORMAT: inatews.parse,
    bmkg_realtime.FORMAT: bmkg_realtime.parse,
    usgs.FORMAT: usgs.parse,
    gdacs.FORMAT: gdacs.parse,
    cap.FORMAT: cap.parse,
    dsda_xml.FORMAT: dsda_xml.parse,
    dsda_history.FORMAT: dsda_history.parse,
    jakarta_csv.FORMAT: jakarta_csv.parse,
    nwis.FORMAT: nwis.parse,
    petabencana.FORMAT: petabencana.parse,
    gauge_geojson.FORMAT: gauge_geojson.parse,
}


def parser_for(name: str) -> Parser | None:
    return FORMATS.get(name)


def detect(data: bytes, src: Source) -> tuple[str, ParseResult]:
    """Try every format, for `warnd events` on files of unknown origin: the first that yields
    events wins, else the first that reads the document without refusing it."""
    errors: list[str] = []
    fallback: tuple[str, ParseResult] | None = None
    for name, parse in FORMATS.items():
        try:
            result = parse(data, src)
        except FeedError as e:
            errors.append(f"{name}: {e.message}")
            continue
        if result.events or result.links:
            return name, result
        if fallback is None:
            fallback = (name, result)
    if fallback is not None:
        return fallback
    raise FeedError(src.feed, "no known format reads this document (" + "; ".join(errors) + ")")
