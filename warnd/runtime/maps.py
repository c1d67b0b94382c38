"""Each warning's map, made beside its text post and never in its way.

A warning's map is drawn (warnd.maps) on a thread of its own once the ingest transaction has
committed the warning, then stored (store.maps), from where every node serves it and a sender
attaches it. The dispatcher is woken as before: it does not wait for the drawing. A sender that
shows images gets a `Pictures` for the delivery and waits for the map at most its budget.

A map is a nicety: a drawing or a store write that fails is logged (`map.failed`) and counted,
and the post goes without it. Cancels and all-clears get none: there is nothing to colour.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from warnd.channels.base import Picture, Pictures
from warnd.clock import Clock
from warnd.config.schema import MapsSettings
from warnd.geo import RegionIndex
from warnd.metrics import Metrics
from warnd.model import Delivery, HazardEvent, Warning, WarningKind, urgency_rank
from warnd.obs import get_logger
from warnd.pipeline.render import Renderer
from warnd.store.backend import Database
from warnd.store.maps import Maps
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.maps")

# Pictures kept in memory for the senders (about 80 kB each): a thread's late-picture reply asks
# again well after the drawing.
KEPT = 32
NO_MAP = (WarningKind.CANCEL, WarningKind.ALL_CLEAR)
# How long a stop waits for the drawings under way.
STOP_WAIT = 2.0
# With `maps.wait: 0` no post waits for its map: the drawing waits instead, until its warning's
# account posts were attempted (at most this long). Drawing is 25 to 100 ms of the interpreter's
# time, which beside the post slowed it by as much (two cores, one lock).
AFTER_TEXT = 1.0


@dataclass(frozen=True, slots=True)
class Drawing:
    """A committed warning to draw, with the match's region notes when they are known (at
    ingest; not after a restart), and the alt text it was issued with, if any: the image then
    says the words partners and the CAP feed were given, after a restart too."""

    warning: Warning
    event: HazardEvent
    notes: Mapping[str, str] = field(default_factory=dict)
    alt: str | None = None


def wanted(warning: Warning) -> bool:
    return warning.kind not in NO_MAP


def in_post_order(drawings: Iterable[Drawing]) -> list[Drawing]:
    """A document's drawings in the order their posts need them. Maps are drawn one at a time,
    and every account's lane starts at once, its next post waiting for its own map: so every
    account's first map is drawn before any account's second, the most urgent first among them.
    In the order issued, a document that warned one account eight times and another once (a
    gauge document, the first poll of a list of quakes) drew the other account's only map last.

    Each account's order is its lane's, as the dispatcher takes it (`Dispatcher._claim` over
    `Outbox.head`): the most urgent, then the oldest; but when that one answers a first post
    still waiting, the first post goes before it. Within one document the first post is the
    account's new warning about the event, issued there; one posted before has gone already, or
    had its map ordered with its own document. A cancel or an all-clear takes its place in the
    lane but needs no map: the account's next map is then needed at once."""
    ds = list(drawings)
    urgency = [urgency_rank(d.warning, d.event.hazard.value) for d in ds]
    first_post: dict[tuple[str, str], int] = {}
    lanes: dict[str, list[int]] = {}
    for i, d in enumerate(ds):
        lanes.setdefault(d.warning.account, []).append(i)
        if d.warning.kind is WarningKind.NEW:
            first_post.setdefault((d.warning.account, d.warning.event_id), i)
    # (turn in its lane, urgency of the post that made it due, issued): the drawing order.
    due: dict[int, tuple[int, int, int]] = {}
    gone: set[int] = set()
    for lane in lanes.values():
        lane.sort(key=lambda i: (urgency[i], i))
        turn, k = 0, 0
        while k < len(lane):
            head = lane[k]
            if head in gone:
                k += 1
                continue
            answered = first_post.get((ds[head].warning.account, ds[head].warning.event_id), head)
            goes = head if answered in gone else answered
            gone.add(goes)
            if wanted(ds[goes].warning):
                due[goes] = (turn, urgency[head], goes)
                turn += 1
    return [ds[i] for i in sorted(range(len(ds)), key=lambda i: due.get(i, (len(ds), 0, i)))]


def _draw(
    event: HazardEvent,
    warning: Warning,
    regions: RegionIndex,
    credit: str,
    notes: Mapping[str, str],
    alt: str | None = None,
) -> tuple[Picture, float]:
    """The picture and the seconds its drawing took (on the thread, not waiting for it)."""
    # Imported here, on the drawing thread: Pillow's import stays off the start-up path.
    from warnd.maps import alt_text, render_map

    started = time.perf_counter()
    png = render_map(event, warning, regions, credit=credit, notes=notes or None)
    picture = Picture(png, alt or alt_text(event, warning, regions, credit=credit, notes=notes or None))
    return picture, time.perf_counter() - started


def _prepare(regions: RegionIndex) -> None:
    from warnd.maps import prepare

    prepare(regions)


class MapMaker:
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        settings: Callable[[], MapsSettings],
        regions: Callable[[], RegionIndex],
        renderer: Callable[[], Renderer],
        metrics: Metrics,
        *,
        store: StoreWorker | None = None,
        threaded: bool = True,
        after_text: Callable[[set[str], float], Awaitable[None]] | None = None,
    ) -> None:
        """`conn`: the daemon's connection (written and read through `store`). `regions` and
        `renderer`: the running bundle's, read at each drawing, so a reload applies.
        `after_text(warning ids, seconds)`: returns once those warnings' account posts were
        attempted, or the seconds passed (the dispatcher's `posted`)."""
        self.after_text = after_text
        self.conn = conn
        self.maps = Maps(conn)
        self.reads = Maps(store.reader) if store is not None and store.reader is not None else self.maps
        self.store = store or inline()
        self.clock = clock
        self.settings = settings
        self.regions = regions
        self.renderer = renderer
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(1, "warnd-maps") if threaded else None
        # Set when a warning's drawing has ended, whether it made a map or not.
        self._making: dict[str, asyncio.Event] = {}
        self._kept: OrderedDict[str, Picture] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- after the ingest commit ---------------------------------------------------------------

    def make(self, drawings: Iterable[Drawing]) -> None:
        """On the loop, once the warnings are committed: each drawn in turn on the maps thread, in
        the order their posts need them."""
        if not self.settings().enabled:
            return
        for d in in_post_order(drawings):
            self._start(d)

    def _start(self, d: Drawing) -> asyncio.Event | None:
        wid = d.warning.id
        if not wanted(d.warning):
            return None
        if wid in self._making:
            return self._making[wid]
        done = self._making[wid] = asyncio.Event()
        task = asyncio.create_task(self._make(d, done), name=f"map-{wid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done

    async def _make(self, d: Drawing, done: asyncio.Event) -> None:
        ids = {"event_id": d.event.id, "warning_id": d.warning.id}
        try:
            if self.after_text is not None and self.settings().wait == 0:
                await self.after_text({d.warning.id}, AFTER_TEXT)
            try:
                regions, credit = self.regions(), self.renderer().credit(d.event)
                picture, took = await self._on_thread(_draw, d.event, d.warning, regions, credit, d.notes, d.alt)
            except Exception as e:
                self._failed(ids, "render", e)
                return
            self.metrics.map_seconds.observe(took)
            self._keep(d.warning.id, picture)
            try:
                await self.store.run(self.maps.put, d.warning.id, picture.png, picture.alt, self.clock.now())
            except Exception as e:
                self._failed(ids, "store", e)
                return
            self.metrics.maps_made.inc()
            log.info("map.made", **ids, ms=round(took * 1000, 1), bytes=len(picture.png))
        finally:
            done.set()
            self._making.pop(d.warning.id, None)

    def _failed(self, ids: dict[str, str], reason: str, e: Exception) -> None:
        self.metrics.maps_failed.labels(reason).inc()
        log.warning(
            "map.failed",
            **ids,
            reason=reason,
            error=f"{type(e).__name__}: {e}",
            detail="the warning's posts go without a map",
        )

    async def _on_thread(self, fn: Callable[..., tuple[Picture, float]], *args: object) -> tuple[Picture, float]:
        if self._pool is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _keep(self, wid: str, picture: Picture) -> None:
        self._kept[wid] = picture
        self._kept.move_to_end(wid)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)

    # --- regions ---------------------------------------------------------------------------------

    def prepare(self, regions: RegionIndex) -> None:
        """Ready a region set's outlines on the maps thread, so the first map after a load or
        reload does not pay for them; the loop goes on meanwhile."""
        if not self.settings().enabled or self._pool is None:
            return
        future = self._pool.submit(_prepare, regions)
        future.add_done_callback(
            lambda f: f.exception() is not None and log.warning("map.prepare_failed", error=repr(f.exception()))
        )

    # --- for the senders -------------------------------------------------------------------------

    def pictures(self, d: Delivery) -> Pictures | None:
        """The map of a delivery's warning, for a sender that shows images; None when it gets none.
        Called on the store's thread: it only builds the handle."""
        if d.event is None or not wanted(d.warning) or not self.settings().enabled:
            return None
        return _Pictures(self, Drawing(d.warning, d.event, alt=d.map_alt))

    async def picture(self, d: Drawing, seconds: float) -> Picture | None:
        """The stored map, the one being drawn when it is ready within `seconds`, or, for a
        warning the store has no map of and nothing is drawing (after a restart), one drawn now."""
        wid = d.warning.id
        kept = self._kept.get(wid)
        if kept is not None:
            return kept
        deadline = time.monotonic() + max(seconds, 0.0)
        done = self._making.get(wid)
        if done is None:
            try:
                stored = await asyncio.wait_for(self.store.read(self.reads.get, wid), max(seconds, 0.0))
            except TimeoutError:
                return None
            except Exception as e:
                log.warning("map.unreadable", event_id=d.event.id, warning_id=wid, error=str(e))
                return None
            if stored is not None:
                picture = Picture(stored.png, stored.alt)
                self._keep(wid, picture)
                return picture
            done = self._start(d)
            if done is None:
                return None
        try:
            await asyncio.wait_for(done.wait(), max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            return None
        return self._kept.get(wid)

    async def stop(self) -> None:
        """Before the store closes: a drawing under way gets a moment to be stored (it takes
        tens of milliseconds); what is left is drawn again when a sender asks after the restart."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_WAIT)
        for task in list(self._tasks):
            task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class _Pictures:
    def __init__(self, maker: MapMaker, drawing: Drawing) -> None:
        self._maker = maker
        self._drawing = drawing

    async def wait(self, seconds: float) -> Picture | None:
        return await self._maker.picture(self._drawing, seconds)
