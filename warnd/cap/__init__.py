"""CAP documents: each warning as a CAP 1.2 alert (`alert`), and how grave, urgent and certain
it is and how long it stands (`grading`)."""

from warnd.cap.alert import MAX_POINTS, cap_time, describe, render_cap
from warnd.cap.grading import EXPIRES, Grade, expires, grade, is_over

__all__ = [
    "EXPIRES",
    "MAX_POINTS",
    "Grade",
    "cap_time",
    "describe",
    "expires",
    "grade",
    "is_over",
    "render_cap",
]
