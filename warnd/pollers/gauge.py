"""What every water-level gauge format shares: Siaga levels, quality flags, the event shape.

A gauge is one event per station (`gauge-<family>-<station>`) whose level and reading change;
the reading time orders versions, so a repeated snapshot of the same reading is not news and a
reading older than the known one never replaces it. Levels (notes/feeds.md §9):

- Jakarta levels run Siaga 4 (= "Normal", lowest) to Siaga 1 (highest); here "normal",
  "siaga3", "siaga2", "siaga1";
- the level is taken from the source's own status or its own per-gate thresholds, never from a
  table here; thresholds that are all equal (DSDA's 5000/5000/5000 placeholder) mean "none";
- a reading that leaps and falls back (a single-reading spike into Siaga 1), an impossible
  value, a 0 used for "missing", or a status that disagrees with the thresholds is flagged:
  the rules decide what a flagged reading may do, the parser keeps it visible.

Water levels are carried in centimetres whatever the source used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from warnd.model import Hazard, HazardEvent, MsgType, Status

LEVELS = ("siaga1", "siaga2", "siaga3", "normal")  # most severe first
# A rise or fall this large between two readings is physically unlikely at these gates.
JUMP_CM = 100.0
# Beyond this a stage reading is an instrument fault, not a flood.
MAX_PLAUSIBLE_CM = 2500.0
MIN_PLAUSIBLE_CM = -1000.0

_SIAGA = re.compile(r"siaga\s*([1-4]|i{1,3}|iv)\b", re.IGNORECASE)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Lower bounds in cm of Siaga 3, 2 and 1."""

    siaga3: float
    siaga2: float
    siaga1: float

    @classmethod
    def of(cls, s3: float | None, s2: float | None, s1: float | None) -> Thresholds | None:
        if s3 is None or s2 is None or s1 is None:
            return None
        if s3 == s2 == s1:
            return None  # placeholder: any reading would jump straight to Siaga 1
        if not s3 <= s2 <= s1:
            return None  # not an ordered scale: better no level than a wrong one
        return cls(s3, s2, s1)

    def level(self, cm: float) -> str:
        if cm >= self.siaga1:
            return "siaga1"
        if cm >= self.siaga2:
            return "siaga2"
        if cm >= self.siaga3:
            return "siaga3"
        return "normal"


def level_from_status(text: object) -> str | None:
    """'Status : Siaga 2' -> 'siaga2'; 'Status : Normal' and 'SIAGA IV ' -> 'normal'; 1..4 too."""
    if isinstance(text, int) and not isinstance(text, bool):
        return {1: "siaga1", 2: "siaga2", 3: "siaga3", 4: "normal"}.get(text)
    if not isinstance(text, str):
        return None
    t = text.strip().lower()
    if t.isdigit():
        return level_from_status(int(t))
    m = _SIAGA.search(t)
    if m:
        k = m.group(1).lower()
        n = int(k) if k.isdigit() else _ROMAN[k]
        return "normal" if n == 4 else f"siaga{n}"
    if "normal" in t or t in ("aman", "safe"):
        return "normal"
    return None


def flags_for(
    cm: float, previous_cm: float | None, nxt_cm: float | None, thresholds: Thresholds | None, status: str | None
) -> tuple[str, ...]:
    flags: list[str] = []
    if not MIN_PLAUSIBLE_CM <= cm <= MAX_PLAUSIBLE_CM:
        flags.append("implausible")
    if cm == 0 and thresholds is not None and thresholds.siaga3 > 0 and (previous_cm or 0) > thresholds.siaga3 / 2:
        flags.append("zero_reading")
    if previous_cm is not None and abs(cm - previous_cm) > JUMP_CM:
        if nxt_cm is not None and abs(cm - nxt_cm) > JUMP_CM and (cm - previous_cm) * (cm - nxt_cm) > 0:
            flags.append("spike")
        else:
            flags.append("jump")
    if status is not None and thresholds is not None and thresholds.level(cm) != status:
        flags.append("level_mismatch")
    return tuple(flags)


def gauge_event(
    *,
    family: str,
    station: str,
    feed: str,
    feed_format: str,
    time: datetime,
    cm: float,
    level: str | None,
    flags: tuple[str, ...],
    name: str | None,
    lat: float | None = None,
    lon: float | None = None,
    river: str | None = None,
) -> HazardEvent:
    return HazardEvent(
        id=f"gauge-{family}-{station}",
        feed=feed,
        feed_format=feed_format,
        hazard=Hazard.FLOOD,
        msg_type=MsgType.ALERT,
        status=Status.ACTUAL,
        time=time,
        lat=lat,
        lon=lon,
        level=level,
        place=name,
        source_id=station,
        event_name=river,
        sent=time,
        value=round(cm, 2),
        unit="cm",
        flags=flags,
    )
