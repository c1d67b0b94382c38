"""What a feed says happened: a hazard event (a quake, a tsunami message, a gauge reading, a
CAP alert), its change against what was known, the regions, and a parsed document."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from warnd.model.reasons import Reason


class Hazard(StrEnum):
    EARTHQUAKE = "earthquake"
    TSUNAMI = "tsunami"
    FLOOD = "flood"
    WEATHER = "weather"
    OTHER = "other"


class MsgType(StrEnum):
    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"


class Status(StrEnum):
    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class ChangeKind(StrEnum):
    """What the ledger saw compared with what it already knew."""

    NEW = "new"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    UNCHANGED = "unchanged"


# Two reports are one earthquake when their origin times and epicentres are this close (BMKG
# revises the first automatic solution by a second or two and a few hundredths of a degree).
SAME_QUAKE_SECONDS = 3.0


SAME_QUAKE_DEGREES = 0.3


# BMKG's ids are made of the origin second, and Indonesia has thousands of quakes a year: two of
# one second can be a country apart. A report whose id names a known event is that event only when
# its epicentre lies within this distance of it. Wider than SAME_QUAKE_DEGREES, because the id
# already says the second is the same and one agency's revision of its solution may move further
# than two copies of one report do (Nagekeo PD-1 -> PD-2 moved 0.08 deg); narrow enough that the
# two ends of the archipelago, or two provinces, are never one quake.
SAME_ID_DEGREES = 1.0


@dataclass(frozen=True, slots=True)
class Felt:
    """One place in a 'Dirasakan' list: MMI as written (roman, maybe a range) and its bounds."""

    mmi: str
    mmi_min: int
    mmi_max: int
    place: str

    def to_json(self) -> dict[str, Any]:
        return {"mmi": self.mmi, "mmi_min": self.mmi_min, "mmi_max": self.mmi_max, "place": self.place}


@dataclass(frozen=True, slots=True)
class Zone:
    """A tsunami warning zone (InaTEWS `wzarea`): where, how bad, and when the wave is due."""

    province: str
    district: str
    level: str  # awas | siaga | waspada
    eta: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "province": self.province,
            "district": self.district,
            "level": self.level,
            "eta": iso_utc(self.eta) if self.eta else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Zone:
        return cls(d["province"], d["district"], d["level"], _time_or_none(d.get("eta")))


@dataclass(frozen=True, slots=True)
class Observation:
    """A measured tsunami at a tide gauge (InaTEWS `obsarea`)."""

    place: str
    lat: float | None
    lon: float | None
    height_m: float | None
    time: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "place": self.place,
            "lat": self.lat,
            "lon": self.lon,
            "height_m": self.height_m,
            "time": iso_utc(self.time) if self.time else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Observation:
        return cls(d["place"], d.get("lat"), d.get("lon"), d.get("height_m"), _time_or_none(d.get("time")))


# Fields that say where a report came from or how it was addressed, not what it says: a change in
# them alone is not a revision worth a correction.
_NOT_REVISION = (
    "id",
    "feed",
    "feed_format",
    "source_id",
    "place",
    "sent",
    "aliases",
    "references",
    "flags",
    "instruction",
    "web",
)


_LATER_FIELDS = ("event_name", "description", "stage", "zones", "observations", "ended", "expires", "value", "unit")


@dataclass(frozen=True, slots=True)
class HazardEvent:
    """One normalized observation of a hazard, as one feed reported it at one poll.

    `id` is the identity the parser could derive from the document alone; the ledger may map it
    to an earlier event (the same quake seen in another endpoint or slightly revised).
    """

    id: str
    feed: str
    feed_format: str
    hazard: Hazard
    msg_type: MsgType
    status: Status
    time: datetime
    lat: float | None = None
    lon: float | None = None
    magnitude: float | None = None
    depth_km: float | None = None
    tsunami: bool | None = None
    felt: tuple[Felt, ...] = ()
    level: str | None = None
    severity: str | None = None
    urgency: str | None = None
    certainty: str | None = None
    headline: str | None = None
    place: str | None = None
    area: dict[str, Any] | None = None
    source_id: str | None = None
    # The source's own name for what happened ("Hujan Lebat dan Petir", "TC", "Gempabumi").
    event_name: str | None = None
    description: str | None = None
    # Tsunami warning stage (InaTEWS PD-1 .. PD-4) and its zones and observed heights.
    stage: str | None = None
    zones: tuple[Zone, ...] = ()
    observations: tuple[Observation, ...] = ()
    # True when this message ends the hazard (PD-4, CAP AllClear, a GDACS event no longer current).
    ended: bool = False
    # When the source issued this version; an older version never replaces a newer one.
    sent: datetime | None = None
    expires: datetime | None = None
    # Ids of earlier messages this one updates or cancels (CAP <references>).
    references: tuple[str, ...] = ()
    # Other ids the source has used for this same event (USGS `ids`, BMKG realtime ids).
    aliases: tuple[str, ...] = ()
    # Gauges: the reading, its unit, and quality flags (spike, implausible, zero_reading ...).
    value: float | None = None
    unit: str | None = None
    flags: tuple[str, ...] = ()
    # What the source tells people to do, in its own words, and where it says more (a CAP
    # <instruction> and <web>, BMKG's shakemap beside the document): passed on in warnd's CAP.
    instruction: str | None = None
    web: str | None = None

    @property
    def agency(self) -> str:
        """Who measured it ("bmkg", "usgs", "gdacs"): one agency's reports of a quake are merged
        within its own tolerances, another agency's within wider ones (store.ledger)."""
        return self.feed_format.split("-", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "feed": self.feed,
            "feed_format": self.feed_format,
            "hazard": self.hazard.value,
            "msg_type": self.msg_type.value,
            "status": self.status.value,
            "time": iso_utc(self.time),
            "lat": self.lat,
            "lon": self.lon,
            "magnitude": self.magnitude,
            "depth_km": self.depth_km,
            "tsunami": self.tsunami,
            "felt": [f.to_json() for f in self.felt],
            "level": self.level,
            "severity": self.severity,
            "urgency": self.urgency,
            "certainty": self.certainty,
            "headline": self.headline,
            "place": self.place,
            "area": self.area,
            "source_id": self.source_id,
            "event_name": self.event_name,
            "description": self.description,
            "stage": self.stage,
            "zones": [z.to_json() for z in self.zones],
            "observations": [o.to_json() for o in self.observations],
            "ended": self.ended,
            "sent": iso_utc(self.sent) if self.sent else None,
            "expires": iso_utc(self.expires) if self.expires else None,
            "references": list(self.references),
            "aliases": list(self.aliases),
            "value": self.value,
            "unit": self.unit,
            "flags": list(self.flags),
            "instruction": self.instruction,
            "web": self.web,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HazardEvent:
        return cls(
            id=d["id"],
            feed=d["feed"],
            feed_format=d["feed_format"],
            hazard=Hazard(d["hazard"]),
            msg_type=MsgType(d["msg_type"]),
            status=Status(d["status"]),
            time=datetime.fromisoformat(d["time"].replace("Z", "+00:00")),
            lat=d.get("lat"),
            lon=d.get("lon"),
            magnitude=d.get("magnitude"),
            depth_km=d.get("depth_km"),
            tsunami=d.get("tsunami"),
            felt=tuple(Felt(**f) for f in d.get("felt") or ()),
            level=d.get("level"),
            severity=d.get("severity"),
            urgency=d.get("urgency"),
            certainty=d.get("certainty"),
            headline=d.get("headline"),
            place=d.get("place"),
            area=d.get("area"),
            source_id=d.get("source_id"),
            event_name=d.get("event_name"),
            description=d.get("description"),
            stage=d.get("stage"),
            zones=tuple(Zone.from_json(z) for z in d.get("zones") or ()),
            observations=tuple(Observation.from_json(o) for o in d.get("observations") or ()),
            ended=bool(d.get("ended", False)),
            sent=_time_or_none(d.get("sent")),
            expires=_time_or_none(d.get("expires")),
            references=tuple(d.get("references") or ()),
            aliases=tuple(d.get("aliases") or ()),
            value=d.get("value"),
            unit=d.get("unit"),
            flags=tuple(d.get("flags") or ()),
            instruction=d.get("instruction"),
            web=d.get("web"),
        )

    @property
    def revision(self) -> str:
        """Hash of what matters to a reader: a change here is a revision worth a correction.

        The feed name and source id are left out on purpose: the same quake seen through another
        endpoint is not a revision.
        """
        data = self.to_json()
        for k in _NOT_REVISION:
            data.pop(k)
        # Fields added after the first release count only when set, so that an upgrade does not
        # see every stored event as revised (and post a correction for each).
        for k in _LATER_FIELDS:
            if not data[k]:
                data.pop(k)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EventChange:
    """The ledger's verdict on one polled event. `event.id` is the canonical ledger id."""

    kind: ChangeKind
    event: HazardEvent
    previous: HazardEvent | None = None
    # The id of another agency's report that joined this event, the first time it is seen: it is
    # kept as an alias and posts nothing (store.ledger).
    joined: str | None = None


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: str
    parent_code: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A feed item that was not turned into an event, and why."""

    feed: str
    item: str
    field: str
    reason: Reason
    message: str
    # The event the item would have been, when what was read of it before it failed names one.
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    events: tuple[HazardEvent, ...] = ()
    rejected: tuple[Rejected, ...] = field(default_factory=tuple)
    # Documents this one points to and that hold the detail (an RSS index linking CAP alerts).
    links: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """What a parser knows about the document besides its bytes."""

    feed: str
    now: datetime
    # Where the document came from (URL or path); some formats carry the station id only there.
    url: str = ""


def iso_utc(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _time_or_none(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None
