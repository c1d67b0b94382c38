"""The daemon: wiring, signals, sd_notify and an ordered shutdown (its HTTP side: runtime.serving).

Start-up builds and checks the whole configuration before it touches anything; a set with any
problem never starts (exit 2, before READY=1). READY=1 is sent once the store is open, the
endpoint listens and the feeds are scheduled. WATCHDOG=1 comes from a task on the event loop,
so a loop that hangs stops the pings and systemd restarts it.

SIGHUP builds a new set beside the running one and swaps only if it is clean. SIGTERM/SIGINT
stop polling first, let in-flight polls and deliveries finish within SHUTDOWN_GRACE (a delivery
cut off stays `in_flight` in the outbox and is retried after the restart), then close the store:
nothing committed to the outbox is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import os
import signal
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from warnd.channels import x
from warnd.channels.base import Sender
from warnd.clock import Clock, SystemClock, steady
from warnd.config.snapshot import Snapshot
from warnd.errors import ConfigError
from warnd.metrics import Metrics
from warnd.obs import get_logger
from warnd.pollers.fetch import Fetcher
from warnd.runtime import conditions, health
from warnd.runtime.build import Bundle
from warnd.runtime.bulletins import BulletinDesk
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.cap_fill import CapFill
from warnd.runtime.collector import Collector
from warnd.runtime.conditions import Live
from warnd.runtime.console import Console
from warnd.runtime.console_actions import ConsoleActions
from warnd.runtime.console_state import ConsoleState
from warnd.runtime.credchecks import CredentialChecks
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.host_answers import HostAnswers
from warnd.runtime.host_budget import STATE_KEY as HOST_REQUESTS
from warnd.runtime.host_budget import HostBudgets
from warnd.runtime.ingest import Ingest
from warnd.runtime.last_good import SNAPSHOT_AFTER_START, LastGood
from warnd.runtime.maps import Drawing, MapMaker
from warnd.runtime.membership import Membership
from warnd.runtime.notices import NoticeBoard, OpsRelay
from warnd.runtime.observe import Observer
from warnd.runtime.poll import Poller
from warnd.runtime.reload import Reloads, close_all
from warnd.runtime.schedule import Schedule
from warnd.runtime.sdnotify import notify, watchdog_pings
from warnd.runtime.serving import Serving
from warnd.runtime.statedir import lock
from warnd.runtime.subscribe import SubscribeDesk
from warnd.runtime.subscribers import Subscribers
from warnd.runtime.websub_hub import Hub
from warnd.runtime.websub_pushes import WebSubPushes
from warnd.store import db
from warnd.store.backend import Database, DatabaseError
from warnd.store.feedstate import FeedStates
from warnd.store.maps import Maps
from warnd.store.meta import Meta
from warnd.store.outbox import Outbox, TargetQueue
from warnd.store.sqlite import SQLite
from warnd.store.worker import StoreWorker

log = get_logger("warnd")

# Below the unit's TimeoutStopSec=30: polls and deliveries get this long, together, to finish.
SHUTDOWN_GRACE = 20.0


class Daemon:
    def __init__(
        self,
        config_path: Path,
        bundle: Bundle,
        clock: Clock | None = None,
        *,
        refused: ConfigError | None = None,
        snapshot: Snapshot | None = None,
    ) -> None:
        """`refused` and `snapshot`: the files on disk were refused, and `bundle` was built from
        this saved last good set instead."""
        self.config_path = config_path
        self.bundle = bundle
        self.clock = clock or SystemClock()
        state = bundle.config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self._lock = lock(state)
        store = bundle.config.file.store
        self.conn = db.open_store(store, state)
        # Every store call of the running daemon goes through this one thread: a held lock or a
        # slow server never stalls the loop (the endpoint, the watchdog, the other feeds).
        self.store = StoreWorker(reader=db.open_reader(store, state))
        # What the endpoint reads (health, status, metrics, the CAP feeds): on the reading
        # connection, which a held write lock does not block.
        reads = self.store.reader or self.conn
        self.shared = db.shared(store)
        self.membership = Membership(
            self.conn,
            db.node_name(store),
            store.lease,
            shared=self.shared,
            listen=lambda: self.serving.listening(),
            on_elected=self._elected,
            on_displaced=self._displaced,
            store=self.store,
        )
        self.metrics = Metrics()
        self.reloads = Reloads(
            config_path,
            state,
            Meta(self.conn),
            self.clock,
            self.metrics,
            refused=refused,
            snapshot=snapshot,
            store=self.store,
        )
        # Partners who subscribed themselves and were approved: read from the store on every node.
        self.subscribers = Subscribers(
            self.conn,
            self.clock,
            lambda: self.bundle,
            is_leader=self.membership.is_leader,
            store=self.store,
            on_change=lambda: self.dispatcher.wake(),
        )
        self.maps = MapMaker(
            self.conn,
            self.clock,
            lambda: self.bundle.config.file.maps,
            lambda: self.bundle.regions,
            lambda: self.bundle.renderer,
            self.metrics,
            store=self.store,
            after_text=lambda ids, within: self.dispatcher.posted(ids, within),
        )
        self.fetcher = Fetcher(bundle.config.file.user_agent, bundle.config.base, bundle.outbound)
        self.ingest = Ingest(
            self.conn,
            self.clock,
            lambda: self.bundle,
            explain=False,
            fence=self.membership.fence,
            # Each change, rule by rule, in the store for every node's console.
            decisions=True,
            node=self.membership.name,
            subscribed=lambda: self.subscribers.partners,
            defer_cap=True,
        )
        # The WebSub hub (POST /websub) and its subscriptions' pushes, which go through the outbox
        # like every delivery.
        self.hub = Hub(
            self.conn,
            self.store,
            self.clock,
            settings=lambda: self.bundle.config.file.websub,
            base=lambda: self.bundle.config.file.websub_base,
            accounts=lambda: self.bundle.config.file.accounts,
            outbound=lambda: self.bundle.outbound,
            user_agent=lambda: self.bundle.config.file.user_agent,
            metrics=self.metrics,
            on_change=lambda: self.websub.wake(),
        )
        self.websub = WebSubPushes(
            self.conn,
            self.store,
            self.clock,
            lambda: self.bundle.config.file,
            self.hub.http,
            leader=self.membership.is_leader,
            proxied=lambda: self.bundle.outbound.proxied,
        )
        self._merged: tuple[object, object, dict[str, Sender]] | None = None
        self.dispatcher = Dispatcher(
            self.conn,
            self.clock,
            self._senders,
            lambda: self.bundle.config.file.dispatch,
            self.metrics,
            cluster=self.membership if self.shared else None,
            store=self.store,
            pictures=self.maps.pictures,
        )
        # The CAP documents of warnings committed without them, made once their text posts are
        # on their way (and, on any node, those a stopped node left behind).
        self.caps = CapFill(
            self.conn,
            self.store,
            self.clock,
            lambda: self.bundle,
            self.metrics,
            self.dispatcher.wake,
            after_text=self.dispatcher.posted,
        )
        # Each feed's latest good answer, newer than the store's while unchanged answers go unwritten.
        self.answered: dict[str, datetime] = {}
        self.states = FeedStates(self.conn, self.answered)
        # The requests of the minute before a restart still count against the hosts' budgets.
        self.budgets = HostBudgets(
            self.clock, lambda: self.bundle.config.file.host_settings, persist=self._save_host_requests
        )
        try:
            self.budgets.load(Meta(self.conn).get(HOST_REQUESTS))
        except DatabaseError as e:
            log.error("host.budget_unreadable", error=str(e), detail="starting without the last minute's requests")
        self.answers = HostAnswers()
        self._window_task: asyncio.Future[None] | None = None
        self.metrics.registry.register(self.budgets)
        self.metrics.registry.register(self.answers)
        self.poller = Poller(
            self.fetcher,
            self.ingest,
            self.states,
            self.clock,
            lambda: self.bundle,
            self.dispatcher.wake,
            self.metrics,
            may_poll=self.membership.is_leader,
            store=self.store,
            on_drawings=self.maps.make,
            budgets=self.budgets,
            answers=self.answers,
            on_caps=self.caps.soon,
            answered=self.answered,
        )
        self.started = self.clock.now()
        self.checks = CredentialChecks(lambda: self.bundle, self.metrics, self.membership.is_leader, self._health)
        self.observer = Observer(reads, self.clock, lambda: self.bundle, self._live, lambda: self.reloads.generation)
        self.metrics.registry.register(self.observer)
        self.board = NoticeBoard(self.conn, self.clock, self.metrics, lambda: sorted(self.bundle.ops))
        self.ops = OpsRelay(self.conn, self.clock, lambda: self.bundle.ops, self.store)
        self.serving = Serving(
            lambda: self.bundle,
            health=self.observer.health,
            status=self._status,
            registry=self.metrics.registry,
            cap=CapFeeds.of_config(Outbox(reads), lambda: self.bundle.config.file, self.clock),
            store=self.store,
            maps=Maps(reads).get,
            console=lambda serving: self._console(serving, reads),
            subscribe=SubscribeDesk(self.conn, self.clock, lambda: self.bundle, store=self.store).handle,
            hub=self.hub,
        )
        self.schedule = Schedule(self.poller.poll, self._health, held_back=self.budgets.waiting_feeds.__contains__)
        self.collector = Collector()
        self.last_good = LastGood(
            lambda: self.bundle,
            lambda: self.store.run(self._waiting),
            snapshot,
            self.clock,
        )
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _senders(self) -> Mapping[str, Sender]:
        """The configuration's senders, the subscribed partners' and the WebSub subscriptions'
        (merged again only when one changed)."""
        config, subs = self.subscribers.senders(self.bundle.senders), self.websub.senders()
        merged = self._merged
        if merged is None or merged[0] is not config or merged[1] is not subs:
            merged = self._merged = (config, subs, {**config, **subs})
        return merged[2]

    def _status(self) -> dict[str, Any]:
        """What /status serves, and the console's state document carries."""
        answers = self.answers.snapshot()
        return self.observer.status(str(self.config_path)) | {
            "node": self.membership.name,
            "role": self.membership.role,
            "hosts": [h | answers.get(h["host"], {}) for h in self.budgets.snapshot()],
        }

    async def _save_host_requests(self, window: str) -> None:
        await self.store.run(lambda: Meta(self.conn).put(HOST_REQUESTS, window))

    def _console(self, serving: Serving, reads: Database) -> Console:
        """The operator console: its state document (the /status function and more), and its
        actions, name -> handler."""
        builtin = ConsoleActions(self.conn, self.clock, lambda: self.bundle)
        # The actions run on the store's writing thread; an approved bulletin's maps are drawn
        # from the loop, as an ingested warning's are.
        desk = BulletinDesk(
            self.conn,
            lambda: self.bundle,
            self.clock,
            on_drawings=self._draw_soon,
            subscribed=lambda: self.subscribers.partners,
        )
        actions = builtin.on_store() | desk.actions()
        state = ConsoleState(
            reads,
            self.clock,
            lambda: self.bundle,
            self._status,
            node=lambda: self.membership.name,
            # The listing read on the reading connection, like the rest of the state.
            bulletins=BulletinDesk(reads, lambda: self.bundle, self.clock).listing,
        )
        return Console(
            settings=lambda: self.bundle.config.file.console,
            store=self.store,
            reader=reads,
            writer=self.conn,
            clock=self.clock,
            state=state,
            regions=lambda: self.bundle.regions,
            actions=actions,
            simulate=builtin.simulate,
            wake=self.dispatcher.wake,
            token=lambda: serving.operator_token,
            two_person=desk.two_person,
            proxy_secret=lambda: serving.proxy_secret,
            proxy_secret_missing=lambda: serving.proxy_secret_problem,
            listen=lambda: self.bundle.config.file.listen,
        )

    def _draw_soon(self, drawings: list[Drawing]) -> None:
        """From another thread: the maps of warnings just committed, drawn from the loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.maps.make, drawings)

    def _live(self) -> Live:
        offset = steady.offset if isinstance(self.clock, SystemClock) else 0.0
        store_error = self.poller.store_error or self.membership.error
        return Live(
            self.started,
            self.reloads.last,
            self.serving.error,
            store_error,
            offset,
            self.reloads.refused,
            dict(self.checks.failing),
            dict(self.answered),
        )

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        # `warnd outbox retry` asks for an immediate look at the outbox.
        loop.add_signal_handler(signal.SIGUSR1, self.dispatcher.wake)
        faulthandler.enable()

        console = self.serving.endpoint.console
        if console is not None:
            await console.start()
        await self.serving.start()
        if console is not None and (where := self.serving.listening()) is not None:
            console.announce(where)
        # Registered and, when no other node leads, leader before the first poll is scheduled.
        await self.store.run(self.membership.register)
        await self.membership.beat()
        membership = asyncio.create_task(self.membership.run(), name="membership")
        self.schedule.feeds(f.spec for f in self.bundle.config.feeds)
        self.schedule.health(f.spec for f in self.bundle.config.feeds)
        self.schedule.start()
        # The subscribers known before the first delivery is claimed.
        await self.subscribers.refresh()
        subscribers = asyncio.create_task(self.subscribers.run(), name="subscribers")
        dispatch = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        caps = asyncio.create_task(self.caps.run(), name="cap-fill")
        ops = asyncio.create_task(self.ops.run(), name="ops")
        checks = asyncio.create_task(self.checks.run(), name="credential-checks")
        await self.websub.round()
        websub = asyncio.create_task(self.websub.run(), name="websub")
        cfg = self.bundle.config
        log.info(
            "daemon.started",
            config=str(self.config_path),
            state_dir=str(cfg.state_dir),
            pid=os.getpid(),
            feeds=[f.spec.id for f in cfg.feeds],
            rules=len(self.bundle.ruleset.rules),
            accounts=sorted(self.bundle.accounts),
            partners=sorted(cfg.file.partners),
            outbox=await self.store.run(self.dispatcher.outbox.counts),
            listen=self.serving.endpoint.bound,
            store=self.conn.where,
            node=self.membership.name,
            role=self.membership.role,
            replay=cfg.file.replay,
        )
        if cfg.file.websub.enabled and cfg.file.websub_base is None:
            log.info(
                "websub.off",
                detail="no WebSub hub: set websub.public_url (or maps.public_url) to the base URL the listeners are"
                " reached at, or websub.enabled: false",
            )
        if cfg.file.replay:
            # Right for recorded documents, wrong for live feeds: said where an operator looks.
            log.warning(
                "daemon.replay",
                detail="replay: every document is taken as current; old events are posted and no feed takes a baseline",
            )
        if self.reloads.refused is not None:
            log.error(
                "config.refused",
                problems=self.reloads.refused["problems"],
                snapshot=self.reloads.refused["snapshot"],
                notice="the configuration on disk was refused: running the last good set; fix the files and reload",
            )
        notify(f"READY=1\nSTATUS=polling {len(cfg.feeds)} feeds")
        # After READY: the outlines take about half a second of CPU, on the maps thread;
        # twitter-text's expressions about a third of a second, in a thread of their own, for
        # the first X post whose text has a URL or another script than ASCII.
        self.maps.prepare(self.bundle.regions)
        asyncio.get_running_loop().run_in_executor(None, x.twitter_text)
        # Kept only once the set has run a while: it is what the next start falls back to.
        self.last_good.soon(SNAPSHOT_AFTER_START)
        self.collector.settle_soon()
        # The watchdog counts from READY=1.
        watchdog = asyncio.create_task(watchdog_pings(), name="watchdog")
        clock_watch = asyncio.create_task(
            self.schedule.follow_clock(self.clock, lambda: (f.spec for f in self.bundle.config.feeds), self._health),
            name="clock",
        )
        dispatch.add_done_callback(self._crashed)
        await self._health()

        await self._stop.wait()
        self.collector.stop()
        clock_watch.cancel()
        self.subscribers.stop()
        subscribers.cancel()
        self.checks.stop()
        checks.cancel()
        self.websub.stop()
        websub.cancel()
        self.caps.stop()
        caps.cancel()
        await self.last_good.stop()
        await self._shutdown(dispatch, ops, watchdog, membership)

    async def _health(self) -> None:
        """Staleness, notices and the STATUS= line, every few seconds."""
        try:
            found, queues, raised = await self.store.run(self._health_round)
            if raised:
                self.ops.wake()
        except DatabaseError as e:
            log.error("health.store_failed", error=str(e))
            notify(f"STATUS=failing: the store cannot be read ({e})")
            return
        role = f" [{self.membership.name}: {self.membership.role}]" if self.shared else ""
        notify("STATUS=" + conditions.summary(found, queues, len(self.bundle.config.feeds)) + role)

    def _waiting(self) -> bool:
        """On the store's thread: deliveries are waiting in the outbox."""
        return any(q.waiting for q in self.dispatcher.outbox.per_target().values())

    def _health_round(self) -> tuple[list[conditions.Condition], dict[str, TargetQueue], bool]:
        """On the store's thread: the conditions, the queues, and whether a notice was raised."""
        now = self.clock.now()
        leader = self.membership.is_leader()
        # Feed health and notices are the cluster's, kept by the node that polls.
        if leader:
            health.check(self.states, (f.spec for f in self.bundle.config.feeds), now, self.started)
            self.membership.housekeeping()
        queues = self.dispatcher.outbox.per_target()
        found = conditions.collect(self.conn, self.bundle, now, self._live(), queues)
        return found, queues, bool(leader and self.board.reconcile(found))

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher.crashed", error=repr(task.exception()))
            self._stop.set()

    async def reload(self) -> bool:
        applied = await self._reload()
        # Health, notices and STATUS= show the outcome now, not at the next round.
        await self._health()
        return applied

    async def _reload(self) -> bool:
        new = await self.reloads.candidate(self.bundle)
        self.collector.thaw()
        self.collector.settle_soon()
        if new is None:
            return False
        old = self.bundle
        self.bundle = new
        self.serving.read_token()
        self.schedule.feeds(f.spec for f in new.config.feeds)
        await close_all(old)
        if new.regions is not old.regions:
            self.maps.prepare(new.regions)
        await self.reloads.applied(new)
        self.dispatcher.wake()
        self.checks.wake()
        self.last_good.soon(0.0)
        return True

    def _elected(self) -> None:
        """Leader now (at start, or taking over from a node that died): every feed is polled at
        once rather than at its next interval; what the last leader already recorded is known
        from the shared store and is not news again."""
        if self.shared:
            # The last leader's requests of this minute count against this node's budgets too.
            self._window_task = asyncio.ensure_future(self._window_from_store())
        self.schedule.poll_all_now()
        self.dispatcher.wake()

    async def _window_from_store(self) -> None:
        reads = self.store.reader or self.conn
        try:
            self.budgets.load(await self.store.read(lambda: Meta(reads).get(HOST_REQUESTS)))
        except DatabaseError as e:
            log.error("host.budget_unreadable", error=str(e), detail="the last leader's requests are not known")

    def _displaced(self, why: str) -> None:
        log.error("node.displaced", node=self.membership.name, error=why)
        self._stop.set()

    async def _shutdown(
        self,
        dispatch: asyncio.Task[None],
        ops: asyncio.Task[None],
        watchdog: asyncio.Task[None],
        membership: asyncio.Task[None],
    ) -> None:
        notify("STOPPING=1")
        log.info("daemon.stopping")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE
        # APScheduler's shutdown does not wait for coroutine jobs, and its executor would cancel
        # them: pause first and let in-flight polls finish, so that no document is cut off
        # half-ingested (each document is one transaction either way).
        self.schedule.pause()
        # A poll waiting for a host's budget is not made: the next start polls every feed.
        self.budgets.close()
        if self.poller.in_flight:
            await asyncio.wait(set(self.poller.in_flight), timeout=max(0.1, deadline - loop.time()))
        # The CAP documents of what those polls committed, before the lanes that carry them stop.
        await self.caps.finish(max(0.1, deadline - loop.time()))
        # Lanes finish the delivery they are in and take no other.
        self.dispatcher.stop()
        self.ops.stop()
        _done, pending = await asyncio.wait({dispatch, ops}, timeout=max(0.1, deadline - loop.time()))
        for task in pending:
            # Cut off mid-request: the delivery stays in_flight and is retried after the restart.
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
            log.warning("daemon.stop_timeout", detail="deliveries still running were parked for the next start")
        watchdog.cancel()
        for task in set(self.poller.in_flight):
            task.cancel()
        self.schedule.shutdown()
        await asyncio.sleep(0)
        await self.serving.stop()
        await self.maps.stop()
        await self.fetcher.aclose()
        with contextlib.suppress(Exception):
            await self.budgets.flush()
        await close_all(self.bundle)
        await self.subscribers.aclose()
        membership.cancel()
        await self.store.run(self.membership.stop)
        counts: dict[str, int] | str
        try:
            counts = await self.store.run(self.dispatcher.outbox.counts)
        except DatabaseError as e:
            counts = f"unknown: {e}"
        # What was handed to the store's thread is finished before its connection is closed.
        self.store.close()
        if isinstance(self.conn, SQLite):
            with contextlib.suppress(Exception):
                # Fold the write-ahead log into the database file: a clean, self-contained state.
                self.conn.checkpoint()
        self.conn.close()
        self.serving.forget_addresses()
        log.info("daemon.stopped", outbox=counts)
