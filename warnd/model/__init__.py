"""The data that flows through warnd: feed -> HazardEvent -> EventChange -> Warning -> Delivery.

Every class is frozen: a stage never edits what an earlier stage produced, it makes a new value.
Times are timezone-aware UTC datetimes; coordinates are WGS84 degrees. The package's names are
re-exported here, so callers import from `warnd.model`.
"""

from warnd.model.bulletins import (
    Bulletin,
    BulletinKind,
    BulletinState,
)
from warnd.model.delivery import (
    GAVE_UP,
    NO_CHANNEL,
    OPERATOR,
    Delivery,
    DeliveryState,
    Target,
    TargetKind,
    event_json,
)
from warnd.model.events import (
    SAME_ID_DEGREES,
    SAME_QUAKE_DEGREES,
    SAME_QUAKE_SECONDS,
    ChangeKind,
    EventChange,
    Felt,
    Hazard,
    HazardEvent,
    MsgType,
    Observation,
    ParseResult,
    Region,
    Rejected,
    Source,
    Status,
    Zone,
    iso_utc,
)
from warnd.model.reasons import (
    Reason,
)
from warnd.model.warnings import (
    LIFE_SAFETY_LEVELS,
    Match,
    Priority,
    Warning,
    WarningKind,
    ZonePart,
    life_safety,
    urgency_rank,
)
from warnd.model.websub import (
    Subscription,
    SubscriptionState,
    subscription_id,
)

__all__ = [
    "GAVE_UP",
    "LIFE_SAFETY_LEVELS",
    "NO_CHANNEL",
    "OPERATOR",
    "SAME_ID_DEGREES",
    "SAME_QUAKE_DEGREES",
    "SAME_QUAKE_SECONDS",
    "Bulletin",
    "BulletinKind",
    "BulletinState",
    "ChangeKind",
    "Delivery",
    "DeliveryState",
    "EventChange",
    "Felt",
    "Hazard",
    "HazardEvent",
    "Match",
    "MsgType",
    "Observation",
    "ParseResult",
    "Priority",
    "Reason",
    "Region",
    "Rejected",
    "Source",
    "Status",
    "Subscription",
    "SubscriptionState",
    "Target",
    "TargetKind",
    "Warning",
    "WarningKind",
    "Zone",
    "ZonePart",
    "event_json",
    "iso_utc",
    "life_safety",
    "subscription_id",
    "urgency_rank",
]
