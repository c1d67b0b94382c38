"""How grave, how urgent and how certain a warning is in CAP's terms, and how long its alert
stands: one table by hazard and level (docs/partners.md, "CAP feeds"), kept apart from the XML
so that the policy can be read, and tested, on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warnd.model import HazardEvent, Warning, WarningKind

_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")


@dataclass(frozen=True)
class Grade:
    severity: str
    urgency: str
    certainty: str


# severity / urgency / certainty by hazard and level: the one table (docs/partners.md, "CAP feeds").
#
# Tsunami, by the InaTEWS zone level of the warned regions (warning.level, the worst of their
# zones): Awas (forecast height > 3 m, full evacuation) and Siaga (0.5-3 m, evacuate) are acted on
# at once, so both are Immediate. Awas is Observed as BMKG's own order to evacuate now; Siaga
# Likely. Waspada (< 0.5 m, stay off beaches and riverbanks) is the InaTEWS model's forecast for
# a coast the wave may reach later: Moderate, Expected, Likely. Once a tide gauge has measured the
# wave (the event has observations: PD-3.x) every level is Observed.
TSUNAMI = {
    "awas": Grade("Extreme", "Immediate", "Observed"),
    "siaga": Grade("Severe", "Immediate", "Likely"),
    "waspada": Grade("Moderate", "Expected", "Likely"),
}
# Flood gauges: the Jakarta water-gate scale, Siaga 1 the highest (the gate is overflowing).
FLOOD = {
    "siaga1": Grade("Extreme", "Immediate", "Observed"),
    "siaga2": Grade("Severe", "Immediate", "Observed"),
    "siaga3": Grade("Moderate", "Expected", "Observed"),
    "normal": Grade("Minor", "Expected", "Observed"),
}
# An earthquake has happened when it is reported: Past and Observed. Severity by the strongest
# felt intensity BMKG reports when it gives one (what people felt), else by magnitude.
QUAKE_MMI = ((9, "Extreme"), (7, "Severe"), (5, "Moderate"), (0, "Minor"))  # MMI >= IX, VII-VIII, V-VI, < V
QUAKE_MAGNITUDE = ((7.0, "Extreme"), (6.0, "Severe"), (5.0, "Moderate"), (-10.0, "Minor"))
# A cancel or all-clear: the threat is over.
ENDED = Grade("Minor", "Past", "Observed")
# Weather and anything else: the source's own values when valid, else these.
WEATHER = Grade("Moderate", "Expected", "Likely")
OTHER = Grade("Unknown", "Unknown", "Unknown")

# How long an alert stands when the source gives no expiry of its own: a tsunami warning until
# BMKG ends it, each update renewing it; the others until the next look.
EXPIRES = {
    "earthquake": timedelta(hours=3),
    "tsunami": timedelta(hours=2),
    "flood": timedelta(hours=3),
    "weather": timedelta(hours=3),
    "other": timedelta(hours=6),
}
EXPIRES_ENDED = timedelta(hours=1)


def _pick(value: Any, allowed: Sequence[str], default: str) -> str:
    v = str(value or "").strip().capitalize()
    return v if v in allowed else default


def is_over(warning: Warning, event: HazardEvent) -> bool:
    return warning.kind in (WarningKind.CANCEL, WarningKind.ALL_CLEAR) or bool(event.ended)


def grade(warning: Warning, event: HazardEvent) -> Grade:
    """Severity, urgency and certainty of the warning (the table above)."""
    hazard = event.hazard.value
    level = (warning.level or event.level or "").lower()
    if is_over(warning, event):
        return ENDED
    if hazard == "tsunami":
        g = TSUNAMI.get(level, TSUNAMI["waspada"])
        return Grade(g.severity, g.urgency, "Observed") if event.observations else g
    if hazard == "flood":
        return FLOOD.get(level, FLOOD["normal"])
    if hazard == "earthquake":
        felt = [int(f.mmi_max or 0) for f in event.felt]
        if felt:
            severity = next(s for floor, s in QUAKE_MMI if max(felt) >= floor)
        elif isinstance(event.magnitude, int | float):
            severity = next(s for floor, s in QUAKE_MAGNITUDE if float(event.magnitude) >= floor)
        else:
            severity = "Unknown"
        return Grade(severity, "Past", "Observed")
    default = WEATHER if hazard == "weather" else OTHER
    return Grade(
        _pick(event.severity, _SEVERITY, default.severity),
        _pick(event.urgency, _URGENCY, default.urgency),
        _pick(event.certainty, _CERTAINTY, default.certainty),
    )


def expires(warning: Warning, event: HazardEvent) -> datetime:
    """The source's expiry when it gave one still ahead of the warning, else the default."""
    hazard = event.hazard.value
    theirs = event.expires
    if theirs is not None and theirs > warning.created_at:
        return theirs
    ttl = EXPIRES_ENDED if is_over(warning, event) else EXPIRES.get(hazard, EXPIRES["other"])
    return warning.created_at + ttl
