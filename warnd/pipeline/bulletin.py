"""An approved operator's bulletin as warnings to commit: the event it stands for, and per account
the warning, its CAP document and its targets, as pipeline.issue makes them for a rule's match.

The series id is the event id of every warning a series issues, so what follows the first post
is judged as for an automatic warning: a correction is an UPDATE and a cancel a CANCEL of the
account's earlier posts about the event; on X it answers the account's first post in its thread
(the dispatcher's anchor), its CAP alert references the earlier ones, and a partner given the
first gets the rest whatever its filters say.

Pure: what was posted of the series comes in as `earlier` and `already`, read by runtime."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from warnd import model
from warnd.geo import covers
from warnd.model import (
    Bulletin,
    BulletinKind,
    HazardEvent,
    MsgType,
    Priority,
    Region,
    Target,
    Warning,
    WarningKind,
)
from warnd.pipeline.issue import AccountView, Desk, Issued, issued
from warnd.pipeline.wording import COUNTRY, EXERCISE_MARK, hashtag, squash, thread_label, warning_id

# The rule every bulletin's warnings name, and the feed its events come from.
RULE = "bulletin"
FEED = "bulletin"

_MSG_TYPE = {
    BulletinKind.NEW: MsgType.ALERT,
    BulletinKind.CORRECTION: MsgType.UPDATE,
    BulletinKind.CANCEL: MsgType.CANCEL,
}
# The kind of post a bulletin makes where the account has not posted its series yet, and where
# it has (a cancel goes only where it has).
_KIND = {
    BulletinKind.NEW: (WarningKind.NEW, WarningKind.UPDATE),
    BulletinKind.CORRECTION: (WarningKind.NEW, WarningKind.UPDATE),
    BulletinKind.CANCEL: (WarningKind.CANCEL, WarningKind.CANCEL),
}
_WORDS = {
    "id": {"regions": "Wilayah: {names}.", "cancel": "PEMBATALAN: {headline}. {why}"},
    "en": {"regions": "Areas: {names}.", "cancel": "CANCELLED: {headline}. {why}"},
}


def covering(code: str, views: Mapping[str, AccountView]) -> list[str]:
    """The accounts whose area covers a region (an account with no home regions covers all)."""
    return [name for name, view in views.items() if not view.regions or covers(code, view.regions)]


def recipients(accounts: Sequence[str], regions: Sequence[str], views: Mapping[str, AccountView]) -> list[str]:
    """The accounts a bulletin is for: those it names, and those whose area covers a region it
    names (an account with no home regions covers them all), in the configuration's order."""
    covered = {name for code in regions for name in covering(code, views)}
    return [name for name in views if name in accounts or name in covered]


def account_regions(b: Bulletin, view: AccountView, known: Mapping[str, Region]) -> tuple[Region, ...]:
    """What an account's post names: the bulletin's regions inside its area, or, when the
    bulletin names none there, the account's own area."""
    codes = [c for c in b.regions if not view.regions or covers(c, view.regions)] or list(view.regions)
    return tuple(known[c] for c in codes if c in known)


def credit(b: Bulletin, sender_name: str) -> str:
    """Whom the bulletin's CAP alerts and partners' bodies credit: the agency, and who wrote and
    who approved it."""
    return f"{sender_name} (operator bulletin, written by {b.author}, approved by {b.approver})"


def event_of(b: Bulletin, at: datetime) -> HazardEvent:
    """The event a bulletin stands for, as partners receive it beside each warning."""
    return HazardEvent(
        id=b.series,
        feed=FEED,
        feed_format=FEED,
        hazard=b.hazard,
        msg_type=_MSG_TYPE[b.kind],
        status=b.status,
        time=at,
        level=b.level,
        headline=b.headline,
        description=b.text_id,
        sent=at,
    )


def priority(b: Bulletin) -> Priority:
    """Life safety by model.life_safety (a tsunami, an Awas or a Siaga 1); otherwise an
    operator's word goes before the automatic posts of normal priority."""
    return Priority.LIFE_SAFETY if model.life_safety(b.hazard.value, Priority.HIGH, (b.level,)) else Priority.HIGH


def text(b: Bulletin, lang: str, regions: Sequence[Region], view: AccountView) -> tuple[str, str]:
    """The post and its language: the account's language's text (the Indonesian when there is no
    English), marked as an exercise as the templates mark one, naming the regions the bulletin
    named and ending with the account's area as hashtags, as every automatic post does (two
    accounts never post the same words)."""
    lang = "en" if lang == "en" and b.text_en else "id"
    words = _WORDS[lang]
    if b.kind is BulletinKind.CANCEL:
        body = words["cancel"].format(headline=b.headline.rstrip("."), why=b.why or "")
    else:
        body = b.text_en if lang == "en" and b.text_en else b.text_id
    lines = [("" if b.status is model.Status.ACTUAL else EXERCISE_MARK[lang]) + body.strip()]
    if b.regions and regions:
        lines.append(words["regions"].format(names=", ".join(r.name for r in regions)))
    lines.append(" ".join(hashtag(p) for p in (view.area or (COUNTRY,))))
    return squash("\n".join(lines)), lang


def issue_bulletin(
    b: Bulletin,
    desk: Desk,
    known: Mapping[str, Region],
    earlier: Callable[[str], Sequence[Warning]],
    already: Callable[[str, Target], bool],
) -> list[Issued]:
    """The approved bulletin's warnings, one per account, each with its targets and CAP
    document. `known`: the regions by code; `earlier(account)`: the account's warnings of the
    series so far, oldest first; `already(account, target)`: whether that target got one.

    A new bulletin or a correction goes to the accounts it names or whose area covers its
    regions (an UPDATE where the account posted the series before); a cancel goes to every
    account that posted the series, and only to those."""
    if b.approved_at is None or b.approver is None:
        raise ValueError(f"bulletin {b.id} is not approved")
    at = b.approved_at
    event = event_of(b, at)
    attribution = credit(b, desk.cap_sender_name)
    life = priority(b)
    out: list[Issued] = []
    names = recipients(b.accounts, b.regions, desk.accounts)
    if b.kind is BulletinKind.CANCEL:
        names = [n for n in desk.accounts if earlier(n)]
    for name in names:
        view = desk.accounts[name]
        past = tuple(earlier(name))
        kind = _KIND[b.kind][bool(past)]
        regions = account_regions(b, view, known)
        words, lang = text(b, view.lang, regions, view)
        w = Warning(
            id=warning_id(b.series, b.id, RULE, name, kind),
            event_id=b.series,
            revision=b.id,
            rule=RULE,
            account=name,
            kind=kind,
            severity=None,
            priority=life,
            regions=regions,
            lang=lang,
            text=words,
            status=b.status,
            created_at=at,
            level=b.level,
            agency=event.agency,
            thread_label=thread_label(event, past, lang),
        )
        # The CAP alert's block of the other language carries the bulletin's own words in it,
        # when it was written in both.
        other: dict[str, str] = {}
        for x in ("id", "en"):
            said, wrote = text(b, x, regions, view)
            if wrote == x != lang:
                other[x] = said
        out.append(issued(w, event, past, desk, attribution, functools.partial(already, name), other))
    return out
