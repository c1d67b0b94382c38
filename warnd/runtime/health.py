"""Silence is an alarm: a feed that fails, or stops changing, for longer than its `stale_after`
raises an operator notice (a log line at warning level, and `stale_since` in the state database
that `warnd status` shows) and clears it, with another log line, when the feed recovers."""

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
