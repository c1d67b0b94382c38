"""What every channel is: something that delivers one rendered warning or says why not."""

from __future__ import annotations

from typing import Protocol

from warnd.model import Warning


class Sender(Protocol):
    name: str

    async def send(self, warning: Warning) -> str | None:
        """Deliver; return the remote id if the channel has one. Raise DeliveryError."""
        ...

    async def aclose(self) -> None: ...
