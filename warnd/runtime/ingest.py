"""One parsed feed document through ledger, rules, stages and render into the outbox.

All of it happens in ONE database transaction: the ledger never records an event whose
warnings were not committed with it. If anything fails half-way the whole document is rolled
back and the next poll brings it again. In the daemon the warnings' CAP documents are the one
thing made after the commit (`defer_cap`, runtime.cap_fill), off the path of the text post.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from warnd.clock import Clock
from warnd.config.schema import Partner
from warnd.geo import Outlines
from warnd.model import (
    ChangeKind,
    EventChange,
    Hazard,
    HazardEvent,
    Match,
    ParseResult,
    Reason,
    Target,
    Warning,
)
from warnd.obs import get_logger
from warnd.pipeline.age import Freshness
from warnd.pipeline.issue import AGED, CapOrder, Desk, Drop, Issue, Issued, issue
from warnd.rules.engine import Skip, evaluate_many
from warnd.runtime.build import Bundle
from warnd.runtime.maps import Drawing
from warnd.runtime.websub_pushes import active_subscriptions
from warnd.store.backend import Database
from warnd.store.decisions import PER_DOCUMENT, Decisions
from warnd.store.issued import IssuedWarnings
from warnd.store.ledger import Ledger
from warnd.store.outbox import Outbox
from warnd.store.silences import Silence, Silences
from warnd.store.zones import ZoneMisses

log = get_logger("warnd.ingest")

# How many of a document's changes are judged by the rules at once: enough for the point events'
# one pass through the region index (rules.engine.evaluate_many) to pay, few enough that a gauge
# storm's verdicts are not all held at once.
JUDGED_AT_ONCE = 256


@dataclass
class IngestReport:
    changes: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in ChangeKind})
    warnings: list[Warning] = field(default_factory=list)
    # The committed warnings with what their maps are drawn from (runtime.maps), in order.
    drawings: list[Drawing] = field(default_factory=list)
    rejected: int = 0
    # Why warnings a rule matched were not issued (silenced, throttled, already warned, ...).
    suppressed: Counter[str] = field(default_factory=Counter)
    # What happened to each changed event, rule by rule, for `warnd simulate --explain`.
    trace: list[dict[str, Any]] = field(default_factory=list)
    # Places the source named that no region bears, by where they were named: "felt" (a quake's
    # felt list) or "description" (a nowcast's text).
    unmapped_places: Counter[str] = field(default_factory=Counter)
    # Tsunami warning zones (one per zone and changed event) whose name matched no regency.
    unmapped_zones: list[str] = field(default_factory=list)
    # Events a rule matched that were too old to post, by reason (stale, baseline): recorded only.
    too_old: Counter[str] = field(default_factory=Counter)
    # The committed warnings whose CAP documents are still to be made (runtime.cap_fill).
    caps: list[CapOrder] = field(default_factory=list)


class _History:
    """The pipeline's view of what was posted and known (outbox and ledger)."""

    def __init__(
        self, issued: IssuedWarnings, ledger: Ledger, silences: Silences, bundle: Callable[[], Bundle], clock: Clock
    ) -> None:
        self.issued_warnings = issued
        self.ledger = ledger
        self.silences = silences
        self.bundle = bundle
        self.clock = clock

    def warnings(self, event_id: str, account: str) -> list[Warning]:
        return self.issued_warnings.warnings(event_id, account)

    def last_from_rule(self, rule: str, account: str) -> Warning | None:
        return self.issued_warnings.last_from_rule(rule, account)

    def issued(self, warning_id: str) -> bool:
        return self.issued_warnings.issued(warning_id)

    def targeted(self, event_id: str, account: str, target: str) -> bool:
        return self.issued_warnings.targeted(event_id, account, target)

    def inhibitor(self, event: HazardEvent, account: str) -> str | None:
        tsunami = self.ledger.related(event, Hazard.TSUNAMI)
        if tsunami is None:
            return None
        view = self.bundle().accounts.get(account)
        # Inhibited only where the tsunami warning reached every channel of the account: the
        # readers of a channel it never reached get the quake instead of nothing.
        channels = view.channels if view is not None else (None,)
        if not all(self.issued_warnings.received(tsunami, account, Target.account(account, c)) for c in channels):
            return None
        return tsunami

    def silenced(self, rule: str, account: str, regions: list[str]) -> str | None:
        now = self.clock.now()
        planned = [
            Silence(f"config#{i}", s.rule, s.account, s.region, s.until, s.reason)
            for i, s in enumerate(self.bundle().config.file.silences)
        ]
        for silence in planned + self.silences.active(now):
            if silence.covers(rule, account, regions, now):
                return silence.describe()
        return None


class Ingest:
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        bundle: Callable[[], Bundle],
        explain: bool = True,
        fence: Callable[[], None] = lambda: None,
        replay: bool = False,
        decisions: bool = False,
        node: str | None = None,
        simulated: bool = False,
        subscribed: Callable[[], Mapping[str, Partner]] = dict,
        defer_cap: bool = False,
    ) -> None:
        """`decisions`: keep each document's trace (with the rules that did not fire for the
        event's hazard) in the store, in its own transaction, for every node's console, as
        decided by `node`. `explain`: report (and log at debug) every rule that
        did not fire, those of other hazards too; `simulate --explain` wants that, the daemon
        only its hazard's rules. `fence`: run first inside each document's transaction; it
        raises to refuse the commit (a node that no longer leads). `replay`: every document is
        current whatever the config says (simulate, following the documents' own times).
        `simulated`: a simulation's outbox, never sent: its warnings are logged as
        `warning.simulated`, not `warning.queued`. `subscribed`: the partners that subscribed
        themselves and were approved (runtime.subscribers), as they stand now. `defer_cap`:
        commit the warnings without their CAP documents, listed in the report's `caps` for the
        caller to make once the text posts are on their way (runtime.cap_fill)."""
        self.defer_cap = defer_cap
        self.subscribed = subscribed
        self.replay = replay
        self.simulated = simulated
        self.conn = conn
        self.fence = fence
        self.explain = explain
        self.decisions = Decisions(conn) if decisions else None
        self.node = node
        self.clock = clock
        self.bundle = bundle
        self.ledger = Ledger(conn)
        self.outbox = Outbox(conn)
        self.zone_misses = ZoneMisses(conn)
        self.history = _History(IssuedWarnings(conn), self.ledger, Silences(conn), bundle, clock)

    def handle(
        self, feed: str, result: ParseResult, *, baseline: bool = False, then: Callable[[], None] | None = None
    ) -> IngestReport:
        """`baseline`: the feed's first poll (no memory of it in the store): what is too old in it
        is recorded as its baseline, never posted. `then`: written in the same transaction, last
        (the poller's record of the feed's state: one commit for the document, not several)."""
        report = IngestReport()
        _rejected(result, report)
        b = self.bundle()
        now = self.clock.now()
        spec = next((f.spec for f in b.config.feeds if f.spec.id == feed), None)
        freshness = Freshness(
            max_age=spec.max_age if spec is not None else None,
            baseline=baseline,
            replay=self.replay or b.config.file.replay,
        )
        desk = replace(issue_desk(b, self.subscribed()), defer_cap=self.defer_cap)
        # Said once the transaction commits: a document rolled back queued nothing.
        committed: list[tuple[Issued, Any]] = []
        # Why each other rule did not fire costs more to write than to decide: written for every
        # change only for a trace or a debug log; for the decision record, only for the changes it
        # keeps (store.decisions: a document's last PER_DOCUMENT). The rules are judged a slice
        # of the document at a time, for the same reason: a gauge storm's readings each held
        # their tens of reasons until the commit, most of its memory.
        told = self.explain or log.is_enabled_for(logging.DEBUG)
        untold: deque[tuple[dict[str, Any], Sequence[Skip]]] = deque(maxlen=PER_DOCUMENT)
        websub_read = False
        with self.conn.transaction():
            self.fence()
            changes = [self.ledger.observe(event, now) for event in result.events]
            for start in range(0, len(changes), JUDGED_AT_ONCE):
                some = changes[start : start + JUDGED_AT_ONCE]
                verdicts = evaluate_many(b.ruleset, b.regions, some, self.explain)
                if not websub_read and any(matches for matches, _skips in verdicts):
                    # Read in the transaction that commits the pushes: a subscription verified
                    # on any node gets the next warning issued anywhere.
                    desk = replace(desk, websub=active_subscriptions(self.conn, b.config.file, now))
                    websub_read = True
                for change, (matches, skips) in zip(some, verdicts, strict=True):
                    step = self._observed(feed, change, matches, skips, report, now, told)
                    if step is None:
                        continue
                    if not told and self.decisions is not None:
                        untold.append((step, skips))
                    elog = log.bind(event_id=change.event.id, feed=feed)
                    aged: Drop | None = None
                    for m in matches:
                        issued = issue(m, desk, self.history, now, freshness)
                        step["rules"].append(_fired(m, issued))
                        committed += self._commit(issued, elog, report, now, m.region_notes)
                        aged = aged or issued.aged
                    if aged is not None:
                        # Recorded in the ledger above, so it is known and never news again.
                        elog.info("event.too_old", reason=aged.reason.value, detail=aged.detail)
                        report.too_old[aged.reason.value] += 1
                        step["too_old"] = {"reason": aged.reason.value, "detail": aged.detail}
            if self.decisions is not None and report.trace:
                for step, not_fired in untold:
                    step["rules"][:0] = [_skipped(s) for s in not_fired]
                self.decisions.add(feed, report.trace, now, self.node)
            if then is not None:
                then()
        for o, elog in committed:
            queued(o, elog, simulated=self.simulated)
        return report

    def _observed(
        self,
        feed: str,
        change: EventChange,
        matches: Sequence[Match],
        skips: Sequence[Skip],
        report: IngestReport,
        now: datetime,
        told: bool,
    ) -> dict[str, Any] | None:
        """Say what the ledger and the rules made of one event, and note the names they could
        not place; the event's trace step, or None when there is nothing to issue. `told`: the
        rules that did not fire are in the step (and the debug log)."""
        ev = change.event
        report.changes[change.kind.value] += 1
        elog = log.bind(event_id=ev.id, feed=feed)
        if change.joined is not None:
            # Another agency's report of a quake the event's agency speaks for: kept as an
            # alias, never posted; said once, since a whole report posts nothing.
            elog.info("event.joined", report=change.joined, speaks=ev.agency)
            report.trace.append({"event_id": ev.id, "change": change.kind.value, "joined": change.joined, "rules": []})
            return None
        if change.kind is ChangeKind.UNCHANGED:
            elog.debug("event.unchanged", reason="unchanged")
            return None
        elog.info(
            "event." + change.kind.value,
            hazard=ev.hazard.value,
            agency=ev.agency,
            time=ev.time.isoformat(),
            magnitude=ev.magnitude,
            lat=ev.lat,
            lon=ev.lon,
            revision=ev.revision,
        )
        step: dict[str, Any] = {"event_id": ev.id, "change": change.kind.value, "rules": []}
        report.trace.append(step)
        if told:
            for s in skips:
                told_of = _skipped(s)
                elog.debug("rule.skipped", rule=s.rule, reason=told_of["reason"], detail=told_of["detail"])
                step["rules"].append(told_of)
        named = list(dict.fromkeys(p for m in matches for p in m.unmapped_places))
        if named:
            # Never silently: the name goes to the operator, who may add it as an alias.
            source = "felt" if ev.felt else "description"
            text = ", ".join(f"{f.mmi} {f.place}" for f in ev.felt) if ev.felt else ev.description
            elog.warning("place.unmapped", source=source, places=named, text=text)
            report.unmapped_places[source] += len(named)
        for zone in dict.fromkeys(z for m in matches for z in m.unmapped):
            # Never silently: the province BMKG named carries the warning, quoting the zone, and
            # an operator is asked to map the name (a notice per zone name).
            elog.warning(
                "zone.unmapped",
                zone=zone,
                rules=[m.rule for m in matches if zone in m.unmapped],
                detail="no regency of that name: the province stands in for it",
            )
            province, _, district = zone.partition("/")
            self.zone_misses.record(province, district, ev.id, feed, now)
            report.unmapped_zones.append(zone)
        return step

    def _commit(
        self, issued: Issue, elog: Any, report: IngestReport, now: datetime, notes: tuple[tuple[str, str], ...]
    ) -> list[tuple[Issued, Any]]:
        """Commit what the issue step decided, and say why each post not made was not; what was
        queued comes back, to be said once the transaction commits."""
        for d in issued.held:
            _suppressed(d, elog, report)
        out = []
        for o in issued.outcomes:
            if isinstance(o, Drop):
                _suppressed(o, elog, report)
                continue
            report.drawings.append(commit(self.outbox, o, now, notes))
            report.warnings.append(o.warning)
            if o.cap is None:
                report.caps.append(o.cap_order)
            out.append((o, elog))
        return out


def commit(outbox: Outbox, o: Issued, now: datetime, notes: tuple[tuple[str, str], ...] = ()) -> Drawing:
    """One issued warning into the outbox with a pending delivery per target, inside the
    caller's transaction: how every warning enters the outbox, automatic or an operator's
    bulletin (runtime.bulletins). What its map is drawn from comes back. The caller says so
    (`queued`) once its transaction has committed."""
    w = o.warning
    outbox.enqueue(w, o.targets, now, event=o.event, attribution=o.attribution, cap=o.cap, map_alt=o.map_alt)
    return Drawing(w, o.event, dict(notes), o.map_alt)


def queued(o: Issued, elog: Any, *, simulated: bool = False) -> None:
    """The line that says a warning is in the outbox (log-based alerting counts it); in a
    simulation, which sends nothing, `warning.simulated`."""
    w = o.warning
    elog.info(
        "warning.simulated" if simulated else "warning.queued",
        warning_id=w.id,
        rule=w.rule,
        account=w.account,
        kind=w.kind.value,
        regions=[r.code for r in w.regions],
    )


def _rejected(result: ParseResult, report: IngestReport) -> None:
    for r in result.rejected:
        # An expired alert or a quarry blast is the feed working as meant, not bad data.
        level = log.info if r.reason in (Reason.EXPIRED, Reason.UNSUPPORTED, Reason.DUPLICATE_ITEM) else log.warning
        known = {"event_id": r.event_id} if r.event_id else {}
        level(
            "item.rejected",
            feed=r.feed,
            item=r.item,
            field=r.field,
            reason=r.reason.value,
            detail=r.message,
            **known,
        )
    report.rejected = len(result.rejected)


def issue_desk(b: Bundle, subscribed: Mapping[str, Partner] | None = None) -> Desk:
    """What issuing needs of the running configuration (automatic warnings and bulletins), with
    the approved subscribers (`subscribed`) beside the configuration's partners."""
    cap = b.config.file.cap
    return Desk(
        renderer=b.renderer,
        accounts=b.accounts,
        partners={**subscribed, **b.config.file.partners} if subscribed else b.config.file.partners,
        cap_sender=cap.sender,
        cap_sender_name=cap.sender_name,
        outlines=b.regions.derived(Outlines),
        attribution=b.attribution,
        maps_url=b.config.file.maps.public_url if b.config.file.maps.enabled else None,
        regions=b.regions,
    )


def _skipped(s: Skip) -> dict[str, Any]:
    """A rule that did not fire, as `simulate --explain` and the decision record show it."""
    return {"rule": s.rule, "fired": False, "reason": s.reason.value, "detail": s.detail}


def _fired(m: Match, issued: Issue) -> dict[str, Any]:
    """A fired rule as `simulate --explain` shows it: the posts planned and what the plan held."""
    return {
        "rule": m.rule,
        "fired": True,
        "regions": [r.code for r in m.regions],
        "unmapped_zones": list(m.unmapped),
        "posts": [p.account.name for p in issued.posts],
        "held": [
            {"account": d.account, "reason": d.reason.value, "detail": d.detail}
            for d in issued.held
            if d.reason is not Reason.OUTSIDE_ACCOUNT_AREA
        ],
    }


def _suppressed(d: Drop, elog: Any, report: IngestReport) -> None:
    # An account outside the event's area is routing, not suppression.
    if d.reason is not Reason.OUTSIDE_ACCOUNT_AREA:
        report.suppressed[d.reason.value] += 1
    # An old event is said once, by the caller, not once per account.
    quiet = d.reason is Reason.OUTSIDE_ACCOUNT_AREA or d.reason in AGED
    level = elog.debug if quiet else elog.info
    known = {"warning_id": d.warning_id} if d.warning_id else {}
    level("warning.suppressed", rule=d.rule, account=d.account, reason=d.reason.value, detail=d.detail, **known)
