"""After the rules, the one step that issues warnings: from a rule match to the warnings to
commit, each with its text, its CAP document and its targets, and every post not made with
its reason.

Pure: what it needs of the store (what was posted, silences, deliveries) comes in through
`pipeline.ports.History`, read by runtime; what it decides goes back as values for runtime to
commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warnd.cap import render_cap
from warnd.config.schema import Partner
from warnd.geo import Outlines
from warnd.model import HazardEvent, Match, Reason, Target, Warning, WarningKind
from warnd.pipeline.age import Freshness
from warnd.pipeline.ports import History
from warnd.pipeline.render import Renderer
from warnd.pipeline.stages import AccountView, Drop, Post, plan

# Drops of an event too old to post: said once per event, not once per account.
AGED = frozenset({Reason.STALE, Reason.BASELINE})


@dataclass(frozen=True, slots=True)
class Desk:
    """What issuing needs of the configuration, fixed for one build of it."""

    renderer: Renderer
    accounts: Mapping[str, AccountView]
    partners: Mapping[str, Partner]
    cap_sender: str
    cap_sender_name: str
    outlines: Outlines | None
    # The feed catalogue's full credit of a feed, by feed id.
    attribution: Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Issued:
    """A warning to commit with every delivery it needs."""

    warning: Warning
    targets: tuple[Target, ...]
    # The event as the outbox keeps it beside the warning (what partners' webhooks carry).
    event: dict[str, Any]
    cap: str


@dataclass(frozen=True, slots=True)
class Issue:
    """One match issued: what the plan asked for and dropped, then each planned post's outcome
    in plan order (issued, or dropped once rendered)."""

    posts: tuple[Post, ...]
    held: tuple[Drop, ...]
    outcomes: tuple[Issued | Drop, ...]

    @property
    def issued(self) -> list[Issued]:
        return [o for o in self.outcomes if isinstance(o, Issued)]

    @property
    def aged(self) -> Drop | None:
        """Why the event is too old to post, if it is."""
        return next((d for d in self.held if d.reason in AGED), None)

    @property
    def drops(self) -> list[Drop]:
        return [*self.held, *(o for o in self.outcomes if isinstance(o, Drop))]


def issue(match: Match, desk: Desk, history: History, now: datetime, freshness: Freshness) -> Issue:
    posts, held = plan(match, desk.accounts, history, now, freshness)
    outcomes: list[Issued | Drop] = []
    for p in posts:
        w = desk.renderer.render(
            event=match.event,
            kind=p.kind,
            rule=match.rule,
            template=match.template,
            priority=match.priority,
            target=p.account,
            regions=p.regions,
            first_post=p.first_post,
            now=now,
            notes=dict(match.region_notes),
            parts=match.zone_parts,
            last_post=p.last_post,
            earlier=p.earlier,
            changed=p.changed,
        )
        if p.last_post is not None and p.last_post.text == w.text:
            # An update that says nothing new (PD-3.4 repeating PD-3.3's heights) is not posted
            # again; X would refuse the duplicate anyway.
            outcomes.append(Drop(w.rule, w.account, Reason.SAME_TEXT, "the account's last post says the same"))
            continue
        if history.issued(w.id):
            # The same revision of the event, rule, account and kind: a document brought again.
            outcomes.append(
                Drop(w.rule, w.account, Reason.ALREADY_WARNED, "this warning is already issued", warning_id=w.id)
            )
            continue
        outcomes.append(_issued(w, match.event, p.earlier, desk, history))
    return Issue(tuple(posts), tuple(held), tuple(outcomes))


def _issued(w: Warning, ev: HazardEvent, earlier: Sequence[Warning], desk: Desk, history: History) -> Issued:
    """The warning with every delivery it needs: its account, the account's CAP feed, and the
    partners subscribed to it."""
    event = ev.to_json()
    event["attribution"] = desk.attribution(ev.feed)
    cap = render_cap(
        w,
        ev,
        earlier,
        attribution=desk.attribution(ev.feed),
        sender=desk.cap_sender,
        sender_name=desk.cap_sender_name,
        outlines=desk.outlines,
    )
    to = targets(w, ev.hazard.value, desk.partners, lambda target: history.targeted(ev.id, w.account, target))
    return Issued(w, tuple(to), event, cap)


def targets(
    warning: Warning,
    hazard: str,
    partners: Mapping[str, Partner],
    already: Callable[[Target], bool],
) -> list[Target]:
    """Where a warning goes: its account, the account's CAP feed, and the partners subscribed
    to the account whose filters it passes. A partner that was given a warning about an event
    keeps getting that account's later warnings about it (update, cancel, all-clear) even when
    they fall outside its filters: a newsroom that aired an Awas must hear that it was lowered or
    cancelled. `already(target)`: whether that target got an earlier warning of this event."""
    out = [Target.account(warning.account), Target.feed(warning.account)]
    for name, p in sorted(partners.items()):
        if warning.account not in p.accounts:
            continue
        target = Target.partner(name)
        if wants(p, warning, hazard) or (warning.kind is not WarningKind.NEW and already(target)):
            out.append(target)
    return out


def wants(p: Partner, w: Warning, hazard: str) -> bool:
    if p.hazards is not None and hazard not in p.hazards:
        return False
    if p.levels is not None and (w.level or "").lower() not in p.levels:
        return False
    if p.severities is not None and (w.severity or "unknown").lower() not in p.severities:
        return False
    if p.regions is not None:
        codes = [r.code for r in w.regions]
        if not any(_overlap(c, want) for c in codes for want in p.regions):
            return False
    return True


def _overlap(code: str, want: str) -> bool:
    """A region inside the wanted one, or containing it (a province-wide warning covers it)."""
    return code == want or code.startswith(want + ".") or want.startswith(code + ".")
