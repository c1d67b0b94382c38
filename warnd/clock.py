"""Where warnd gets the time from, so tests and drills can run on a timeline of their own.

The daemon's time follows the system clock's rate but not its steps. A step (`date -s`, NTP
stepping a clock that was far off, a virtual machine restored from a snapshot) would otherwise
move every cooldown, retry, backoff, rate window, silence and staleness judgement by the size of
the jump, all at once: a jump forward ends cooldowns early (a repeat post), a jump back holds
retries and polls for as long as it was. So a step is taken out as it happens: it is measured
against CLOCK_BOOTTIME (which never steps, and counts time suspended too), logged by the daemon,
and shown on /healthz until a restart adopts the new system time. Slewing, NTP's normal way of
correcting, is followed as it comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

WIB = timezone(timedelta(hours=7), "WIB")
WITA = timezone(timedelta(hours=8), "WITA")
WIT = timezone(timedelta(hours=9), "WIT")


class Clock(Protocol):
    def now(self) -> datetime: ...


# A change of the wall-minus-boot gap larger than this (plus what slewing could add in the time
# since the last reading, at most 500 ppm) is a step.
STEP_MIN = 1.0
SLEW_MAX = 0.0005


class SteadyTime:
    """Seconds since the epoch without the system clock's steps (see the module's docstring)."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        boot: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
    ) -> None:
        self._wall = wall
        self._boot = boot
        self._lock = threading.Lock()
        b = boot()
        self._gap = wall() - b
        self._at = b
        # System time minus warnd's time: the sum of the steps taken out.
        self.offset = 0.0
        self._steps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            w, b = self._wall(), self._boot()
            gap = w - b
            jump = gap - self._gap
            if abs(jump) > STEP_MIN + SLEW_MAX * max(0.0, b - self._at):
                self.offset += jump
                self._steps.append(jump)
            self._gap, self._at = gap, b
            return w - self.offset

    def steps(self) -> list[float]:
        """The steps (seconds, + forward) seen since the last call, for the daemon to report
        and to move its scheduler by."""
        with self._lock:
            out, self._steps = self._steps, []
            return out


# One timeline for the whole process: the poller, the dispatcher and the channels' signatures
# and rate-limit holds all agree on what time it is.
steady = SteadyTime()


def timestamp() -> float:
    return steady()


class SystemClock:
    def now(self) -> datetime:
        return datetime.fromtimestamp(steady(), UTC)


def system_now() -> datetime:
    """The system's own time, steps included, not warnd's timeline: only for what keeps its
    time in the system clock and must be told times on it (APScheduler's triggers)."""
    return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, t: datetime) -> None:
        self._now = t

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
