"""The daemon: wiring, signals, sd_notify, the HTTP endpoint and an ordered shutdown.

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
import fcntl
import json
import os
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from warnd.channels.base import Sender
from warnd.channels.ops import OpsSender
from warnd.clock import Clock, SystemClock, steady
from warnd.config import secrets, snapshot
from warnd.config.secrets import Secret
from warnd.config.snapshot import Snapshot
from warnd.errors import ConfigError, WarndError
from warnd.metrics import Metrics
from warnd.obs import get_logger
from warnd.pollers.fetch import Fetcher
from warnd.runtime import conditions, health
from warnd.runtime.build import Bundle, build
from warnd.runtime.cap_feeds import CapFeeds
from warnd.runtime.conditions import Live
from warnd.runtime.credchecks import CredentialChecks
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.http import Endpoint
from warnd.runtime.ingest import Ingest
from warnd.runtime.membership import Membership
from warnd.runtime.notices import NoticeBoard, OpsRelay
from warnd.runtime.observe import Observer
from warnd.runtime.poll import Poller
from warnd.runtime.sdnotify import notify, watchdog_interval
from warnd.store import db
from warnd.store.backend import DatabaseError
from warnd.store.feedstate import FeedStates
from warnd.store.outbox import Outbox, TargetQueue
from warnd.store.sqlite import SQLite
from warnd.store.worker import StoreWorker

log = get_logger("warnd")

# Below the unit's TimeoutStopSec=30: polls and deliveries get this long, together, to finish.
SHUTDOWN_GRACE = 20.0
# In the state directory: the outcome of the last reload, which `warnd reload` waits for.
RELOAD_VERDICT = "reload-verdict.json"
# The last good set is saved this long after start, once nothing waits in the outbox (or at
# most SNAPSHOT_QUIET_MAX later): a crash sooner falls back to the set saved before.
SNAPSHOT_AFTER_START = 10.0
SNAPSHOT_QUIET_MAX = 60.0
# Staleness is checked often enough to notice within a quarter of the shortest stale_after, a
# failing feed within a tenth of its fail_after (60 s + 6 s for a critical feed).
HEALTH_EVERY_MAX = 10.0
HEALTH_EVERY_MIN = 1.0


class AlreadyRunning(WarndError):
    pass


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
        self._lock = _lock(state / "warnd.lock")
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
            listen=self._listening,
            on_elected=self._elected,
            on_displaced=self._displaced,
            store=self.store,
        )
        self.metrics = Metrics()
        self.generation = 1
        self.metrics.config_generation.set(self.generation)
        self.snapshot = snapshot
        self.config_refused: dict[str, object] | None = None
        if refused is not None and snapshot is not None:
            self.config_refused = {
                "at": self.clock.now().isoformat(),
                "problems": [str(p) for p in refused.problems],
                "snapshot": snapshot.to_json(),
            }
            self.metrics.config_valid.set(0)
            self.metrics.config_from_snapshot.set(1)
        self.fetcher = Fetcher(bundle.config.file.user_agent, bundle.config.base, bundle.outbound)
        self.ingest = Ingest(self.conn, self.clock, lambda: self.bundle, explain=False, fence=self.membership.fence)
        self.dispatcher = Dispatcher(
            self.conn,
            self.clock,
            lambda: self.bundle.senders,
            lambda: self.bundle.config.file.dispatch,
            self.metrics,
            cluster=self.membership if self.shared else None,
            store=self.store,
        )
        self.states = FeedStates(self.conn)
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
        )
        self.started = self.clock.now()
        self.checks = CredentialChecks(lambda: self.bundle, self.metrics, self.membership.is_leader, self._health)
        self.last_reload: dict[str, object] | None = None
        self.http_error: str | None = None
        self.observer = Observer(reads, self.clock, lambda: self.bundle, self._live, lambda: self.generation)
        self.metrics.registry.register(self.observer)
        self.board = NoticeBoard(self.conn, self.clock, self.metrics, lambda: sorted(self.bundle.ops))
        self.ops = OpsRelay(self.conn, self.clock, lambda: self.bundle.ops, self.store)
        self.operator_token: Secret | None = None
        self.token_problem: str | None = None
        self._read_token()
        host, port = _address(bundle.config.file.listen)
        public = bundle.config.file.public_listen
        self.endpoint = Endpoint(
            host,
            port,
            health=self.observer.health,
            status=lambda: (
                self.observer.status(str(self.config_path))
                | {"node": self.membership.name, "role": self.membership.role}
            ),
            registry=self.metrics.registry,
            cap=CapFeeds(Outbox(reads), lambda: self.bundle.senders),
            public=_address(public) if public else None,
            token=lambda: self.operator_token,
            token_missing=lambda: self.token_problem,
            store=self.store,
        )
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._stop = asyncio.Event()
        self._reloading = False
        self._reload_seq = 0
        self._saving: asyncio.Task[None] | None = None

    def _live(self) -> Live:
        offset = steady.offset if isinstance(self.clock, SystemClock) else 0.0
        store_error = self.poller.store_error or self.membership.error
        return Live(
            self.started,
            self.last_reload,
            self.http_error,
            store_error,
            offset,
            self.config_refused,
            dict(self.checks.failing),
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        # `warnd outbox retry` asks for an immediate look at the outbox.
        loop.add_signal_handler(signal.SIGUSR1, self.dispatcher.wake)
        faulthandler.enable()

        await self._serve()
        # Registered and, when no other node leads, leader before the first poll is scheduled.
        await self.store.run(self.membership.register)
        await self.membership.beat()
        membership = asyncio.create_task(self.membership.run(), name="membership")
        self._schedule_feeds()
        self._schedule_health()
        self.scheduler.start()
        dispatch = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        ops = asyncio.create_task(self.ops.run(), name="ops")
        checks = asyncio.create_task(self.checks.run(), name="credential-checks")
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
            listen=self.endpoint.bound,
            store=self.conn.where,
            node=self.membership.name,
            role=self.membership.role,
            replay=cfg.file.replay,
        )
        if cfg.file.replay:
            # Right for recorded documents, wrong for live feeds: said where an operator looks.
            log.warning(
                "daemon.replay",
                detail="replay: every document is taken as current; old events are posted and no feed takes a baseline",
            )
        if self.config_refused is not None:
            log.error(
                "config.refused",
                problems=self.config_refused["problems"],
                snapshot=self.config_refused["snapshot"],
                notice="the configuration on disk was refused: running the last good set; fix the files and reload",
            )
        notify(f"READY=1\nSTATUS=polling {len(cfg.feeds)} feeds")
        # Kept only once the set has run a while: it is what the next start falls back to.
        self._snapshot_soon(SNAPSHOT_AFTER_START)
        # The watchdog counts from READY=1.
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        clock_watch = asyncio.create_task(self._watch_clock(), name="clock")
        dispatch.add_done_callback(self._crashed)
        await self._health()

        await self._stop.wait()
        clock_watch.cancel()
        self.checks.stop()
        checks.cancel()
        if self._saving is not None:
            self._saving.cancel()
            await asyncio.wait({self._saving}, timeout=5.0)
        await self._shutdown(dispatch, ops, watchdog, membership)

    def _read_token(self) -> None:
        """The operator token, read at start and on each reload (a rotated token takes effect
        then). Named but unreadable: operator paths refuse everyone rather than open up."""
        name = self.bundle.config.file.operator_token
        self.operator_token = secrets.read(name) if name else None
        self.token_problem = secrets.missing(name) if name and self.operator_token is None else None
        if self.token_problem:
            log.error("http.token_missing", error=self.token_problem, field="operator_token")

    async def _serve(self) -> None:
        """Start the listeners. A port taken is a notice, not a stop: warnings matter more."""
        self.endpoint.watch_accepts()
        cfg = self.bundle.config
        errors = []
        for listener, configured, file in (
            (self.endpoint.operator, cfg.file.listen, "listen"),
            (self.endpoint.public, cfg.file.public_listen, "public_listen"),
        ):
            if listener is None:
                continue
            try:
                host, port = await listener.start()
            except OSError as e:
                errors.append(f"cannot listen on {configured} ({file}): {e.strerror or e}")
                log.error("http.failed", error=errors[-1], listener=listener.name)
                continue
            # For `warnd status` and tests when the port was 0 (any free port).
            _write_atomic(cfg.state_dir / file, f"{host}:{port}\n")
            log.info("http.listening", address=f"{host}:{port}", listener=listener.name)
        self.http_error = "; ".join(errors) or None

    def _schedule_health(self) -> None:
        self.scheduler.add_job(
            self._health, "interval", id="health", seconds=self._health_every(), coalesce=True, max_instances=1
        )

    def _health_every(self) -> float:
        feeds = [f.spec for f in self.bundle.config.feeds]
        limits = [f.stale_after / 4 for f in feeds if f.stale_after] + [f.fail_limit / 10 for f in feeds]
        return max(HEALTH_EVERY_MIN, min([HEALTH_EVERY_MAX, *limits]))

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
        notify("STATUS=" + self._status_line(found, queues) + role)

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

    def _status_line(self, found: list[conditions.Condition], queues: Mapping[str, TargetQueue]) -> str:
        feeds = self.bundle.config.feeds
        stale = sum(c.kind == "feed_stale" for c in found)
        waiting = sum(q.waiting for q in queues.values())
        dead = sum(q.dead for q in queues.values())
        line = f"{conditions.overall(found)}: {len(feeds) - stale}/{len(feeds)} feeds fresh, {waiting} queued"
        if dead:
            line += f", {dead} dead"
        # Named: the first thing an operator needs to know of a failing feed is which one.
        failing = sorted(c.subject for c in found if c.kind == "feed_failing")
        if failing:
            line += f"; feed failing: {', '.join(failing)}"
        others = sorted({c.kind for c in found} - {"feed_stale", "feed_failing"})
        return line + (f"; {', '.join(others)}" if others else "")

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher.crashed", error=repr(task.exception()))
            self._stop.set()

    def _schedule_feeds(self) -> None:
        wanted = {f"feed:{f.spec.id}": f.spec for f in self.bundle.config.feeds}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
        now = datetime.now(UTC)
        for job_id, spec in wanted.items():
            existing = self.scheduler.get_job(job_id)
            if existing is not None:
                trigger = existing.trigger
                if getattr(trigger, "interval_length", None) != spec.interval or getattr(trigger, "jitter", None) != (
                    spec.jitter or None
                ):
                    self.scheduler.reschedule_job(
                        job_id, trigger="interval", seconds=spec.interval, jitter=spec.jitter or None
                    )
                continue
            self.scheduler.add_job(
                self.poller.poll,
                "interval",
                args=[spec.id],
                id=job_id,
                seconds=spec.interval,
                jitter=spec.jitter or None,
                next_run_time=now,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

    async def reload(self) -> bool:
        applied = await self._reload()
        # Health, notices and STATUS= show the outcome now, not at the next round.
        await self._health()
        return applied

    async def _reload(self) -> bool:
        if self._reloading:
            log.warning("reload.skipped", reason="a reload is already running")
            return False
        self._reloading = True
        notify("RELOADING=1")
        try:
            new = await asyncio.to_thread(build, self.config_path, with_senders=True)
        except ConfigError as e:
            problems = [str(p) for p in e.problems]
            log.error("reload.rejected", problems=problems, detail="the running configuration stays")
            self.metrics.config_valid.set(0)
            if self.config_refused is not None:
                self.config_refused = self.config_refused | {"problems": problems, "at": self.clock.now().isoformat()}
            await self._record_reload(False, problems)
            return False
        finally:
            self._reloading = False
            notify("READY=1")
        fixed = [
            what
            for what, old, now in (
                ("state_dir", self.bundle.config.state_dir.resolve(), new.config.state_dir.resolve()),
                ("listen", self.bundle.config.file.listen, new.config.file.listen),
                ("public_listen", self.bundle.config.file.public_listen, new.config.file.public_listen),
                ("store", self.bundle.config.file.store, new.config.file.store),
                # The feed client lives as long as the process; every client takes the same policy.
                ("http", self.bundle.config.file.http, new.config.file.http),
            )
            if old != now
        ]
        if fixed:
            problems = [f"{what} cannot change on reload; restart instead" for what in fixed]
            log.error("reload.rejected", problems=problems)
            await self._record_reload(False, problems)
            await _close_all(new)
            return False
        old = self.bundle
        self.bundle = new
        self.generation += 1
        self._read_token()
        self._schedule_feeds()
        await _close_all(old)
        log.info(
            "reload.applied",
            generation=self.generation,
            feeds=[f.spec.id for f in new.config.feeds],
            rules=len(new.ruleset.rules),
            missing_credentials=sorted(new.missing),
        )
        self.config_refused = None
        self.metrics.config_valid.set(1)
        self.metrics.config_from_snapshot.set(0)
        await self._record_reload(True, [])
        self.dispatcher.wake()
        self.checks.wake()
        self._snapshot_soon(0.0)
        return True

    def _snapshot_soon(self, delay: float) -> None:
        if self._saving is not None:
            self._saving.cancel()
        self._saving = asyncio.create_task(self._snapshot_when_quiet(delay), name="snapshot")

    async def _snapshot_when_quiet(self, delay: float) -> None:
        """Saving a new set copies it and loads the copy again (about a second of CPU): the
        polls and deliveries of a start, which may be catching up after a crash, come first."""
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SNAPSHOT_QUIET_MAX
        while loop.time() < deadline:
            try:
                queues = await self.store.run(self.dispatcher.outbox.per_target)
                busy = any(q.waiting for q in queues.values())
            except DatabaseError:
                busy = True
            if not busy:
                break
            await asyncio.sleep(1.0)
        await self._save_snapshot()

    async def _save_snapshot(self) -> None:
        """Keep the set now running as the one to start from should the files on disk be
        refused later. A set read from the snapshot is that snapshot already."""
        cfg = self.bundle.config
        if cfg.mirror is not None:
            return
        try:
            snap, new = await asyncio.to_thread(
                snapshot.save, cfg, lambda path, mirror: build(path, with_senders=False, mirror=mirror)
            )
        except (OSError, ConfigError) as e:
            # The running set is unaffected; the next start falls back to an older snapshot, if any.
            problems = [str(p) for p in e.problems] if isinstance(e, ConfigError) else [str(e)]
            log.warning("config.snapshot_failed", problems=problems, detail="the previous snapshot stays")
            return
        self.snapshot = snap
        if new:
            log.info("config.snapshot_saved", digest=snap.digest, files=snap.files, folder=str(snap.folder))

    async def _record_reload(self, ok: bool, problems: list[str]) -> None:
        """The last reload's outcome, for status, health and metrics."""
        now = self.clock.now()
        self.last_reload = {"at": now.isoformat(), "ok": ok, "problems": problems, "generation": self.generation}
        value = json.dumps(self.last_reload)
        # For `warnd reload`, which waits for this verdict (the store may be a remote server).
        self._reload_seq += 1
        with contextlib.suppress(OSError):
            _write_atomic(
                self.bundle.config.state_dir / RELOAD_VERDICT, json.dumps(self.last_reload | {"seq": self._reload_seq})
            )
        with contextlib.suppress(DatabaseError):
            await self.store.run(
                self.conn.execute,
                "INSERT INTO meta (key, value) VALUES ('last_reload', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (value,),
            )
        m = self.metrics
        m.reloads.labels("applied" if ok else "rejected").inc()
        m.reload_ok.set(1 if ok else 0)
        m.reload_at.set(now.timestamp())
        m.config_generation.set(self.generation)

    def _listening(self) -> str | None:
        bound = self.endpoint.bound
        return f"{bound[0]}:{bound[1]}" if bound else None

    def _elected(self) -> None:
        """Leader now (at start, or taking over from a node that died): every feed is polled at
        once rather than at its next interval; what the last leader already recorded is known
        from the shared store and is not news again."""
        now = datetime.now(UTC)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:"):
                job.modify(next_run_time=now)
        self.dispatcher.wake()

    def _displaced(self, why: str) -> None:
        log.error("node.displaced", node=self.membership.name, error=why)
        self._stop.set()

    async def _watch_clock(self) -> None:
        """Notice a step of the system clock within a second (the loop sleeps on the monotonic
        clock, so this runs whatever the step) and schedule every job again: APScheduler keeps
        its triggers in system time, and a step back would otherwise stall every poll for as
        long as the step."""
        if not isinstance(self.clock, SystemClock):
            return
        while True:
            self.clock.now()
            for step in steady.steps():
                # Scheduled anew from the new system time: every feed polled now, then on its
                # interval (a poll still inside a backoff returns at once, on warnd's timeline).
                self.scheduler.remove_all_jobs()
                self._schedule_feeds()
                self._schedule_health()
                log.error(
                    "clock.stepped",
                    step_s=round(step, 3),
                    offset_s=round(steady.offset, 3),
                    notice="the system clock jumped; warnd keeps its own timeline (cooldowns, retries,"
                    " polls unchanged) until it is restarted: check the time source, then restart warnd",
                )
                await self._health()
            await asyncio.sleep(1.0)

    async def _watchdog(self) -> None:
        interval = watchdog_interval()
        if interval is None:
            return
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

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
        self.scheduler.pause()
        if self.poller.in_flight:
            await asyncio.wait(set(self.poller.in_flight), timeout=max(0.1, deadline - loop.time()))
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
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        await self.endpoint.stop()
        await self.fetcher.aclose()
        await _close_all(self.bundle)
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
        for file in ("listen", "public_listen"):
            (self.bundle.config.state_dir / file).unlink(missing_ok=True)
        log.info("daemon.stopped", outbox=counts)


async def _close_all(bundle: Bundle) -> None:
    closers: list[Sender | OpsSender] = [*bundle.senders.values(), *bundle.ops.values()]
    for sender in closers:
        with contextlib.suppress(Exception):
            await sender.aclose()


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _lock(path: Path) -> IO[str]:
    # Two daemons on one state directory would post every warning twice.
    f = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise AlreadyRunning(f"another warnd is running on {path.parent}") from None
    # The pid is written under the lock, for `warnd reload`.
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
