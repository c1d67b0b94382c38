"""A thread's progress while another process holds the state database's write lock: the record
that could not be written is kept and written, in order, with the next one."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.store.test_ledger_outbox import NOW, _warning
from warnd.runtime.outcomes import OutboxCheckpoint
from warnd.store.outbox import Outbox
from warnd.store.sqlite import connect
from warnd.store.worker import StoreWorker


def test_a_part_recorded_under_a_held_lock_is_kept_and_written_with_the_next(tmp_path: Path) -> None:
    path = tmp_path / "warnd.db"
    conn = connect(path)
    box = Outbox(conn)
    box.enqueue(_warning(), ["account:a"], NOW)
    d = box.head("account:a")
    assert d is not None
    box.begin(d.id, NOW)
    worker = StoreWorker()
    checkpoint = OutboxCheckpoint(box, d.id, worker)

    async def thread() -> None:
        await checkpoint.part_sent("101")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            # Waits out BUSY_TIMEOUT and fails: the channel is not told, the thread goes on.
            await checkpoint.part_sent("102")
        finally:
            other.execute("ROLLBACK")
            other.close()
        await checkpoint.part_unanswered(3)

    try:
        asyncio.run(thread())
    finally:
        worker.close()
    again = box.get(d.id)
    assert again is not None
    assert again.parts == ("101", "102")
    assert again.unanswered == 3
    conn.close()
