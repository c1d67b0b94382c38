"""What the pure pipeline needs from the outside, as protocols (runtime supplies them)."""

from __future__ import annotations

from typing import Protocol

from warnd.model import HazardEvent, Warning


class History(Protocol):
    def warnings(self, event_id: str, account: str) -> list[Warning]:
        """Every warning an account has had about an event, oldest first."""
        ...

    def last_from_rule(self, rule: str, account: str) -> Warning | None: ...

    def silenced(self, rule: str, account: str, regions: list[str]) -> str | None:
        """The silence muting this post, described, if any."""
        ...

    def inhibitor(self, event: HazardEvent, account: str) -> str | None:
        """The id of an event that makes this account's own post about `event` redundant: the
        tsunami warning of the same quake, if this account has a warning about it queued or
        sent. An account the tsunami warning did not reach gets its earthquake post."""
        ...

    def issued(self, warning_id: str) -> bool:
        """Whether a warning of this id is already in the outbox."""
        ...

    def targeted(self, event_id: str, account: str, target: str) -> bool:
        """Whether `target` was already given a warning of this account about this event."""
        ...
