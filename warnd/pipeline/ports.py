"""What the pure pipeline needs from the outside, as protocols (runtime supplies them)."""

from __future__ import annotations

from typing import Protocol

from warnd.model import Warning


class History(Protocol):
    def first_warning(self, event_id: str, account: str) -> Warning | None: ...
