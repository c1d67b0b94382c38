"""A delivery's progress kept in the outbox as the channel reports it (channels.base.Checkpoint)."""

from __future__ import annotations

from warnd.store.outbox import Outbox


class OutboxCheckpoint:
    def __init__(self, outbox: Outbox, delivery_id: int) -> None:
        self.outbox = outbox
        self.delivery_id = delivery_id

    def part_sent(self, remote_id: str | None) -> None:
        self.outbox.record_part(self.delivery_id, remote_id)

    def part_unanswered(self, part: int) -> None:
        self.outbox.record_unanswered(self.delivery_id, part)
