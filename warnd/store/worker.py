"""The threads that talk to the state database, so that the event loop never waits on it.

A lock held by another process (a backup, an operator's `sqlite3` shell) makes a statement wait
up to BUSY_TIMEOUT; a slow PostgreSQL server makes it wait as long as the server takes. Run on
the event loop, such a wait would stall everything else the daemon does: the endpoint, the
watchdog ping, the other feeds' polls. Async code hands whole units of work (one document's
transaction, one delivery's claim, one round of notices) to this worker and awaits them; the
loop goes on meanwhile.

Writes go to one thread, on the daemon's connection: access stays serialised as it was on the
loop, and a unit never interleaves with another's transaction. Reads that need no transaction
(a feed's validators, health, status, metrics, the CAP feeds) may go to a second thread with a
connection of its own (`reader`): SQLite's write-ahead log lets it read while a writer, this
process's or another's, holds the lock, so a read never queues behind a write waiting it out.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from warnd.store.backend import Database

P = ParamSpec("P")
T = TypeVar("T")


class StoreWorker:
    def __init__(self, *, threaded: bool = True, reader: Database | None = None) -> None:
        """`threaded=False`: each unit runs in the caller, on the loop (one-shot commands and
        tests that drive a single component, where nothing else waits on the loop). `reader`:
        a second connection for `read`; without one, reads queue with the writes."""
        self.reader = reader
        self._writes = ThreadPoolExecutor(1, "warnd-store") if threaded else None
        self._reads = ThreadPoolExecutor(1, "warnd-store-read") if threaded and reader is not None else None

    @property
    def threaded(self) -> bool:
        return self._writes is not None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the store's thread. Should the awaiting task be cancelled,
        the unit still runs to its end (a commit is never cut in half); only its result is lost."""
        return await self._on(self._writes, fn, *args, **kwargs)

    async def read(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` on the reading thread; `fn` must use the `reader` connection (when there is one)."""
        return await self._on(self._reads or self._writes, fn, *args, **kwargs)

    async def _on(self, pool: ThreadPoolExecutor | None, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if pool is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the units already handed over; the connections may be closed after this."""
        for pool in (self._writes, self._reads):
            if pool is not None:
                pool.shutdown(wait=True)
        if self.reader is not None:
            self.reader.close()


def inline() -> StoreWorker:
    return StoreWorker(threaded=False)
