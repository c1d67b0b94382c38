"""`warnd status` from the state database judges ages and holds at the time it is given."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warnd.runtime.status import from_database
from warnd.store.db import connect
from warnd.store.feedstate import FeedStates
from warnd.store.meta import LAST_RELOAD, Meta
from warnd.store.targets import Targets

# Far from today: an age or hold judged on the system's time instead would not match.
POLLED = datetime(2031, 1, 2, 3, 0, tzinfo=UTC)


def _state(state_dir: Path) -> None:
    conn = connect(state_dir / "warnd.db")
    FeedStates(conn).ok("quakes", POLLED, etag=None, last_modified=None, body_hash="h", changed=True)
    Targets(conn).hold("account:jabar", POLLED + timedelta(minutes=15), "rate_limited", "429")
    Meta(conn).put(LAST_RELOAD, json.dumps({"outcome": "applied", "at": "2031-01-02T02:00:00Z"}))
    conn.close()


def test_ages_and_holds_are_judged_at_the_time_given(tmp_path: Path) -> None:
    _state(tmp_path)
    during = from_database(tmp_path, ["quakes"], POLLED + timedelta(seconds=90))
    assert during["feeds"][0]["age_s"] == 90.0
    assert [t["target"] for t in during["targets"]] == ["account:jabar"]
    assert during["last_reload"] == {"outcome": "applied", "at": "2031-01-02T02:00:00Z"}
    after = from_database(tmp_path, ["quakes"], POLLED + timedelta(hours=1))
    assert after["feeds"][0]["age_s"] == 3600.0
    assert after["targets"] == []  # the hold is over by then
