"""What `warnd status` shows: each feed's health and notices, and the outbox, read from the
state database (read-only; the daemon may be running)."""

from __future__ import annotations

import sqlite3
from typing import Any

from warnd.config.load import Config
from warnd.store.feedstate import FeedState, FeedStates
from warnd.store.outbox import Outbox


def snapshot(cfg: Config) -> dict[str, Any]:
    path = cfg.state_dir / "warnd.db"
    if not path.exists():
        return {"state_db": str(path), "running_since": None, "feeds": [], "outbox": {}, "events": 0}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        states = FeedStates(conn)
        feeds = [_feed(f.spec.id, states.get(f.spec.id)) for f in cfg.feeds]
        events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        return {"state_db": str(path), "feeds": feeds, "outbox": Outbox(conn).counts(), "events": events}
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
