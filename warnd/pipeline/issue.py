"""After the rules, the one step that issues warnings: from a rule match to the warnings to
commit, each with its text, its CAP document and its targets, and every post not made with
its reason.

First the plan: one post per account, each naming only the account's own regions, of the kind
the event's history calls for (pipeline.changes). An event too old to be news (pipeline.age:
older than its feed's `max_age`, or already there and too old at the feed's first poll) gets no
post but the close (cancel, all-clear) of one already made. Then each planned post is rendered,
given its CAP document and routed to its targets.

Noise control, in order: what pipeline.changes holds back (a gauge reading not yet confirmed, a
level flapping around a threshold, a revision that changed nothing material); a plain
earthquake post is inhibited per account: only for an account that has a tsunami warning for the
same quake queued or sent (there the tsunami post speaks for the quake; an account outside the
warning zones, which may still feel the quake strongly, gets its earthquake post); a rule's
`cooldown` holds back further NEW posts to an account; an operator silence mutes a rule, an
account or a region until a time. Life-safety posts (model.life_safety, the one definition) are
never held back by a silence or a cooldown. Once rendered, a post whose text repeats the
account's last post, or whose warning is already issued, is dropped.

Pure: what it needs of the store (what was posted, silences, deliveries) comes in through
`pipeline.ports.History`, read by runtime; what it decides goes back as values for runtime to
commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from warnd import model
from warnd.cap import map_url, render_cap
from warnd.config.schema import Partner
from warnd.geo import Outlines, RegionIndex, covers
from warnd.model import (
    ChangeKind,
    Hazard,
    HazardEvent,
    Match,
    Reason,
    Region,
    Target,
    Warning,
    WarningKind,
    ZonePart,
)
from warnd.pipeline.age import CLOSING, Freshness, too_old
from warnd.pipeline.changes import left_out, post_kind, quake_revision, tsunami_revision
from warnd.pipeline.ports import History
from warnd.pipeline.render import Renderer

# Drops of an event too old to post: said once per event, not once per account.
AGED = frozenset({Reason.STALE, Reason.BASELINE})


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    lang: str
    regions: tuple[str, ...]
    include_url: bool = False
    # The names of the account's area, which every text carries (render: area, area_tags);
    # empty: the whole country.
    area: tuple[str, ...] = ()
    # The channels it publishes on, each a target of its own (None: the one channel of an
    # account that has one, target 'account:<name>').
    channels: tuple[str | None, ...] = (None,)


@dataclass(frozen=True, slots=True)
class Post:
    match: Match
    account: AccountView
    kind: WarningKind
    regions: tuple[Region, ...]
    # What the account already posted about the event, oldest first.
    earlier: tuple[Warning, ...] = ()
    # A tsunami escalation: the zones raised, at their new level; a de-escalation: the zones
    # lowered, at their new level ("" when no longer warned at all).
    changed: tuple[ZonePart, ...] = ()

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
    # The warning rendered before it was dropped, if it got that far.
    warning_id: str | None = None


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
    # Where the maps are published (config `maps.public_url`); None: CAP names no map.
    maps_url: str | None = None
    # The regions the maps are drawn on, for the map's alt text; None: no alt text.
    regions: RegionIndex | None = None
    # The WebSub subscriptions that get each account's next warning (active, within their
    # lease), by account: read from the store by runtime, handed in as data.
    websub: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Automatic warnings get their CAP documents after the commit (Issued.cap_order): the daemon,
    # which posts the text first; a simulation makes them at once.
    defer_cap: bool = False


@dataclass(frozen=True, slots=True)
class Issued:
    """A warning to commit with every delivery it needs."""

    warning: Warning
    targets: tuple[Target, ...]
    # What the warning is about and the source's credit (the feed catalogue's `attribution`),
    # which the outbox keeps beside the warning (what partners' webhooks carry).
    event: HazardEvent
    attribution: str | None
    # Its CAP 1.2 document; None: made after the warning is committed (`cap_order`, runtime.cap_fill),
    # so that the polygons of regions not warned before are not on the path of the text post.
    cap: str | None
    # What a screen reader says for the warning's published map (warnd.maps.alt), made here,
    # where the match's regions and notes are known, and kept with the warning: partners'
    # webhooks, its CAP <resourceDesc> and the X post's image all say these words. None: no
    # map is published for it.
    map_alt: str | None = None
    # What the account posted about the event before it, oldest first, as its CAP <references>
    # name them (`_referred`: ids and times, not texts).
    earlier: tuple[Warning, ...] = ()

    @property
    def cap_order(self) -> CapOrder:
        return CapOrder(
            self.warning, self.event, tuple(_referred(w) for w in self.earlier), self.attribution, self.map_alt
        )


def _referred(w: Warning) -> Warning:
    """An earlier warning as a CAP <references> names it (its id and time), without its text,
    regions and zones: the orders of a document's warnings are held until their documents are
    made, and a document with many warnings per account held every earlier one whole (the
    growth benchmark's 1,000 overlapping rules: 170 MB more at the peak)."""
    return replace(w, text="", regions=(), zone_parts=())


@dataclass(frozen=True, slots=True)
class CapOrder:
    """What a warning's CAP document is made from, when it is made after the warning's commit:
    right after it by the node that issued it, or from the store by any node when that one
    stopped first (runtime.cap_fill)."""

    warning: Warning
    event: HazardEvent
    earlier: tuple[Warning, ...]
    attribution: str | None
    map_alt: str | None


def make_cap(order: CapOrder, desk: Desk, texts: Mapping[str, str] | None = None) -> str:
    """The warning's CAP 1.2 document, as the configuration `desk` was built from says."""
    return render_cap(
        order.warning,
        order.event,
        order.earlier,
        attribution=order.attribution,
        sender=desk.cap_sender,
        sender_name=desk.cap_sender_name,
        outlines=desk.outlines,
        map_url=map_url(desk.maps_url, order.warning),
        texts=texts,
        map_alt=order.map_alt,
    )


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


def life_safety(match: Match, regions: Sequence[Region]) -> bool:
    """model.life_safety for what the post to these regions will say: the event's level and
    each region's own (a tsunami zone's Awas), as the warning's level is rendered."""
    notes = dict(match.region_notes)
    levels = (match.event.level, *(notes.get(r.code) for r in regions))
    return model.life_safety(match.event.hazard, match.priority, levels)


def plan(
    match: Match,
    accounts: Mapping[str, AccountView],
    history: History,
    now: datetime,
    freshness: Freshness,
) -> tuple[list[Post], list[Drop]]:
    """What each account of the match should post, and each post held back with its reason."""
    posts: list[Post] = []
    drops: list[Drop] = []
    ev = match.event
    old = too_old(ev, now, freshness)
    for name in match.accounts:
        account = accounts[name]
        regions = tuple(r for r in match.regions if not account.regions or covers(r.code, account.regions))
        # An account outside the message is looked up only when the message could leave one out.
        leaves = match.change is ChangeKind.CANCELLED or ev.ended or ev.hazard is Hazard.TSUNAMI
        past = history.warnings(ev.id, name) if regions or leaves else []
        changed: tuple[ZonePart, ...] = ()
        left = None if regions else left_out(match, past)
        if not regions and left is None:
            drops.append(
                Drop(
                    match.rule,
                    name,
                    Reason.OUTSIDE_ACCOUNT_AREA,
                    f"none of {[r.code for r in match.regions]} in {list(account.regions)}",
                )
            )
            continue
        verdict: WarningKind | tuple[Reason, str]
        if left is not None:
            # An account the message left out: what it is told is decided there.
            verdict, regions, changed = left
        else:
            verdict = post_kind(match, past, now)
        if isinstance(verdict, tuple):
            drops.append(Drop(match.rule, name, *verdict))
            continue
        if old is not None and verdict not in CLOSING:
            drops.append(Drop(match.rule, name, *old))
            continue
        if left is None and verdict is WarningKind.UPDATE and ev.hazard is Hazard.EARTHQUAKE:
            verdict, regions = quake_revision(match, past, regions)
            if isinstance(verdict, tuple):
                drops.append(Drop(match.rule, name, *verdict))
                continue
        elif left is None and verdict is WarningKind.UPDATE and ev.hazard is Hazard.TSUNAMI:
            verdict, changed = tsunami_revision(match, past, regions)
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
        urgent = life_safety(match, regions)
        if not urgent:
            muted = history.silenced(match.rule, name, [r.code for r in regions])
            if muted is not None:
                drops.append(Drop(match.rule, name, Reason.SILENCED, muted))
                continue
        if verdict is WarningKind.NEW and match.cooldown and not urgent:
            last = history.last_from_rule(match.rule, name)
            if last is not None and (now - last.created_at).total_seconds() < match.cooldown:
                drops.append(
                    Drop(match.rule, name, Reason.COOLDOWN, f"last post {last.id} at {last.created_at.isoformat()}")
                )
                continue
        posts.append(Post(match, account, verdict, regions, tuple(past), changed))
    return posts, drops


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
        outcomes.append(_issued(w, match.event, p.earlier, desk, history, match.region_notes))
    return Issue(tuple(posts), tuple(held), tuple(outcomes))


def _issued(
    w: Warning,
    ev: HazardEvent,
    earlier: Sequence[Warning],
    desk: Desk,
    history: History,
    notes: Sequence[tuple[str, str]] = (),
) -> Issued:
    return issued(
        w,
        ev,
        earlier,
        desk,
        desk.attribution(ev.feed),
        lambda target: history.targeted(ev.id, w.account, target),
        notes=notes,
        defer_cap=desk.defer_cap,
    )


def issued(
    w: Warning,
    ev: HazardEvent,
    earlier: Sequence[Warning],
    desk: Desk,
    attribution: str | None,
    already: Callable[[Target], bool],
    texts: Mapping[str, str] | None = None,
    notes: Sequence[tuple[str, str]] = (),
    defer_cap: bool = False,
) -> Issued:
    """The warning with every delivery it needs: its account, the account's CAP feed, and the
    partners subscribed to it (`already`: whether a target got an earlier warning of the
    account about the event), with its CAP document crediting `attribution` (`texts`: the
    warning's words in its other languages, for the CAP blocks of those; `defer_cap`: made
    after the commit instead, from `Issued.cap_order`) and, when maps are published, the map's
    alt text (`notes`: what the match says of each region). The last part of issuing an
    automatic warning and an operator's bulletin alike (pipeline.bulletin)."""
    alt = None
    if map_url(desk.maps_url, w) is not None and desk.regions is not None:
        # Imported only when maps are published: warnd.maps brings Pillow, kept off the
        # start-up path of a daemon that draws no map.
        from warnd.maps import alt_text

        alt = alt_text(ev, w, desk.regions, credit=desk.renderer.credit(ev), notes=dict(notes) or None)
    order = CapOrder(w, ev, tuple(_referred(x) for x in earlier), attribution, alt)
    cap = None if defer_cap else make_cap(order, desk, texts)
    view = desk.accounts.get(w.account)
    channels = view.channels if view is not None else (None,)
    to = targets(w, ev.hazard.value, desk.partners, already, channels, desk.websub)
    return Issued(w, tuple(to), ev, attribution, cap, alt, order.earlier)


def targets(
    warning: Warning,
    hazard: str,
    partners: Mapping[str, Partner],
    already: Callable[[Target], bool],
    channels: Sequence[str | None] = (None,),
    websub: Mapping[str, Sequence[str]] | None = None,
) -> list[Target]:
    """Where a warning goes: its account on each of its `channels`, the account's CAP feed, the
    WebSub subscriptions to that feed (`websub`: their ids, by account), and the partners
    subscribed to the account whose filters it passes. A partner that was given a warning about
    an event keeps getting that account's later warnings about it (update, cancel, all-clear)
    even when they fall outside its filters: a newsroom that aired an Awas must hear that it was
    lowered or cancelled. `already(target)`: whether that target got an earlier warning of this
    event."""
    out = [Target.account(warning.account, c) for c in channels]
    out.append(Target.feed(warning.account))
    out += [Target.websub(s) for s in sorted((websub or {}).get(warning.account, ()))]
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
