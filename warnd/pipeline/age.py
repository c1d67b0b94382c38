"""Whether an event is still news: an event too old to warn anyone is recorded (the ledger knows
it, so it is never news later) and never posted.

Feeds keep their past: BMKG's gempaterkini and gempadirasakan hold their last 15 quakes, InaTEWS
last30*.xml thirty messages, a gauge snapshot the last reading of every gate however old. A
daemon that meets such a list without a memory of it (a first start, a lost state, a feed added
later) must not post it as new; and a feed that carries an old item for the first time (a
history endpoint, a list re-sorted) must not either.

How old an event is:
- a warning with an expiry (CAP weather) is news while it is in force, whenever it was issued;
  once expired it is dropped as expired, before any question of age;
- an earthquake by its origin time: revisions and other agencies' reports (USGS `updated`, an
  InaTEWS message's `sent`) come later, but the shaking is over when it is over;
- a tsunami warning by its latest message: InaTEWS stages come minutes to tens of minutes apart
  while the warning is in force (Nagekeo 14 Aug 2026: PD-1 at 22:00:37, PD-4 at 00:31:30 UTC,
  the gaps 9 to 40 minutes), and the warning is in force until its end (PD-4) is seen. A
  warning whose last message is older than its max_age without an end is one whose end was
  missed, not one in force;
- anything else (gauge readings, CAP without an expiry, GDACS) by its latest message (`sent`,
  else its time).

Corrections and extensions of an old event are as old as the event and held back with it. Ends
and withdrawals (a CANCEL, an ALL_CLEAR) of what an account posted are never held back for age:
they are not news but the close of a post the public saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from warnd.model import Hazard, HazardEvent, Reason, WarningKind

# Default max_age by hazard, in seconds; a feed's `max_age` overrides it for all its events.
MAX_AGE: Mapping[Hazard, float] = {
    # BMKG's first messages about a quake come within minutes of its origin (the Mentawai M7.3 of
    # 25 Apr 2023, origin 03:00:57 WIB: the tsunami PD-1 sent at 03:05:33, the felt message at
    # 03:05:57). The hour leaves room for slower reporters (another agency, a list endpoint) and
    # for a revision worth a Ralat; past it the shaking is history, not a warning.
    Hazard.EARTHQUAKE: 3600.0,
    # Judged by the latest message (see above): longer than any gap between stages of a warning in
    # force, so a daemon started in the middle of a warning posts it; a warning silent this long
    # without an end is over.
    Hazard.TSUNAMI: 6 * 3600.0,
    # Gauges report every 10 to 30 minutes, manual ones hourly: a reading three hours old is a
    # stuck gauge (DSDA and the Jakarta exports repeat a gate's last reading for days), not the
    # river now.
    Hazard.FLOOD: 3 * 3600.0,
    # BMKG nowcasts carry an expiry and are judged by it; a weather warning without one is taken
    # to hold for about as long as a nowcast does (2 to 6 hours).
    Hazard.WEATHER: 6 * 3600.0,
    Hazard.OTHER: 6 * 3600.0,
}


@dataclass(frozen=True, slots=True)
class Freshness:
    """How old news may be, for the events of one feed at one poll."""

    # The feed's own limit for every hazard it carries; None: MAX_AGE by hazard.
    max_age: float | None = None
    # The feed's first poll, without any memory of it: what is too old is its baseline.
    baseline: bool = False
    # Recorded documents played as if they were current (the demo, `simulate` following the
    # documents' own times): no event is too old.
    replay: bool = False

    def limit(self, hazard: Hazard) -> float:
        return self.max_age if self.max_age is not None else MAX_AGE[hazard]


# Post kinds that close what an account already posted: owed whatever the event's age.
CLOSING = frozenset({WarningKind.CANCEL, WarningKind.ALL_CLEAR})


def too_old(event: HazardEvent, now: datetime, freshness: Freshness) -> tuple[Reason, str] | None:
    """Why the event is too old to be posted (BASELINE in a feed's first poll, else STALE), or
    None if it is still news."""
    if freshness.replay or event.expires is not None:
        return None
    if event.hazard is Hazard.EARTHQUAKE:
        since, what = event.time, "origin time"
    elif event.sent is not None:
        since, what = event.sent, "latest message"
    else:
        since, what = event.time, "time"
    limit = freshness.limit(event.hazard)
    age = (now - since).total_seconds()
    if age <= limit:
        return None
    detail = f"{what} {since.isoformat()} is {duration(age)} old, past max_age {duration(limit)}"
    if freshness.baseline:
        return Reason.BASELINE, detail + ": already there at the feed's first poll"
    return Reason.STALE, detail


def duration(seconds: float) -> str:
    """'45s', '12m', '3h20m', '412d': how an operator reads an age."""
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m:02d}m" if m else f"{h}h"
    return f"{s // 86400}d"
