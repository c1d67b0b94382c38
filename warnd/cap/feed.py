"""The CAP feed of one account as documents: each alert under its file name, and an Atom index
of the newest ones with each alert embedded, for partners who poll rather than receive webhooks.
The same documents are filed to disk by the publishing node (channels.cap_feed) and served from
the store by every node (runtime.cap_feeds)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from xml.etree import ElementTree as ET  # building only; parsing is defusedxml

from defusedxml.ElementTree import fromstring

ATOM = "http://www.w3.org/2005/Atom"
CAP = "urn:oasis:names:tc:emergency:cap:1.2"
INDEX = "index.atom"


class Feed(Protocol):
    """What names and bounds an account's feed: its account, its title and how many alerts its
    index lists."""

    @property
    def account(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def entries(self) -> int: ...


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """An account's CAP feed as the configuration declares it."""

    account: str
    title: str
    entries: int


def feed_title(account_name: str) -> str:
    """The title of the feed of the account shown as `account_name`."""
    return f"{account_name}: warnd CAP feed"


def alert_file_name(identifier: str, sent: datetime) -> str:
    """The document name of an alert in its feed: by time first, so that names sort by time."""
    stamp = sent.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9._-]', '_', identifier)}.xml"


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """Where a served feed lives and which WebSub hub pushes it (W3C WebSub 4: discovery)."""

    topic: str  # the feed's canonical URL: its rel="self", the topic subscribers name
    hub: str

    @property
    def folder(self) -> str:
        """The URL its alert documents are named under."""
        return self.topic.rpartition("/")[0] + "/"


HUB_PATH = "/websub"


def feed_links(base: str, account: str) -> FeedLinks:
    """The links of `account`'s feed served under the public base URL `base`."""
    return FeedLinks(f"{base}/cap/{account}/{INDEX}", base + HUB_PATH)


def atom(
    account: str,
    title: str,
    alerts: Iterable[tuple[str, bytes]],
    *,
    now: datetime,
    links: FeedLinks | None = None,
) -> bytes:
    """The Atom index of an account's CAP feed: each alert (its document name, its CAP text),
    newest first, embedded whole and linked by name. `now`: the feed's time when it has no
    alert to date it. `links`: the feed's canonical URL and hub, named by absolute URLs (its
    alerts' links too); without, the feed links itself and its alerts relatively."""
    ET.register_namespace("", ATOM)
    ET.register_namespace("cap", CAP)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:warnd:cap-feed:{account}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    updated = ET.SubElement(feed, f"{{{ATOM}}}updated")
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "warnd"
    if links is None:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=INDEX)
    else:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=links.topic)
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="hub", href=links.hub)
    folder = links.folder if links is not None else ""
    newest = ""
    for name, text in alerts:
        try:
            alert = fromstring(text)
        except Exception:  # noqa: S112 (a damaged document must not take the feed down)
            continue
        ident = alert.findtext(f"{{{CAP}}}identifier") or name.removesuffix(".xml")
        sent = alert.findtext(f"{{{CAP}}}sent") or ""
        newest = max(newest, sent)
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:warnd:cap:{ident}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = alert.findtext(f"{{{CAP}}}info/{{{CAP}}}headline") or ident
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = sent
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="application/cap+xml", href=folder + name)
        content = ET.SubElement(entry, f"{{{ATOM}}}content", type="application/cap+xml")
        content.append(alert)
    updated.text = newest or now.astimezone(UTC).replace(microsecond=0).isoformat()
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


@dataclass(frozen=True, slots=True)
class Document:
    """A feed's document as it is served: its body, an entity tag for conditional requests,
    when it last changed, and what it is."""

    body: bytes
    etag: str
    modified: datetime
    kind: str  # "atom" | "cap"


def document(body: bytes, modified: datetime, kind: str) -> Document:
    return Document(body, hashlib.sha256(body).hexdigest()[:32], modified, kind)
