"""The accounts' CAP feeds as the HTTP endpoint serves them: read from the store, so that every
node serves the same feed, whichever node published an alert and whichever is still alive.

An alert is in its account's feed once the account's `feed:` delivery is sent; its document
name is that delivery's remote id (channels.cap_feed.alert_file_name), so the file copy on the
publishing node and the served feed name each alert alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from warnd.channels.base import Sender
from warnd.channels.cap_feed import INDEX, CapFeedSender, atom
from warnd.store.issued import IssuedWarnings
from warnd.store.outbox import Outbox

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    etag: str
    modified: datetime
    kind: str  # "atom" | "cap"


def _document(body: bytes, modified: datetime, kind: str) -> Document:
    return Document(body, hashlib.sha256(body).hexdigest()[:32], modified, kind)


class CapFeeds:
    def __init__(self, outbox: Outbox, senders: Callable[[], Mapping[str, Sender]]) -> None:
        """`senders`: the running config's; each account's feed sender gives its title and length."""
        # The feeds are what the outbox published, read on its own connection.
        self._published = IssuedWarnings(outbox.conn)
        self._senders = senders
        # The index is rebuilt only when its alerts change: partners poll it far more often
        # than alerts are issued.
        self._index: dict[str, tuple[tuple[str, ...], str, Document]] = {}

    def _feeds(self) -> dict[str, CapFeedSender]:
        return {s.account: s for s in self._senders().values() if isinstance(s, CapFeedSender)}

    def accounts(self) -> list[str]:
        return sorted(self._feeds())

    def get(self, account: str, name: str) -> Document | None:
        """One document of a feed, or None when the account or the alert is not known.
        DatabaseError when the store cannot be read."""
        feed = self._feeds().get(account)
        if feed is None:
            return None
        target, title = feed.target, feed.title
        if name == INDEX:
            alerts = self._published.published(target, feed.entries)
            key = tuple(a.name for a in alerts)
            cached = self._index.get(account)
            if cached is not None and cached[:2] == (key, title):
                return cached[2]
            modified = max((a.sent_at for a in alerts), default=_EPOCH)
            doc = _document(atom(account, title, ((a.name, a.cap.encode()) for a in alerts)), modified, "atom")
            self._index[account] = (key, title, doc)
            return doc
        alert = self._published.published_alert(target, name)
        return _document(alert.cap.encode(), alert.sent_at, "cap") if alert else None
