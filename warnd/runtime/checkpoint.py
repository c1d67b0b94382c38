"""A delivery's progress kept in the outbox as the channel reports it (channels.base.Checkpoint).

A record that fails (another process holds the store's lock past BUSY_TIMEOUT) is kept here and
written, in order, with the next one: the thread goes on, since the parts already on X are known
to the channel; failing the delivery instead would send the thread again and X would refuse its
parts as duplicates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from warnd.obs import get_logger
from warnd.store.backend import DatabaseError
from warnd.store.outbox import Outbox
from warnd.store.worker import StoreWorker

log = get_logger("warnd.dispatch")


class OutboxCheckpoint:
    def __init__(self, outbox: Outbox, delivery_id: int, store: StoreWorker) -> None:
        self.outbox = outbox
        self.delivery_id = delivery_id
        self.store = store
        self._unwritten: list[Callable[[], None]] = []

    async def part_sent(self, remote_id: str | None) -> None:
        await self._record(functools.partial(self.outbox.record_part, self.delivery_id, remote_id))

    async def part_unanswered(self, part: int) -> None:
        await self._record(functools.partial(self.outbox.record_unanswered, self.delivery_id, part))

    async def flush(self) -> None:
        """What could not be written yet, before the delivery's outcome is recorded."""
        if self._unwritten:
            await self._record(None)

    async def _record(self, step: Callable[[], None] | None) -> None:
        if step is not None:
            self._unwritten.append(step)
        try:
            await self.store.run(self._write)
        except DatabaseError as e:
            log.error(
                "delivery.progress_unrecorded",
                delivery_id=self.delivery_id,
                unwritten=len(self._unwritten),
                error=str(e),
                detail="the delivery goes on; its progress is recorded with the next step",
            )

    def _write(self) -> None:
        while self._unwritten:
            self._unwritten[0]()
            del self._unwritten[0]
