"""The daemon: wiring, signals, sd_notify and an ordered shutdown.

Start-up builds and checks the whole configuration before it touches anything; a set with any
problem never starts. SIGHUP builds a new set beside the running one and swaps only if it is
clean. SIGTERM/SIGINT stop polling first, let in-flight polls and the current delivery finish,
then close: nothing committed to the outbox is lost, it goes out after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import fcntl
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from warnd.channels.base import Sender
from warnd.clock import Clock, SystemClock
from warnd.errors import ConfigError, WarndError
from warnd.obs import get_logger
from warnd.pollers.fetch import Fetcher
from warnd.runtime import health
from warnd.runtime.build import Bundle, build
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.ingest import Ingest
from warnd.runtime.poll import Poller
from warnd.runtime.sdnotify import notify, watchdog_interval
from warnd.store import db
from warnd.store.feedstate import FeedStates

log = get_logger("warnd")

SHUTDOWN_GRACE = 20.0
# Staleness is checked often enough to notice within a quarter of the shortest stale_after.
HEALTH_EVERY_MAX = 10.0
HEALTH_EVERY_MIN = 1.0


class AlreadyRunning(WarndError):
    pass


class Daemon:
    def __init__(self, config_path: Path, bundle: Bundle, clock: Clock | None = None) -> None:
        self.config_path = config_path
        self.bundle = bundle
        self.clock = clock or SystemClock()
        state = bundle.config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(state / "warnd.lock")
        self.conn = db.connect(state / "warnd.db")
        self.fetcher = Fetcher(bundle.config.file.user_agent, bundle.config.base)
        self.ingest = Ingest(self.conn, self.clock, lambda: self.bundle)
        self.dispatcher = Dispatcher(
            self.conn, self.clock, lambda: self.bundle.senders, lambda: self.bundle.config.file.dispatch
        )
        self.states = FeedStates(self.conn)
        self.poller = Poller(
            self.fetcher, self.ingest, self.states, self.clock, lambda: self.bundle, self.dispatcher.wake
        )
        self.started = self.clock.now()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._stop = asyncio.Event()
        self._reloading = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        # `warnd outbox retry` asks for an immediate look at the outbox.
        loop.add_signal_handler(signal.SIGUSR1, self.dispatcher.wake)
        faulthandler.enable()

        self._schedule_feeds()
        self.scheduler.add_job(
            self._health, "interval", id="health", seconds=self._health_every(), coalesce=True, max_instances=1
        )
        self.scheduler.start()
        dispatch = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
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
            outbox=self.dispatcher.outbox.counts(),
        )
        notify(f"READY=1\nSTATUS=polling {len(cfg.feeds)} feeds")
        dispatch.add_done_callback(self._crashed)

        await self._stop.wait()
        await self._shutdown(dispatch, watchdog)

    def _health_every(self) -> float:
        limits = [f.spec.stale_after for f in self.bundle.config.feeds if f.spec.stale_after]
        return max(HEALTH_EVERY_MIN, min([HEALTH_EVERY_MAX, *(x / 4 for x in limits)]))

    async def _health(self) -> None:
        health.check(self.states, (f.spec for f in self.bundle.config.feeds), self.clock.now(), self.started)

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
            self._record_reload(False, problems)
            return False
        finally:
            self._reloading = False
            notify("READY=1")
        if new.config.state_dir.resolve() != self.bundle.config.state_dir.resolve():
            problems = ["state_dir cannot change on reload; restart instead"]
            log.error("reload.rejected", problems=problems)
            self._record_reload(False, problems)
            return False
        old_senders = self.bundle.senders
        self.bundle = new
        self._schedule_feeds()
        for s in old_senders.values():
            await _close(s)
        log.info("reload.applied", feeds=[f.spec.id for f in new.config.feeds], rules=len(new.ruleset.rules))
        self._record_reload(True, [])
        self.dispatcher.wake()
        return True

    def _record_reload(self, ok: bool, problems: list[str]) -> None:
        """The last reload's outcome, for `warnd status`."""
        value = json.dumps({"at": self.clock.now().isoformat(), "ok": ok, "problems": problems})
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_reload', ?)", (value,))

    async def _watchdog(self) -> None:
        interval = watchdog_interval()
        if interval is None:
            return
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _shutdown(self, dispatch: asyncio.Task[None], watchdog: asyncio.Task[None]) -> None:
        notify("STOPPING=1")
        log.info("daemon.stopping")
        # APScheduler's asyncio executor cancels running jobs on shutdown: pause first and let
        # in-flight polls finish, so that no document is cut off half-ingested.
        self.scheduler.pause()
        if self.poller.in_flight:
            await asyncio.wait(set(self.poller.in_flight), timeout=SHUTDOWN_GRACE)
        self.dispatcher.stop()
        try:
            await asyncio.wait_for(dispatch, timeout=SHUTDOWN_GRACE)
        except TimeoutError:
            dispatch.cancel()
        watchdog.cancel()
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        await self.fetcher.aclose()
        for s in self.bundle.senders.values():
            await _close(s)
        counts = self.dispatcher.outbox.counts()
        self.conn.close()
        log.info("daemon.stopped", outbox=counts)


async def _close(sender: Sender) -> None:
    with contextlib.suppress(Exception):
        await sender.aclose()


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
