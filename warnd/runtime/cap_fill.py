"""Each automatic warning's CAP 1.2 document, made after the warning is committed.

A warning's polygons are its regions' outlines, simplified the first time a region is warned
(geo.outlines: milliseconds a region, tens of them for a large quake): made inside the ingest's
transaction they held the text post back by that much. So the ingest commits the warning and
its deliveries with `cap_pending` set, the dispatcher is woken and the text posts go, and the
CAP document is made here, once those posts were attempted (at most a second later), off the
event loop and off the store's thread, and stored; the deliveries that carry CAP (CAP feeds,
WebSub pushes, partners who take CAP) wait for it, the others do not.

Nothing is lost when a node stops between the two: every node looks, every few seconds, for
warnings left without their document a while and makes it from the rows the warning was
stored with (its event, the account's earlier warnings about it): the same document, since
every part of it comes from those rows and the configuration. A document that cannot be made
(a fault in the making) is stored empty, logged and counted: the deliveries that wait for it
go as they would for a warning without one (a CAP partner gets JSON), never held for ever.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from warnd.clock import Clock
from warnd.metrics import Metrics
from warnd.model import HazardEvent, Warning
from warnd.obs import get_logger
from warnd.pipeline.issue import CapOrder, Desk, make_cap
from warnd.runtime.build import Bundle
from warnd.runtime.ingest import issue_desk
from warnd.runtime.rounds import Rounds
from warnd.store.backend import Database, Row
from warnd.store.issued import IssuedWarnings
from warnd.store.outbox import Outbox
from warnd.store.worker import StoreWorker

log = get_logger("warnd.cap_fill")

# A warning this long without its document is taken as left behind by a node that stopped (its
# own fill, right after the commit, takes well under a second); making it twice does no harm.
LEFT_AFTER = timedelta(seconds=20)
EVERY = 5.0
# How long the documents wait for their warnings' text posts to be attempted first (a held lane
# never holds them longer): on two cores and one interpreter, making polygons beside a post
# slowed the post by tens of milliseconds.
AFTER_TEXT = 1.0


class CapFill(Rounds):
    def __init__(
        self,
        conn: Database,
        store: StoreWorker,
        clock: Clock,
        bundle: Callable[[], Bundle],
        metrics: Metrics,
        on_made: Callable[[], None],
        every: float = EVERY,
        after_text: Callable[[set[str], float], Awaitable[None]] | None = None,
    ) -> None:
        """`on_made`: the documents are stored (the dispatcher's lanes that wait for them go).
        `after_text(warning ids, seconds)`: returns once those warnings' account posts were
        attempted, or the seconds passed (Dispatcher.posted)."""
        super().__init__(every)
        self.after_text = after_text
        # The fills under way, which a stop waits for (`finish`).
        self.pending: set[asyncio.Future[None]] = set()
        self.conn = conn
        self.store = store
        self.clock = clock
        self.bundle = bundle
        self.metrics = metrics
        self.on_made = on_made
        self.outbox = Outbox(conn)
        self.issued = IssuedWarnings(conn)
        self._first = True

    def soon(self, orders: Sequence[CapOrder]) -> None:
        """On the loop: make the documents of warnings just committed, without holding the poll
        that committed them (its feed's next poll does not wait for them)."""
        if not orders:
            return
        task = asyncio.ensure_future(self.fill(orders))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def finish(self, timeout: float) -> None:
        """At stop: the documents under way are made (what is cut off, the next start makes)."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)

    async def fill(self, orders: Sequence[CapOrder], *, after_text: bool = True) -> None:
        """Make and store the documents of warnings just committed, once their text posts have
        gone (`after_text`; at most AFTER_TEXT seconds later)."""
        if not orders:
            return
        if after_text and self.after_text is not None:
            await self.after_text({o.warning.id for o in orders}, AFTER_TEXT)
        try:
            desk = issue_desk(self.bundle())
            made = await asyncio.to_thread(self._make, orders, desk)
            await self.store.run(self.outbox.fill_caps, made)
        except Exception as e:
            # The store refused (a held lock, a lost connection): the documents are made again
            # by a later round, from the rows.
            log.error("cap.fill_failed", warnings=len(orders), error=repr(e))
            return
        self.on_made()

    def _make(self, orders: Sequence[CapOrder], desk: Desk) -> list[tuple[str, str]]:
        out = []
        for o in orders:
            try:
                cap = make_cap(o, desk)
            except Exception as e:
                log.exception(
                    "cap.failed",
                    event_id=o.warning.event_id,
                    warning_id=o.warning.id,
                    error=repr(e),
                    detail="its CAP feed entry, WebSub push and CAP webhooks go without a CAP document",
                )
                self.metrics.cap_failed.inc()
                cap = ""
            out.append((o.warning.id, cap))
        return out

    async def round(self) -> None:
        """The documents of warnings left without one: at start, every one (the node that
        committed them stopped); later, those left a while."""
        try:
            before = self.clock.now() - (timedelta(0) if self._first else LEFT_AFTER)
            orders = await self.store.run(self._left, before)
            self._first = False
            if orders:
                log.warning(
                    "cap.left_behind",
                    warnings=len(orders),
                    detail="CAP documents not made after their commit (a node stopped): made now",
                )
                await self.fill(orders, after_text=False)
        except Exception as e:
            # Looked at again next round; a warning's text posts never wait for this.
            log.error("cap.fill_failed", error=repr(e))

    def _left(self, before: datetime) -> list[CapOrder]:
        """On the store's thread: the warnings waiting for a document, as orders made from their
        rows."""
        orders = []
        for row in self.outbox.caps_pending(before):
            order = self._order(row)
            if order is not None:
                orders.append(order)
        return orders

    def _order(self, row: Row) -> CapOrder | None:
        warning = Warning.from_text(row["data"])
        stored = json.loads(row["event"] or "{}")
        if not stored:
            # Nothing to make it from (a row written without its event): stored empty.
            self.outbox.fill_caps([(warning.id, "")])
            return None
        earlier = []
        for w in self.issued.warnings(row["event_id"], row["account"]):
            if w.id == warning.id:
                break
            earlier.append(w)
        return CapOrder(
            warning, HazardEvent.from_json(stored), tuple(earlier), stored.get("attribution"), stored.get("map_alt")
        )
