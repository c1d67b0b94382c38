"""Reloading the configuration (SIGHUP): a new set is built beside the running one and only a
clean one is handed over; every verdict is recorded where status, metrics and `warnd reload`
read it. Also keeps what the daemon says of its configuration: the generation, and whether the
files on disk were refused and the last good set runs instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from warnd.channels.base import Sender
from warnd.channels.ops import OpsSender
from warnd.clock import Clock
from warnd.config.snapshot import Snapshot
from warnd.errors import ConfigError
from warnd.metrics import Metrics
from warnd.obs import get_logger
from warnd.runtime.build import Bundle, build
from warnd.runtime.sdnotify import notify
from warnd.runtime.statedir import write_atomic
from warnd.store.backend import DatabaseError
from warnd.store.meta import LAST_RELOAD, Meta
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd")

# In the state directory: the outcome of the last reload, which `warnd reload` waits for.
RELOAD_VERDICT = "reload-verdict.json"


class Reloads:
    def __init__(
        self,
        config_path: Path,
        state_dir: Path,
        meta: Meta,
        clock: Clock,
        metrics: Metrics,
        *,
        refused: ConfigError | None = None,
        snapshot: Snapshot | None = None,
        store: StoreWorker | None = None,
    ) -> None:
        """`refused` and `snapshot`: the files on disk were refused at start, and the daemon runs
        this saved last good set instead."""
        self.config_path = config_path
        self.state_dir = state_dir
        self.meta = meta
        # The verdict's record in the store is written on the store's thread, as every write is.
        self.store = store or inline()
        self.clock = clock
        self.metrics = metrics
        self.generation = 1
        metrics.config_generation.set(self.generation)
        self.last: dict[str, object] | None = None
        self.refused: dict[str, object] | None = None
        if refused is not None and snapshot is not None:
            self.refused = {
                "at": clock.now().isoformat(),
                "problems": [str(p) for p in refused.problems],
                "snapshot": snapshot.to_json(),
            }
            metrics.config_valid.set(0)
            metrics.config_from_snapshot.set(1)
        self._busy = False
        self._seq = 0

    async def candidate(self, running: Bundle) -> Bundle | None:
        """The set now on disk, when it loads cleanly and changes nothing that needs a restart;
        else None, with the refusal recorded (the running set stays)."""
        if self._busy:
            log.warning("reload.skipped", reason="a reload is already running")
            return None
        self._busy = True
        notify("RELOADING=1")
        try:
            new = await asyncio.to_thread(
                build, self.config_path, with_senders=True, clock=self.clock, region_cache=True
            )
        except ConfigError as e:
            problems = [str(p) for p in e.problems]
            log.error("reload.rejected", problems=problems, detail="the running configuration stays")
            self.metrics.config_valid.set(0)
            if self.refused is not None:
                self.refused = self.refused | {"problems": problems, "at": self.clock.now().isoformat()}
            await self._record(False, problems)
            return None
        finally:
            self._busy = False
            notify("READY=1")
        fixed = [
            what
            for what, old, now in (
                ("state_dir", running.config.state_dir.resolve(), new.config.state_dir.resolve()),
                ("listen", running.config.file.listen, new.config.file.listen),
                ("public_listen", running.config.file.public_listen, new.config.file.public_listen),
                ("store", running.config.file.store, new.config.file.store),
                # The feed client lives as long as the process; every client takes the same policy.
                ("http", running.config.file.http, new.config.file.http),
            )
            if old != now
        ]
        if fixed:
            problems = [f"{what} cannot change on reload; restart instead" for what in fixed]
            log.error("reload.rejected", problems=problems)
            await self._record(False, problems)
            await close_all(new)
            return None
        return new

    async def applied(self, new: Bundle) -> None:
        """The daemon runs `new` now."""
        self.generation += 1
        log.info(
            "reload.applied",
            generation=self.generation,
            feeds=[f.spec.id for f in new.config.feeds],
            rules=len(new.ruleset.rules),
            missing_credentials=sorted(new.missing),
        )
        self.refused = None
        self.metrics.config_valid.set(1)
        self.metrics.config_from_snapshot.set(0)
        await self._record(True, [])

    async def _record(self, ok: bool, problems: list[str]) -> None:
        """The last reload's outcome, for status, health and metrics."""
        now = self.clock.now()
        self.last = {"at": now.isoformat(), "ok": ok, "problems": problems, "generation": self.generation}
        value = json.dumps(self.last)
        # For `warnd reload`, which waits for this verdict (the store may be a remote server).
        self._seq += 1
        with contextlib.suppress(OSError):
            write_atomic(self.state_dir / RELOAD_VERDICT, json.dumps(self.last | {"seq": self._seq}))
        with contextlib.suppress(DatabaseError):
            await self.store.run(self.meta.put, LAST_RELOAD, value)
        m = self.metrics
        m.reloads.labels("applied" if ok else "rejected").inc()
        m.reload_ok.set(1 if ok else 0)
        m.reload_at.set(now.timestamp())
        m.config_generation.set(self.generation)


async def close_all(bundle: Bundle) -> None:
    closers: list[Sender | OpsSender] = [*bundle.senders.values(), *bundle.ops.values()]
    for sender in closers:
        with contextlib.suppress(Exception):
            await sender.aclose()
