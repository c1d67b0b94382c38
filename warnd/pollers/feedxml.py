"""RSS 2.0 and Atom, read with namespaces kept, for the formats that arrive as syndication
feeds (GDACS, CAP indexes). Elements are addressed by local name so that a feed that declares
its namespaces differently still reads the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from warnd.pollers.document import local_name


def entries(root: Element) -> Iterator[Element]:
    """RSS <item>s or Atom <entry>s, in document order."""
    name = local_name(root.tag).lower()
    if name == "rss":
        for channel in root:
            if local_name(channel.tag).lower() == "channel":
                yield from (el for el in channel if local_name(el.tag).lower() == "item")
    elif name == "feed":
        yield from (el for el in root if local_name(el.tag).lower() == "entry")
    elif name == "rdf":
        yield from (el for el in root if local_name(el.tag).lower() == "item")


def is_feed(root: Element) -> bool:
    return local_name(root.tag).lower() in ("rss", "feed", "rdf")


def child(el: Element, name: str, ns_hint: str | None = None) -> Element | None:
    """The first child with this local name (and, if given, a namespace containing ns_hint)."""
    for c in el:
        if local_name(c.tag) == name and (ns_hint is None or ns_hint in c.tag):
            return c
    return None


def text(el: Element, name: str, ns_hint: str | None = None) -> str | None:
    c = child(el, name, ns_hint)
    if c is None or c.text is None:
        return None
    return c.text.strip() or None


def link(entry: Element) -> str | None:
    """RSS <link>text</link> or Atom <link href=... rel=alternate|none>."""
    for c in entry:
        if local_name(c.tag) != "link":
            continue
        if c.text and c.text.strip():
            return c.text.strip()
        href = c.get("href")
        if href and c.get("rel", "alternate") in ("alternate", "related"):
            return href.strip()
    return None


def rfc822(raw: str | None) -> datetime | None:
    """'Sun, 29 Dec 2019 12:00:00 GMT' or an ISO 8601 time, as UTC; None if unreadable."""
    if not raw:
        return None
    try:
        t = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)
