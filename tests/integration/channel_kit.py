"""What the channel tests (X, Telegram, Mastodon, Bluesky) hand a sender besides the delivery:
a checkpoint that keeps what the channel recorded, a map that is ready after a delay, and the
direct outbound policy for loopback fakes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from warnd.channels.base import Picture
from warnd.config.outbound import Outbound

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")


@dataclass
class Kept:
    """A checkpoint keeping what the channel recorded in lists the test reads."""

    parts: list[str | None] = field(default_factory=list)
    unanswered: list[int] = field(default_factory=list)

    async def part_sent(self, remote_id: str | None) -> None:
        self.parts.append(remote_id)

    async def part_unanswered(self, part: int) -> None:
        self.unanswered.append(part)


@dataclass
class Ready:
    """A map ready `delay` seconds after the sender first asks for it."""

    picture: Picture | None
    delay: float = 0.0

    async def wait(self, seconds: float) -> Picture | None:
        if self.delay > seconds:
            await asyncio.sleep(seconds)
            return None
        await asyncio.sleep(self.delay)
        return self.picture
