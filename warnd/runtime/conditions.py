"""What is wrong right now, in one list: the source of /healthz, of operator notices and of the
STATUS= line, so that the three never disagree.

Each condition names its kind and subject (a feed, a target), how bad it is and what to do.
`degraded`: warnings still flow but something needs an operator (a stale or failing feed, a dead
letter, a disabled account, a refused reload). `failing`: warnd cannot do its job (a critical feed
is failing, no feed is fresh, no account can post).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from warnd.model import SubscriptionState, Target, TargetKind, Zone
from warnd.rules.engine import zone_map
from warnd.runtime.build import Bundle
from warnd.runtime.health import failing_reason, stale_reason
from warnd.store.backend import Database
from warnd.store.feedstate import FeedStates
from warnd.store.outbox import Outbox, TargetQueue
from warnd.store.subscriptions import ACTIVE, PAUSED, Subscriptions
from warnd.store.targets import Targets
from warnd.store.websub import Subscriptions as WebSubSubscriptions
from warnd.store.zones import ZoneMisses

Severity = Literal["degraded", "failing"]


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    subject: str
    severity: Severity
    message: str
    # Said when the condition clears.
    recovery: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "severity": self.severity, "message": self.message}


@dataclass(frozen=True, slots=True)
class Live:
    """What only the running daemon knows."""

    started: datetime
    # The last reload asked since start: {"ok": bool, "problems": [...], "at": ...}, or None.
    last_reload: Mapping[str, Any] | None = None
    # Why the HTTP endpoint is not serving, or None.
    http_error: str | None = None
    # Why the last write to the state database failed (disk full, locked), or None.
    store_error: str | None = None
    # System time minus warnd's time: the system clock's steps since start, taken out.
    clock_offset: float = 0.0
    # Set while the files on disk were refused at start and the saved last good set runs:
    # {"problems": [...], "at": ..., "snapshot": {"digest", "taken_at", ...}}.
    config_refused: Mapping[str, Any] | None = None
    # Targets whose last credential check failed, and why (never a secret).
    credential_failures: Mapping[str, str] | None = None
    # Each feed's latest good answer as the polling node knows it (the store's may be older:
    # an unchanged answer is written at most every FeedStates refresh).
    answered: Mapping[str, datetime] | None = None


def overall(conditions: list[Condition]) -> str:
    if any(c.severity == "failing" for c in conditions):
        return "failing"
    return "degraded" if conditions else "ok"


def summary(found: list[Condition], queues: Mapping[str, TargetQueue], feeds: int) -> str:
    """One line for systemd's STATUS=."""
    stale = sum(c.kind == "feed_stale" for c in found)
    waiting = sum(q.waiting for q in queues.values())
    dead = sum(q.dead for q in queues.values())
    line = f"{overall(found)}: {feeds - stale}/{feeds} feeds fresh, {waiting} queued"
    if dead:
        line += f", {dead} dead"
    # Named: the first thing an operator needs to know of a failing feed is which one.
    failing = sorted(c.subject for c in found if c.kind == "feed_failing")
    if failing:
        line += f"; feed failing: {', '.join(failing)}"
    others = sorted({c.kind for c in found} - {"feed_stale", "feed_failing"})
    return line + (f"; {', '.join(others)}" if others else "")


def collect(
    conn: Database, bundle: Bundle, now: datetime, live: Live, queues: Mapping[str, TargetQueue] | None = None
) -> list[Condition]:
    out: list[Condition] = []
    out += _feeds(FeedStates(conn, live.answered), bundle, now, live)
    out += _targets(conn, bundle, now, Outbox(conn).per_target() if queues is None else queues)
    out += _zones(conn, bundle, now)
    out += _subscriptions(conn)
    out += _websub(conn)
    r = live.last_reload
    if r is not None and not r.get("ok", True):
        problems = list(r.get("problems") or [])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        out.append(
            Condition(
                "reload_failed",
                "config",
                "degraded",
                f"reload at {r.get('at')} refused, the previous set runs: " + "; ".join(problems[:3]) + more,
                "a reload was applied",
            )
        )
    c = live.config_refused
    if c is not None:
        problems = list(c.get("problems") or [])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        snap = c.get("snapshot") or {}
        out.append(
            Condition(
                "config_invalid",
                "config",
                "degraded",
                f"the configuration on disk was refused at {c.get('at')}; running the last good set"
                f" {snap.get('digest')} (saved {snap.get('taken_at')}): " + "; ".join(problems[:3]) + more,
                "the configuration on disk was loaded (a reload was applied)",
            )
        )
    if live.http_error:
        out.append(Condition("http_down", "listen", "degraded", live.http_error, "the HTTP endpoint serves again"))
    if abs(live.clock_offset) >= 1.0:
        out.append(
            Condition(
                "clock_stepped",
                "clock",
                "degraded",
                f"the system clock stepped {live.clock_offset:+.0f} s since warnd started; warnd keeps its own"
                " timeline until restarted: check the time source (NTP), then restart warnd",
                "warnd was restarted on the system time",
            )
        )
    if live.store_error:
        out.append(
            Condition(
                "store_failing",
                "state",
                "failing",
                f"the state database refuses writes ({live.store_error}): new warnings cannot be recorded;"
                " what is queued stays queued. Free disk space or release the lock",
                "the state database takes writes again",
            )
        )
    for target, why in sorted((live.credential_failures or {}).items()):
        out.append(Condition("credential_check_failed", target, "degraded", why, "the credential check passed"))
    for name, why in sorted(bundle.ops_missing.items()):
        out.append(Condition("credentials_missing", f"ops:{name}", "degraded", why, "the credential was found"))
    for feed, why in sorted(bundle.feeds_missing.items()):
        # Said at once, not only once the feed has failed for fail_after: no poll can succeed.
        out.append(Condition("credentials_missing", f"feed:{feed}", "degraded", why, "the credential was found"))
    return out


# An unmapped zone name is a notice until it maps (a reload with regions that know it) or until a
# day has passed since a warning last named it: long enough for an operator to see it, short
# enough that a one-off name does not keep the daemon degraded.
ZONE_NOTICE_SECONDS = 86400.0


def _zones(conn: Database, bundle: Bundle, now: datetime) -> list[Condition]:
    out: list[Condition] = []
    zm = zone_map(bundle.regions)
    for miss in ZoneMisses(conn).since(now - timedelta(seconds=ZONE_NOTICE_SECONDS)):
        if zm.region(Zone(miss.province, miss.district, "")) is not None:
            continue
        codes = zm.province_codes(miss.province)
        where = (
            f"the account(s) of province {', '.join(codes)} received it"
            if codes
            else "its province is unknown too: the accounts of the provinces near the epicentre received it"
        )
        out.append(
            Condition(
                "zone_unmapped",
                miss.text,
                "degraded",
                f'tsunami warning zone "{miss.text}" matches no regency (event {miss.event_id}, feed {miss.feed},'
                f" named {miss.seen} time(s), last {miss.last_seen}): {where}, quoting the zone."
                " Map the name to its regency (warnd/rules/zones.py, config/regions)",
                "the zone maps to a regency now, or no warning has named it for a day",
            )
        )
    return out


def _websub(conn: Database) -> list[Condition]:
    """Each WebSub subscription paused for its failing pushes (runtime.websub_pushes)."""
    out: list[Condition] = []
    for sub in WebSubSubscriptions(conn).listing([SubscriptionState.PAUSED]):
        since = f"{sub.paused_at:%Y-%m-%d %H:%M}Z" if sub.paused_at else "?"
        out.append(
            Condition(
                "websub_paused",
                sub.id,
                "degraded",
                f"WebSub subscription {sub.id} to the feed of {sub.account} paused since {since}"
                f" ({sub.paused_reason}); its pushes wait: `warnd websub resume {sub.id}` once the subscriber"
                f" answers, or `warnd websub remove {sub.id}`",
                "the subscription was resumed or removed",
            )
        )
    return out


def _feeds(states: FeedStates, bundle: Bundle, now: datetime, live: Live) -> list[Condition]:
    out: list[Condition] = []
    stale = 0
    for loaded in bundle.config.feeds:
        spec = loaded.spec
        state = states.get(spec.id)
        failing = failing_reason(spec, state, now, live.started)
        if failing is not None:
            out.append(
                Condition(
                    "feed_failing",
                    spec.id,
                    "failing" if spec.critical else "degraded",
                    failing,
                    f"feed {spec.id} answers again",
                )
            )
        why = stale_reason(spec, state, now, live.started)
        if why is not None:
            stale += 1
            out.append(Condition("feed_stale", spec.id, "degraded", why, "the feed is fresh again"))
    watched = [f for f in bundle.config.feeds if f.spec.stale_after is not None]
    if watched and stale == len(watched):
        out.append(
            Condition(
                "no_fresh_feed",
                "feeds",
                "failing",
                f"all {len(watched)} watched feeds are stale: warnd would not see a new hazard",
                "a feed is fresh again",
            )
        )
    return out


def _subscriptions(conn: Database) -> list[Condition]:
    out = []
    for s in Subscriptions(conn).listing((PAUSED,)):
        out.append(
            Condition(
                "subscription_paused",
                s.target,
                "degraded",
                f"subscription {s.id} ({s.partner}, {s.contact}) paused at {s.paused_at}: {s.paused_reason};"
                f" nothing is sent to it: `warnd subscription resume {s.id}` once its endpoint works,"
                f" or `warnd subscription revoke {s.id}`",
                "the subscription was resumed or revoked",
            )
        )
    return out


def _targets(conn: Database, bundle: Bundle, now: datetime, queues: Mapping[str, TargetQueue]) -> list[Condition]:
    out: list[Condition] = []
    policy = bundle.config.file.dispatch
    blocked: set[str] = set()
    subscribed = {s.target for s in Subscriptions(conn).listing((ACTIVE, PAUSED))}
    for t in Targets(conn).all():
        if t.disabled_at is not None and Target(t.target).kind is not TargetKind.WEBSUB:
            blocked.add(t.target)
            out.append(
                Condition(
                    "target_disabled",
                    t.target,
                    "degraded",
                    f"refused since {t.disabled_at:%Y-%m-%d %H:%M}Z ({t.reason}: {t.detail}); its warnings wait:"
                    f" fix the credential, then `warnd outbox retry --target {t.target}`",
                    "the target was enabled again",
                )
            )
    for target, why in sorted(bundle.missing.items()):
        blocked.add(target)
        out.append(
            Condition(
                "credentials_missing",
                target,
                "degraded",
                f"{why}; its warnings wait (restart warnd after adding it)",
                "the credential was found",
            )
        )
    for target, q in sorted(queues.items()):
        if Target(target).kind is TargetKind.WEBSUB:
            # A subscriber's failing pushes are its own affair until its subscription is paused
            # (websub_paused, below): one notice per subscriber, not one per dead push.
            continue
        if q.dead:
            out.append(
                Condition(
                    "dead_letters",
                    target,
                    "degraded",
                    f"{q.dead} warning(s) will not reach {target}: `warnd outbox list --state dead --target {target}`,"
                    " then retry or drop them",
                    "no dead deliveries are left (retried or dropped)",
                )
            )
        if not q.waiting:
            continue
        # A subscriber's lane has its sender from the store (runtime.subscribers); a paused one
        # is said by its own condition. A revoked (or never approved) one's has none: what still
        # waits there is stranded, as for a partner taken out of the configuration.
        subscriber = target in subscribed
        if target not in bundle.senders and target not in bundle.missing and not subscriber:
            out.append(
                Condition(
                    "no_channel",
                    target,
                    "degraded",
                    f"{q.waiting} delivery(ies) wait for a target the configuration no longer has: "
                    + _renamed(Target(target), bundle)
                    + "restore it or `warnd outbox drop`",
                    "nothing waits for it any more",
                )
            )
        if q.oldest_waiting is not None and (now - q.oldest_waiting).total_seconds() > policy.backlog_alarm:
            age = int((now - q.oldest_waiting).total_seconds() // 60)
            out.append(
                Condition(
                    "backlog",
                    target,
                    "degraded",
                    f"{q.waiting} delivery(ies) waiting, the oldest for {age} min",
                    "the backlog is gone",
                )
            )
    accounts = [Target.account(name, channel) for name, view in bundle.accounts.items() for channel in view.channels]
    if accounts and all(a in blocked for a in accounts):
        out.append(
            Condition(
                "no_account_can_post",
                "accounts",
                "failing",
                f"none of the {len(accounts)} account channels can post (disabled or without credentials)",
                "an account can post again",
            )
        )
    return out


def _renamed(target: Target, bundle: Bundle) -> str:
    """The way out when an account's one channel became one of several (account:NAME is now
    account:NAME/<channel>): the move that keeps its deliveries and their thread."""
    view = bundle.accounts.get(target.owner)
    if target.kind is not TargetKind.ACCOUNT or target.channel or view is None or None in view.channels:
        return ""
    to = " | ".join(str(Target.account(target.owner, c)) for c in view.channels)
    return f"`warnd outbox move {target} <{to}>` (the channel it posted on), or "
