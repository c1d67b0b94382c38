"""From a rule match to the posts it asks for: one per account, each naming only the account's
own regions, with the kind of post the event's history calls for. Every drop carries a reason.

Kinds: `new`; `update` (a revision of something already posted: a Ralat; or, when the account's
last post showed another agency's values, that agency's word on the same quake, which the
template says is not a correction); `cancel` (the source withdrew it); `all_clear` (the source
says it is over: PD-4, a CAP all-clear, a gauge back to normal); `escalate` (a gauge rose to a
higher level than any posted since the last all-clear).

Noise control, in order: a gauge reading that jumped and is not yet confirmed by the next one
waits; a level already posted is not posted again until an all-clear; an all-clear waits
`all_clear_after` since the last level post (a level flapping around a threshold); a plain
earthquake post is inhibited per account: only for an account that has a tsunami warning for the
same quake queued or sent (there the tsunami post speaks for the quake; an account outside the
warning zones, which may still feel the quake strongly, gets its earthquake post); a rule's
`cooldown` holds back further NEW posts to an account; an operator silence mutes a rule, an
account or a region until a time. Life-safety posts (priority life_safety, or any region at Awas)
are never held back by a silence or a cooldown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from warnd.geo import covers
from warnd.model import ChangeKind, Hazard, Match, Priority, Reason, Region, Warning, WarningKind
from warnd.pipeline.ports import History

GAUGE_RANK = {"normal": 0, "siaga3": 1, "siaga2": 2, "siaga1": 3}
UNCONFIRMED_FLAGS = frozenset({"jump", "spike", "implausible", "zero_reading"})


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    lang: str
    regions: tuple[str, ...]
    include_url: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    match: Match
    account: AccountView
    kind: WarningKind
    regions: tuple[Region, ...]
    # What the account already posted about the event, oldest first.
    earlier: tuple[Warning, ...] = ()

    @property
    def first_post(self) -> Warning | None:
        return self.earlier[0] if self.earlier else None

    @property
    def last_post(self) -> Warning | None:
        return self.earlier[-1] if self.earlier else None


@dataclass(frozen=True, slots=True)
class Drop:
    rule: str
    account: str
    reason: Reason
    detail: str


def life_safety(match: Match) -> bool:
    return match.priority is Priority.LIFE_SAFETY or any(note == "awas" for _, note in match.region_notes)


def plan(
    match: Match, accounts: Mapping[str, AccountView], history: History, now: datetime
) -> tuple[list[Post], list[Drop]]:
    posts: list[Post] = []
    drops: list[Drop] = []
    ev = match.event
    for name in match.accounts:
        account = accounts[name]
        regions = tuple(r for r in match.regions if not account.regions or covers(r.code, account.regions))
        if not regions:
            drops.append(
                Drop(
                    match.rule,
                    name,
                    Reason.OUTSIDE_ACCOUNT_AREA,
                    f"none of {[r.code for r in match.regions]} in {list(account.regions)}",
                )
            )
            continue
        past = history.warnings(ev.id, name)
        verdict = _kind(match, past, now)
        if isinstance(verdict, tuple):
            drops.append(Drop(match.rule, name, *verdict))
            continue
        inhibitor = (
            history.inhibitor(ev, name) if verdict is WarningKind.NEW and ev.hazard is Hazard.EARTHQUAKE else None
        )
        if inhibitor is not None:
            drops.append(
                Drop(match.rule, name, Reason.INHIBITED, f"this account has tsunami warning {inhibitor} for this quake")
            )
            continue
        if not life_safety(match):
            muted = history.silenced(match.rule, name, [r.code for r in regions])
            if muted is not None:
                drops.append(Drop(match.rule, name, Reason.SILENCED, muted))
                continue
        if verdict is WarningKind.NEW and match.cooldown and not life_safety(match):
            last = history.last_from_rule(match.rule, name)
            if last is not None and (now - last.created_at).total_seconds() < match.cooldown:
                drops.append(
                    Drop(match.rule, name, Reason.COOLDOWN, f"last post {last.id} at {last.created_at.isoformat()}")
                )
                continue
        posts.append(Post(match, account, verdict, regions, tuple(past)))
    return posts, drops


def _kind(match: Match, past: list[Warning], now: datetime) -> WarningKind | tuple[Reason, str]:
    ev = match.event
    if match.change is ChangeKind.CANCELLED:
        return WarningKind.CANCEL if past else (Reason.NOTHING_TO_CANCEL, "cancelled before any post")
    if ev.hazard is Hazard.FLOOD and ev.level in GAUGE_RANK:
        return _gauge_kind(match, past, now)
    if ev.ended:
        if not past:
            return (Reason.NOTHING_TO_CANCEL, "ended before any post")
        if past[-1].kind is WarningKind.ALL_CLEAR:
            return (Reason.ALREADY_WARNED, "the end was already posted")
        return WarningKind.ALL_CLEAR
    if ev.expires is not None and ev.expires <= now:
        return (Reason.EXPIRED_EVENT, f"expired at {ev.expires.isoformat()}")
    if past:
        return WarningKind.UPDATE
    return WarningKind.NEW


def _gauge_kind(match: Match, past: list[Warning], now: datetime) -> WarningKind | tuple[Reason, str]:
    ev = match.event
    rank = GAUGE_RANK[ev.level or "normal"]
    clears = [i for i, w in enumerate(past) if w.kind is WarningKind.ALL_CLEAR]
    active = past[clears[-1] + 1 :] if clears else past
    unconfirmed = sorted(UNCONFIRMED_FLAGS & set(ev.flags))
    if unconfirmed:
        return (Reason.UNCONFIRMED, f"reading {ev.value} flagged {', '.join(unconfirmed)}: waiting for the next")
    if rank == 0:
        if not active:
            return (Reason.NO_LEVEL_CHANGE, "normal, nothing to clear")
        age = (now - active[-1].created_at).total_seconds()
        if age < match.all_clear_after:
            return (Reason.HYSTERESIS, f"back to normal {age:.0f} s after the last level post")
        return WarningKind.ALL_CLEAR
    highest = max((GAUGE_RANK.get(w.level or "normal", 0) for w in active), default=0)
    if rank <= highest:
        return (Reason.NO_LEVEL_CHANGE, f"{ev.level} is not above the level already posted")
    return WarningKind.ESCALATE if active else WarningKind.NEW
