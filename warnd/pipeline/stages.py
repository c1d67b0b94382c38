"""From a rule match to the posts it asks for: one per account, each naming only the account's
own regions, with the kind of post the event's history calls for. Every drop carries a reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from warnd.geo import covers
from warnd.model import ChangeKind, Match, Reason, Region, Warning, WarningKind
from warnd.pipeline.ports import History


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    lang: str
    regions: tuple[str, ...]
    x_limit: bool


@dataclass(frozen=True, slots=True)
class Post:
    match: Match
    account: AccountView
    kind: WarningKind
    regions: tuple[Region, ...]
    first_post: Warning | None


@dataclass(frozen=True, slots=True)
class Drop:
    rule: str
    account: str
    reason: Reason
    detail: str


def plan(match: Match, accounts: Mapping[str, AccountView], history: History) -> tuple[list[Post], list[Drop]]:
    posts: list[Post] = []
    drops: list[Drop] = []
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
        first = history.first_warning(match.event.id, name)
        if match.change is ChangeKind.CANCELLED:
            if first is None:
                drops.append(Drop(match.rule, name, Reason.NOTHING_TO_CANCEL, "cancelled before any post"))
                continue
            kind = WarningKind.CANCEL
        elif match.change is ChangeKind.UPDATED and first is not None:
            kind = WarningKind.UPDATE
        else:
            kind = WarningKind.NEW
        posts.append(Post(match, account, kind, regions, first))
    return posts, drops
