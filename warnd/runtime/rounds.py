"""A job the daemon does in rounds on its event loop: one round every so many seconds, or at
once when woken (a change it should act on now), until stopped."""

from __future__ import annotations

import asyncio
import contextlib


class Rounds:
    def __init__(self, every: float) -> None:
        self.every = every
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self.round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.every)

    async def round(self) -> None:
        raise NotImplementedError
