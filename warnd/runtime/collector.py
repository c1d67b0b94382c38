"""The interpreter's cycle collector, kept off the daemon's long-lived objects.

A full collection walks every object the collector tracks. With the national configuration
loaded (the region layers, the rules, the templates and the libraries' modules) that is about
150,000 objects and 45 to 60 ms of the interpreter, whenever one falls due: as often as not
beside a warning's text post. What the daemon builds to run lives until a reload replaces it,
so once it is built and settled it is moved out of the collector's sight (`gc.freeze`), and a
full collection walks only what came after. `warnd run` starts with the collector off (its
imports and its configuration set were walked again and again on the way to READY: about 170
ms of the national configuration's start); it is on again from the first settling. A reload
gives the frozen objects back (`gc.unfreeze`), so that the replaced set's cycles are collected,
and the new set is frozen in its turn once settled.
"""

from __future__ import annotations

import asyncio
import gc
import time

from warnd.obs import get_logger

log = get_logger("warnd")

# After READY or an applied reload: the maps' outlines (on their thread) and twitter-text's
# expressions are made in the first second; what is made later is the daemon's work, not its set.
SETTLE_AFTER = 10.0


class Collector:
    def __init__(self, after: float = SETTLE_AFTER) -> None:
        self._after = after
        self._pending: asyncio.TimerHandle | None = None

    def settle_soon(self) -> None:
        """Freeze what is alive `after` seconds from now, after one full collection (the garbage
        of the start or the reload is not kept for ever): one pause, at a known moment, in place
        of one in every full collection to come. A settling already pending is not put off:
        reloads in a row never keep the collector off."""
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._after, self.settle)

    def thaw(self) -> None:
        """A reload was tried: the frozen objects are the collector's again, the replaced set's
        and whatever a refused candidate left that a settling froze while it was being built."""
        gc.unfreeze()

    def settle(self) -> None:
        self._pending = None
        started = time.perf_counter()
        found = gc.collect()
        gc.freeze()
        gc.enable()
        took = round((time.perf_counter() - started) * 1000)
        log.info("heap.settled", frozen=gc.get_freeze_count(), collected=found, ms=took)

    def stop(self) -> None:
        """No settling pending: the daemon stops."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
