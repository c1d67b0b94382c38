"""What `warnd status` shows: each feed's health and notices, and the outbox, read from the
state database (read-only; the daemon may be running)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warnd.model import iso_utc
from warnd.store.feedstate import FeedState, FeedStates
from warnd.store.outbox import Outbox
from warnd.store.targets import Targets


def snapshot(state_dir: Path, feed_ids: list[str] | None) -> dict[str, Any]:
    """`feed_ids` None: every feed the database knows (the config on disk may be broken)."""
    path = state_dir / "warnd.db"
    if not path.exists():
        return {
            "state_db": str(path),
            "running_since": None,
            "feeds": [],
            "outbox": {},
            "events": 0,
            "targets": [],
            "dead": [],
        }
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        states = FeedStates(conn)
        ids = feed_ids if feed_ids is not None else [st.feed for st in states.all()]
        feeds = [_feed(fid, states.get(fid)) for fid in ids]
        events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_reload'").fetchone()
        box = Outbox(conn)
        now = datetime.now(UTC)
        return {
            "state_db": str(path),
            "feeds": feeds,
            "outbox": box.counts(),
            # Operator notices of the dispatcher: targets disabled or held, warnings given up.
            "targets": [
                {
                    "target": t.target,
                    "disabled": t.disabled_at is not None,
                    "hold_until": iso_utc(t.hold_until) if t.hold_until else None,
                    "reason": t.reason,
                    "detail": t.detail,
                }
                for t in Targets(conn).all()
                if t.disabled_at is not None or (t.hold_until is not None and t.hold_until > now)
            ],
            "dead": [
                {
                    "id": d.id,
                    "target": d.target,
                    "event_id": d.warning.event_id,
                    "reason": d.reason,
                    "error": d.last_error,
                }
                for d in box.listing(["dead"], limit=20)
            ],
            "events": events,
            "last_reload": json.loads(row[0]) if row else None,
        }
    finally:
        conn.close()


def _feed(feed_id: str, st: FeedState) -> dict[str, Any]:
    if st.stale_since:
        health = "stale"
    elif st.failures:
        health = "failing"
    elif st.last_ok:
        health = "ok"
    else:
        health = "not polled yet"
    return {
        "feed": feed_id,
        "health": health,
        "notice": st.notice if st.stale_since else None,
        "stale_since": st.stale_since,
        "last_ok": st.last_ok,
        "last_change": st.last_change,
        "failures": st.failures,
        "last_error": st.last_error if st.failures else None,
        "next_poll_at": st.next_poll_at,
    }
