"""The last good set: the configuration now running, saved in the state directory once it has
run a while, so that a start whose files on disk are refused runs this set instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from warnd.clock import Clock
from warnd.config import snapshot
from warnd.config.load import Config
from warnd.config.snapshot import Snapshot
from warnd.errors import ConfigError, Problem
from warnd.obs import get_logger
from warnd.runtime import verify_set
from warnd.runtime.build import Bundle
from warnd.store.backend import DatabaseError

log = get_logger("warnd")

# The last good set is saved this long after start, once nothing waits in the outbox (or at
# most SNAPSHOT_QUIET_MAX later): a crash sooner falls back to the set saved before.
SNAPSHOT_AFTER_START = 10.0
SNAPSHOT_QUIET_MAX = 60.0


class LastGood:
    def __init__(
        self,
        bundle: Callable[[], Bundle],
        busy: Callable[[], Awaitable[bool]],
        current: Snapshot | None,
        clock: Clock,
    ) -> None:
        """`busy`: deliveries are waiting (may raise DatabaseError, taken as busy)."""
        self._bundle = bundle
        self._clock = clock
        self._busy = busy
        self.current = current
        self._saving: asyncio.Task[None] | None = None
        self._checks = verify_set.Checks()
        # A save superseded by a reload goes on in its thread (cancelling the task does not stop
        # it) until its check is ended and its copy removed. The next save, of the same set as
        # often as not, copies into the same folder: it starts once that one is over. A save
        # superseded while it waited for that is not made at all (`_asked` counts the requests):
        # the lock is not first come, first served, and an older set must not follow a newer.
        self._one_at_a_time = threading.Lock()
        self._asked = 0

    def soon(self, delay: float) -> None:
        self._asked += 1
        if self._saving is not None:
            self._saving.cancel()
            # A check of the set this one replaces ends now, not after its second of CPU.
            self._checks.cancel()
        self._saving = asyncio.create_task(self._when_quiet(delay), name="snapshot")

    async def stop(self) -> None:
        self._checks.close()
        if self._saving is not None:
            self._saving.cancel()
            await asyncio.wait({self._saving}, timeout=5.0)

    async def _when_quiet(self, delay: float) -> None:
        """Saving a new set copies it and loads the copy again (about a second of CPU, in a child
        process but on one of few cores): the polls and deliveries of a start, which may be
        catching up after a crash, come first."""
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SNAPSHOT_QUIET_MAX
        while loop.time() < deadline:
            try:
                busy = await self._busy()
            except DatabaseError:
                busy = True
            if not busy:
                break
            await asyncio.sleep(1.0)
        await self._save()

    async def _save(self) -> None:
        """Keep the set now running as the one to start from should the files on disk be
        refused later. A set read from the snapshot is that snapshot already."""
        cfg = self._bundle().config
        if cfg.mirror is not None:
            return
        try:
            # The copy is loaded again in a child process (runtime.verify_set): not beside the
            # warnings of the moment, and its memory not kept.
            saved = await asyncio.to_thread(self._save_alone, cfg, self._asked)
        except (OSError, ConfigError) as e:
            # The running set is unaffected; the next start falls back to an older snapshot, if any.
            problems = [str(p) for p in e.problems] if isinstance(e, ConfigError) else [str(e)]
            log.warning("config.snapshot_failed", problems=problems, detail="the previous snapshot stays")
            return
        if saved is None:
            return
        snap, new = saved
        self.current = snap
        if new:
            log.info("config.snapshot_saved", digest=snap.digest, files=snap.files, folder=str(snap.folder))

    def _save_alone(self, cfg: Config, asked: int) -> tuple[Snapshot, bool] | None:
        with self._one_at_a_time:
            # Asked again below, before the check; asked here too, since a set saved once before
            # is made current again without a check.
            if asked != self._asked:
                return None

            def check(path: Path, mirror: Path) -> None:
                # Superseded while its files were copied (a reload ends only the checks it finds
                # running): not checked, and never made current after the newer set.
                if asked != self._asked:
                    raise ConfigError([Problem(str(path), None, "", "superseded by a newer set before its check")])
                self._checks.verify(path, mirror)

            return snapshot.save(cfg, check, self._clock.now())
