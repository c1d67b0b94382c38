"""Silence is an alarm, in two measures.

Failing: every poll since the first failed one failed, for longer than the feed's `fail_after`
(`failing_reason`). Seconds matter here: a tsunami feed that refuses is an outage now.

Stale: the feed fails, or answers but does not change, for longer than its `stale_after`
(`stale_reason`): days for feeds whose documents change rarely. A stale feed raises its own
operator notice (a log line at warning level, and `stale_since` in the state database that
`warnd status` shows) and clears it, with another log line, when the feed recovers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from warnd.config.schema import FeedSpec
from warnd.obs import get_logger
from warnd.store.feedstate import FeedState, FeedStates

log = get_logger("warnd.health")


def _t(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _span(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"


def stale_reason(spec: FeedSpec, state: FeedState, now: datetime, started: datetime) -> str | None:
    """Why the feed is stale now, or None. A feed never polled successfully counts from the
    daemon's start, so a feed that is dead from the first poll is noticed too."""
    if spec.stale_after is None:
        return None
    limit = timedelta(seconds=spec.stale_after)
    last_ok = _t(state.last_ok) or started
    if now - last_ok > limit:
        why = f"no successful poll for {_span(now - last_ok)}"
        return why + (f" (last error: {state.last_error})" if state.last_error else "")
    last_change = _t(state.last_change) or started
    if now - last_change > limit:
        return f"document unchanged for {_span(now - last_change)}"
    return None


def failing_reason(spec: FeedSpec, state: FeedState, now: datetime, started: datetime) -> str | None:
    """Why the feed counts as failing now, or None. Measured from the first failed poll of the
    current run (kept in the store, so a restart does not reset it: the notice stays raised
    rather than being cleared and raised again); a good poll ends the run."""
    if not state.failures:
        return None
    since = _t(state.failing_since) or started
    failing = now - since
    if failing.total_seconds() < spec.fail_limit:
        return None
    what = "critical feed" if spec.critical else "feed"
    why = f"{what} {spec.id} failing for {_span(failing)} ({state.failures} poll(s) in a row"
    why += f"; last error: {state.last_error})" if state.last_error else ")"
    if spec.critical:
        why += ": warnd cannot see new hazards from it"
    return why


def check(states: FeedStates, feeds: Iterable[FeedSpec], now: datetime, started: datetime) -> list[str]:
    """Raise and clear notices; returns the ids of the feeds stale now."""
    stale: list[str] = []
    for spec in feeds:
        state = states.get(spec.id)
        reason = stale_reason(spec, state, now, started)
        if reason is not None:
            stale.append(spec.id)
            if state.stale_since is None:
                states.set_stale(spec.id, now, reason)
                log.warning("feed.stale", feed=spec.id, reason=reason, stale_after_s=spec.stale_after)
        elif state.stale_since is not None:
            states.set_stale(spec.id, None)
            log.info("feed.recovered", feed=spec.id, stale_since=state.stale_since)
    return stale
