"""What `warnd status` shows: each feed's health, the queue per target, operator notices,
recent warnings and silences.

The running daemon serves this on /status (with what only it knows: its health, config
generation and last reload). When it is down, `warnd status` reads the same from the state
database (read-only) and says so.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warnd.model import iso_utc
from warnd.store.feedstate import FeedState, FeedStates
from warnd.store.notices import Notices
from warnd.store.outbox import Outbox, TargetQueue
from warnd.store.silences import Silences
from warnd.store.targets import Targets

RECENT = 10


def from_database(state_dir: Path, feed_ids: list[str] | None) -> dict[str, Any]:
    """`feed_ids` None: every feed the database knows (the config on disk may be broken)."""
    path = state_dir / "warnd.db"
    if not path.exists():
        return {
            "state_db": str(path),
            "feeds": [],
            "outbox": {},
            "queues": {},
            "events": 0,
            "targets": [],
            "dead": [],
            "notices": [],
            "recent_warnings": [],
            "silences": [],
            "last_reload": None,
        }
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return snapshot(conn, feed_ids, datetime.now(UTC)) | {"state_db": str(path)}
    finally:
        conn.close()


def snapshot(
    conn: sqlite3.Connection,
    feed_ids: list[str] | None,
    now: datetime,
    queues: Mapping[str, TargetQueue] | None = None,
) -> dict[str, Any]:
    states = FeedStates(conn)
    ids = feed_ids if feed_ids is not None else [st.feed for st in states.all()]
    box = Outbox(conn)
    if queues is None:
        queues = box.per_target()
    row = conn.execute("SELECT value FROM meta WHERE key = 'last_reload'").fetchone()
    return {
        "feeds": [_feed(fid, states.get(fid), now) for fid in ids],
        "outbox": box.counts(),
        "queues": {
            t: {
                "waiting": q.waiting,
                "dead": q.dead,
                "oldest_waiting": iso_utc(q.oldest_waiting) if q.oldest_waiting else None,
            }
            for t, q in sorted(queues.items())
        },
        # Targets disabled or held (rate limits), with why.
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
        "notices": [
            {
                "kind": n.kind,
                "subject": n.subject,
                "severity": n.severity,
                "message": n.message,
                "since": n.raised_at,
            }
            for n in Notices(conn).active().values()
        ],
        "recent_warnings": [
            {
                "event_id": w["event_id"],
                "account": w["account"],
                "kind": w["kind"],
                "rule": w["rule"],
                "created_at": w["created_at"],
                "headline": w["text"].split("\n", 1)[0],
                "deliveries": {d["target"]: d["state"] for d in w["deliveries"]},
            }
            for w in box.history(None, None, RECENT)
        ],
        "silences": [
            {"id": s.id, "rule": s.rule, "account": s.account, "region": s.region, "until": iso_utc(s.until)}
            | {"reason": s.reason}
            for s in Silences(conn).active(now)
        ],
        "events": int(conn.execute("SELECT count(*) FROM events").fetchone()[0]),
        "last_reload": json.loads(row[0]) if row else None,
    }


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return round((now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds(), 1)


def _feed(feed_id: str, st: FeedState, now: datetime) -> dict[str, Any]:
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
        "age_s": _age(st.last_ok, now),
        "last_change": st.last_change,
        "failures": st.failures,
        "last_error": st.last_error if st.failures else None,
        "next_poll_at": st.next_poll_at,
    }
