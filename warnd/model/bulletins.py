"""An operator's bulletin: a warning written by hand (Indonesian and English text, the accounts
or regions it is for, hazard, level, exercise or actual), approved by a second operator, then
issued through the same outbox, channels, CAP feeds and partner webhooks as an automatic one.

A bulletin belongs to a series: the first bulletin's id. A correction or a cancel is a bulletin
of its own, in the series of the one it changes, and needs its own approval; once approved, its
posts answer the series' first post as an automatic correction answers the first post about an
event (the series id is the event id of every warning it issues)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from warnd.model.events import Hazard, Status, iso_utc

# The most text one bulletin carries in one language: what fits one CAP <description> as
# partners' systems take it, and a thread of a dozen posts on X, with its exercise mark, the
# regions it names and the account's hashtags added.
TEXT_MAX = 2000
HEADLINE_MAX = 160


class BulletinKind(StrEnum):
    NEW = "new"
    CORRECTION = "correction"
    CANCEL = "cancel"


class BulletinState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Pending when its series was cancelled: there is nothing left for it to change.
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Bulletin:
    id: str
    series: str
    kind: BulletinKind
    state: BulletinState
    author: str
    hazard: Hazard
    level: str | None
    status: Status
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    headline: str
    text_id: str
    text_en: str | None
    created_at: datetime
    approver: str | None = None
    approved_at: datetime | None = None
    rejected_by: str | None = None
    rejected_why: str | None = None
    # Why a cancel cancels (its text is made from it).
    why: str | None = None

    def approved(self, by: str, at: datetime) -> Bulletin:
        return replace(self, state=BulletinState.APPROVED, approver=by, approved_at=at)

    def rejected(self, by: str, why: str) -> Bulletin:
        return replace(self, state=BulletinState.REJECTED, rejected_by=by, rejected_why=why)

    def withdrawn(self) -> Bulletin:
        return replace(self, state=BulletinState.WITHDRAWN)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "series": self.series,
            "kind": self.kind.value,
            "state": self.state.value,
            "author": self.author,
            "approver": self.approver,
            "rejected_by": self.rejected_by,
            "rejected_why": self.rejected_why,
            "hazard": self.hazard.value,
            "level": self.level,
            "status": self.status.value,
            "accounts": list(self.accounts),
            "regions": list(self.regions),
            "headline": self.headline,
            "text_id": self.text_id,
            "text_en": self.text_en,
            "why": self.why,
            "created_at": iso_utc(self.created_at),
            "approved_at": iso_utc(self.approved_at) if self.approved_at else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bulletin:
        return cls(
            id=d["id"],
            series=d["series"],
            kind=BulletinKind(d["kind"]),
            state=BulletinState(d["state"]),
            author=d["author"],
            hazard=Hazard(d["hazard"]),
            level=d.get("level"),
            status=Status(d["status"]),
            accounts=tuple(d.get("accounts") or ()),
            regions=tuple(d.get("regions") or ()),
            headline=d["headline"],
            text_id=d["text_id"],
            text_en=d.get("text_en"),
            created_at=_time(d["created_at"]),
            approver=d.get("approver"),
            approved_at=_time(d["approved_at"]) if d.get("approved_at") else None,
            rejected_by=d.get("rejected_by"),
            rejected_why=d.get("rejected_why"),
            why=d.get("why"),
        )


def _time(v: str) -> datetime:
    return datetime.fromisoformat(v.replace("Z", "+00:00"))
