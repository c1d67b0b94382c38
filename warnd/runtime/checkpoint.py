"""A delivery's progress kept in the outbox as the channel reports it (channels.base.Checkpoint)."""

from __future__ import annotations

from warnd.store.outbox import Outbox
from warnd.store.worker import StoreWorker


class OutboxCheckpoint:
    def __init__(self, outbox: Outbox, delivery_id: int, store: StoreWorker) -> None:
        self.outbox = outbox
        self.delivery_id = delivery_id
        self.store = store

    async def part_sent(self, remote_id: str | None) -> None:
        await self.store.run(self.outbox.record_part, self.delivery_id, remote_id)

    async def part_unanswered(self, part: int) -> None:
        await self.store.run(self.outbox.record_unanswered, self.delivery_id, part)
