"""Why something was not done: an item of a document rejected, a match that made no post, a
delivery given up. One set of values, so that a log line, a metric label and `simulate --explain`
name a reason the same way."""

from __future__ import annotations

from enum import StrEnum


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
