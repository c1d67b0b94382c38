"""The file channel: each warning as one JSON line, appended and fsynced. For the demo, drills
and any consumer that tails a file; `echo` also prints the text on standard output.

A crash between the append and the outbox update re-appends the line on restart (at least
once); each line carries the delivery's idempotency key so a reader can drop the repeat."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from warnd.channels.base import Budget, Job, Sent
from warnd.errors import DeliveryError, Failure
from warnd.model import Target


class FileSender:
    replies = False
    batch = 1
    channel = "file"
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(self, name: str, path: Path, *, echo: bool) -> None:
        self.target = Target.account(name)
        self.name = name
        self.path = path
        self.echo = echo

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        warning = job.delivery.warning
        record = {**warning.to_json(), "idempotency_key": job.delivery.idempotency_key}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(append_line, self.path, line)
        except OSError as e:
            raise DeliveryError(f"cannot write {self.path}: {e.strerror or e}", Failure.SERVER_ERROR) from None
        if self.echo:
            print(f"\n[{self.name}] {warning.kind.value.upper()}\n{warning.text}\n", flush=True, file=sys.stdout)
        return Sent(remote_id=None)

    async def aclose(self) -> None:
        return None


def append_line(path: Path, line: str) -> None:
    """Appended and on disk before it counts as delivered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
