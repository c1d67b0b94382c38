"""The data that flows through warnd: feed -> HazardEvent -> EventChange -> Warning -> Delivery.

Every class is frozen: a stage never edits what an earlier stage produced, it makes a new value.
Times are timezone-aware UTC datetimes; coordinates are WGS84 degrees.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


class WarningKind(StrEnum):
    NEW = "new"
    UPDATE = "update"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    # A gauge lowered to a Siaga level below the one last posted, still above normal: people who
    # were told Siaga 1 must hear that it eased, not only, hours later, that it is over.
    DEESCALATE = "deescalate"
    ALL_CLEAR = "all_clear"
    # More regions for a warning already posted (BMKG's felt list names a place the account has
    # not warned yet): an update, not a correction.
    EXTEND = "extend"


class Priority(StrEnum):
    LIFE_SAFETY = "life_safety"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 goes first."""
        return list(Priority).index(self)


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


class TargetKind(StrEnum):
    ACCOUNT = "account"
    PARTNER = "partner"
    # An account's CAP feed (named for the account).
    FEED = "feed"


class Target(str):
    """Where a delivery goes, as the outbox, the senders, status and metrics name it:
    'account:<name>', 'partner:<name>' or 'feed:<account>'. A str, so that it is the key, the
    label and the column it always was; built and read only here."""

    __slots__ = ()

    @classmethod
    def of(cls, kind: TargetKind, name: str) -> Target:
        return cls(f"{kind.value}:{name}")

    @classmethod
    def account(cls, name: str) -> Target:
        return cls.of(TargetKind.ACCOUNT, name)

    @classmethod
    def partner(cls, name: str) -> Target:
        return cls.of(TargetKind.PARTNER, name)

    @classmethod
    def feed(cls, account: str) -> Target:
        return cls.of(TargetKind.FEED, account)

    @property
    def kind(self) -> TargetKind | None:
        """None for a name of no known kind (an operator's typo given to `--target`)."""
        prefix, sep, _ = self.partition(":")
        try:
            return TargetKind(prefix) if sep else None
        except ValueError:
            return None

    @property
    def name(self) -> str:
        """The account's or partner's name (the account's, for its CAP feed)."""
        return self.partition(":")[2]


class DeliveryState(StrEnum):
    PENDING = "pending"  # committed, never tried
    IN_FLIGHT = "in_flight"  # an attempt started; after a crash its outcome is unknown
    RETRY = "retry"  # failed, tried again at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # given up: an operator notice was raised
    DROPPED = "dropped"  # removed by an operator


# Why a delivery ended dead or dropped without a channel saying so.
GAVE_UP = "gave_up"
NO_CHANNEL = "no_channel"
OPERATOR = "operator"


class Reason(StrEnum):
    """Why something did not go further. Every drop in warnd carries one of these."""

    # feed items
    MALFORMED = "malformed"
    MISSING_FIELD = "missing_field"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIME = "future_time"
    DUPLICATE_ITEM = "duplicate_item"
    # The item disagrees with itself: two fields that say the same thing (DateTime and
    # Tanggal+Jam, Coordinates and Lintang/Bujur, a headline's magnitude and the magnitude) differ.
    INCONSISTENT = "inconsistent"
    EXPIRED = "expired"
    UNSUPPORTED = "unsupported"
    # ledger
    UNCHANGED = "unchanged"
    OUT_OF_ORDER = "out_of_order"
    # rules
    HAZARD_MISMATCH = "hazard_mismatch"
    FEED_MISMATCH = "feed_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    BELOW_THRESHOLD = "below_threshold"
    OUTSIDE_REGION = "outside_region"
    NO_LOCATION = "no_location"
    OUTSIDE_ACCOUNT_AREA = "outside_account_area"
    LEVEL_MISMATCH = "level_mismatch"
    FIELD_MISMATCH = "field_mismatch"
    UNMAPPED_ZONE = "unmapped_zone"
    # outbox
    ALREADY_WARNED = "already_warned"
    NOT_MATERIAL = "not_material"
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    NO_LEVEL_CHANGE = "no_level_change"
    UNCONFIRMED = "unconfirmed"
    HYSTERESIS = "hysteresis"
    COOLDOWN = "cooldown"
    SILENCED = "silenced"
    SAME_TEXT = "same_text"
    INHIBITED = "inhibited"
    EXPIRED_EVENT = "expired_event"
    # age (pipeline.age): recorded, never posted
    STALE = "stale"  # older than its feed's max_age
    BASELINE = "baseline"  # already there, and too old, when its feed was first polled
    # delivery
    RETRY_EXHAUSTED = "retry_exhausted"
    PERMANENT_FAILURE = "permanent_failure"


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
class ZonePart:
    """What one warning zone says of one region of a match: the zone's level; the part of the
    region it covers, as BMKG wrote it ("BAGIAN UTARA", "PULAU TANABALA"; "" for all of it);
    and, when the region only stands in for a zone whose name matches no regency (the province
    BMKG named), the zone as written ("NTT/NAMA ZONA")."""

    code: str
    level: str
    part: str = ""
    quoted: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Which stretch of coast this is, whatever its level."""
        return (self.code, self.part, self.quoted)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "part": self.part, "quoted": self.quoted}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ZonePart:
        return cls(d["code"], d["level"], d.get("part", ""), d.get("quoted", ""))


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
class Match:
    """A rule that fired for an event, and the regions it fired for (ordered by impact)."""

    rule: str
    event: HazardEvent
    change: ChangeKind
    regions: tuple[Region, ...]
    accounts: tuple[str, ...]
    template: str
    priority: Priority
    # Per region code, what the source or the prediction says about it: the tsunami zone level
    # ("awas") or the predicted intensity ("MMI 5"). Templates group regions by it.
    region_notes: tuple[tuple[str, str], ...] = ()
    # Rule options the per-account stage needs.
    cooldown: float | None = None
    all_clear_after: float = 3600.0
    # Tsunami warning zones that name no known region ("province/district"), to be reported.
    unmapped: tuple[str, ...] = ()
    # What the event said before this revision (None for a new event): whether the change is
    # material is the per-account stage's decision.
    previous: HazardEvent | None = None
    # Places the source names (a nowcast's description, a quake's felt list) that no known
    # region bears, to be reported.
    unmapped_places: tuple[str, ...] = ()
    # Tsunami warning zones one by one, worst level and earliest arrival first: several zones can
    # fall in one region, at different levels and parts of it.
    zone_parts: tuple[ZonePart, ...] = ()


@dataclass(frozen=True, slots=True)
class Warning:
    id: str
    event_id: str
    revision: str
    rule: str
    account: str
    kind: WarningKind
    severity: str | None
    priority: Priority
    regions: tuple[Region, ...]
    lang: str
    text: str
    status: Status
    created_at: datetime
    # The event's level when this was posted (gauge siaga level, tsunami zone level).
    level: str | None = None
    # The agency whose values the post shows (HazardEvent.agency); None in posts made before it
    # was recorded.
    agency: str | None = None
    # What each part of this warning's thread carries of its own post ("PD-3.3", "info ke-4"),
    # so no part repeats a part of another post of the account (X refuses a repeated text);
    # None: the account's first post about an event whose source gives no stage.
    thread_label: str | None = None
    # The tsunami zones this post named, each at its level: what the account's next post about
    # the event is compared with (a zone raised is an escalation). Empty for other hazards and
    # for posts made before it was recorded.
    zone_parts: tuple[ZonePart, ...] = ()

    @property
    def cap_identifier(self) -> str:
        """Its CAP alert's <identifier> (and the name of its file in the account's CAP feed),
        known from the warning alone: never read back from the rendered document."""
        return f"warnd.{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "revision": self.revision,
            "rule": self.rule,
            "account": self.account,
            "kind": self.kind.value,
            "severity": self.severity,
            "priority": self.priority.value,
            "regions": [{"code": r.code, "name": r.name, "level": r.level} for r in self.regions],
            "lang": self.lang,
            "text": self.text,
            "status": self.status.value,
            "created_at": iso_utc(self.created_at),
            "level": self.level,
            "agency": self.agency,
            "thread_label": self.thread_label,
            "zone_parts": [p.to_json() for p in self.zone_parts],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Warning:
        return cls(
            id=d["id"],
            event_id=d["event_id"],
            revision=d["revision"],
            rule=d["rule"],
            account=d["account"],
            kind=WarningKind(d["kind"]),
            severity=d.get("severity"),
            priority=Priority(d["priority"]),
            regions=tuple(Region(r["code"], r["name"], r.get("level", "")) for r in d["regions"]),
            lang=d["lang"],
            text=d["text"],
            status=Status(d["status"]),
            created_at=datetime.fromisoformat(d["created_at"].replace("Z", "+00:00")),
            level=d.get("level"),
            agency=d.get("agency"),
            thread_label=d.get("thread_label"),
            zone_parts=tuple(ZonePart.from_json(p) for p in d.get("zone_parts") or ()),
        )


_SEVERITY_RANK = {"extreme": 0, "severe": 1, "moderate": 2, "minor": 3}
# The highest level of each Indonesian scale: Awas (tsunami zones, volcanoes) and Siaga 1 (the
# Jakarta water gates, whose scale runs Siaga 4 .. Siaga 1).
LIFE_SAFETY_LEVELS = frozenset({"awas", "siaga1"})


def life_safety(hazard: str | None, priority: Priority, levels: Iterable[str | None]) -> bool:
    """The one definition of life safety: a tsunami at any level, a post at Awas or Siaga 1, or
    a rule marked `priority: life_safety`. Such a post goes first in its lane, is never muted by
    a silence nor held by a cooldown, and may spend the reserve a posting budget keeps.

    `levels`: what the post says of its regions (the event's level, a tsunami zone's level)."""
    return (
        hazard == Hazard.TSUNAMI.value
        or priority is Priority.LIFE_SAFETY
        or any((level or "").lower() in LIFE_SAFETY_LEVELS for level in levels)
    )


def urgency_rank(warning: Warning, hazard: str | None) -> int:
    """Delivery order, smallest first: life safety before anything else, then the rule's
    priority, then severity. Age breaks ties."""
    base = (
        Priority.LIFE_SAFETY.rank if life_safety(hazard, warning.priority, (warning.level,)) else warning.priority.rank
    )
    return base * 10 + _SEVERITY_RANK.get((warning.severity or "").lower(), 4)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One warning to one target ('account:<name>', 'partner:<name>', 'feed:<account>')."""

    id: int
    warning: Warning
    target: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    reason: str | None = None
    remote_id: str | None = None
    # Ids of the thread parts already posted (a crash mid-thread resumes after the last one);
    # None for a part X has whose id it never gave (its answer was lost, a re-send was refused as
    # a duplicate).
    parts: tuple[str | None, ...] = ()
    # The part (1-based) whose request went out with no answer recorded: X may have it.
    unanswered: int | None = None
    # What the warning is about and its CAP 1.2 rendering, stored with it at enqueue time so a
    # delivery needs nothing but the outbox row.
    event: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    cap: str = ""

    @property
    def life_safety(self) -> bool:
        return life_safety(self.event.get("hazard"), self.warning.priority, (self.warning.level,))

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and restarts: partners dedupe on it."""
        return "wd-" + hashlib.sha256(f"{self.warning.id}\x1f{self.target}".encode()).hexdigest()[:32]


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
