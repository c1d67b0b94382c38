"""CAP documents: each warning as a CAP 1.2 alert (`alert`), how grave, urgent and certain it is
and how long it stands (`grading`), and an account's feed of them, its Atom index and the names
and served form of its documents (`feed`)."""

from warnd.cap.alert import MAX_POINTS, cap_time, describe, map_url, render_cap
from warnd.cap.feed import (
    HUB_PATH,
    INDEX,
    Document,
    Feed,
    FeedInfo,
    FeedLinks,
    alert_file_name,
    atom,
    document,
    feed_links,
    feed_title,
)
from warnd.cap.grading import EXPIRES, Grade, expires, grade, is_over

__all__ = [
    "EXPIRES",
    "HUB_PATH",
    "INDEX",
    "MAX_POINTS",
    "Document",
    "Feed",
    "FeedInfo",
    "FeedLinks",
    "Grade",
    "alert_file_name",
    "atom",
    "cap_time",
    "describe",
    "document",
    "expires",
    "feed_links",
    "feed_title",
    "grade",
    "is_over",
    "map_url",
    "render_cap",
]
