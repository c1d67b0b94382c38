"""The accounts' CAP feeds as the HTTP endpoint serves them: read from the store, so that every
node serves the same feed, whichever node published an alert and whichever is still alive.

An alert is in its account's feed once the account's `feed:` delivery is sent; its document
name is that delivery's remote id (warnd.cap.alert_file_name), so the file copy on the
publishing node and the served feed name each alert alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from warnd.cap import INDEX, Document, Feed, FeedLinks, atom, document, feed_links
from warnd.channels.cap_feed import declared_feeds
from warnd.clock import Clock, SystemClock
from warnd.config.schema import ConfigFile
from warnd.model import Target
from warnd.store.issued import IssuedWarnings
from warnd.store.outbox import Outbox

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CapFeeds:
    def __init__(
        self,
        outbox: Outbox,
        feeds: Callable[[], Mapping[str, Feed]],
        clock: Clock | None = None,
        base: Callable[[], str | None] = lambda: None,
    ) -> None:
        """`feeds`: the running config's CAP feeds (each names its account, title and length).
        `clock`: dates an index that has no alert (the system's time when not given). `base`:
        the public base URL the feeds are served under when a WebSub hub pushes them (each
        index then names its canonical URL and its hub); None: relative links only."""
        self._base = base
        # The feeds are what the outbox published, read on its own connection.
        self._published = IssuedWarnings(outbox.conn)
        self._declared = feeds
        self._clock = clock or SystemClock()
        # The index is rebuilt only when its alerts change: partners poll it far more often
        # than alerts are issued.
        self._index: dict[str, tuple[tuple[str, ...], str, FeedLinks | None, Document]] = {}

    @classmethod
    def of_config(cls, outbox: Outbox, config: Callable[[], ConfigFile], clock: Clock) -> CapFeeds:
        """The feeds that the running config (`config`, read at each request, so a reload
        applies) declares."""
        return cls(outbox, lambda: declared_feeds(config()), clock, lambda: config().websub_base)

    def _feeds(self) -> dict[str, Feed]:
        return {f.account: f for f in self._declared().values()}

    def accounts(self) -> list[str]:
        return sorted(self._feeds())

    def get(self, account: str, name: str) -> Document | None:
        """One document of a feed, or None when the account or the alert is not known.
        DatabaseError when the store cannot be read."""
        feed = self._feeds().get(account)
        if feed is None:
            return None
        target, title = Target.feed(account), feed.title
        if name == INDEX:
            alerts = self._published.published(target, feed.entries)
            key = tuple(a.name for a in alerts)
            base = self._base()
            links = feed_links(base, account) if base is not None else None
            cached = self._index.get(account)
            if cached is not None and cached[:3] == (key, title, links):
                return cached[3]
            modified = max((a.sent_at for a in alerts), default=_EPOCH)
            body = atom(account, title, ((a.name, a.cap.encode()) for a in alerts), now=self._clock.now(), links=links)
            doc = document(body, modified, "atom")
            self._index[account] = (key, title, links, doc)
            return doc
        alert = self._published.published_alert(target, name)
        return document(alert.cap.encode(), alert.sent_at, "cap") if alert else None
