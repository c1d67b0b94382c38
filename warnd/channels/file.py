"""The file channel: each warning as one JSON line, appended and fsynced. For the demo, drills
and any consumer that tails a file; `echo` also prints the text on standard output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from warnd.errors import DeliveryError
from warnd.model import Warning


class FileSender:
    def __init__(self, name: str, path: Path, *, echo: bool) -> None:
        self.name = name
        self.path = path
        self.echo = echo

    async def send(self, warning: Warning) -> str | None:
        line = json.dumps(warning.to_json(), ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as e:
            raise DeliveryError(f"cannot write {self.path}: {e.strerror or e}", retryable=True) from None
        if self.echo:
            print(f"\n[{self.name}] {warning.kind.value.upper()}\n{warning.text}\n", flush=True, file=sys.stdout)
        return None

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    async def aclose(self) -> None:
        return None
