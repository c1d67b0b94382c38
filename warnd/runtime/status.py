"""What `warnd status` shows: each feed's health, the queue per target, operator notices,
recent warnings and silences.

The running daemon serves this on /status (with what only it knows: its health, config
generation and last reload). When it is down, `warnd status` reads the same from the state
database (read-only) and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from warnd.config.schema import StoreSettings
from warnd.model import iso_utc
from warnd.store.backend import Database, DatabaseError
from warnd.store.cluster import Cluster
from warnd.store.db import open_store
from warnd.store.feedstate import FeedState, FeedStates
from warnd.store.issued import IssuedWarnings
from warnd.store.ledger import Ledger
from warnd.store.meta import LAST_RELOAD, Meta
from warnd.store.notices import Notices
from warnd.store.outbox import Outbox, TargetQueue
from warnd.store.silences import Silences
from warnd.store.targets import Targets

RECENT = 10


def from_database(
    state_dir: Path, feed_ids: list[str] | None, now: datetime, store: StoreSettings | None = None
) -> dict[str, Any]:
    """`feed_ids` None: every feed the database knows (the config on disk may be broken). `now`:
    the time ages and holds are judged at."""
    store = store or StoreSettings()
    path = state_dir / "warnd.db"
    if store.dsn is None and not path.exists():
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
    conn = open_store(store, state_dir, read_only=True)
    try:
        return snapshot(conn, feed_ids, now, lease=store.lease) | {"state_db": conn.where}
    finally:
        conn.close()


def cluster(conn: Database, lease: float | None = None) -> dict[str, Any]:
    """The nodes sharing the store, the leader, and how long ago each was heard from (on the
    database's clock). A node silent for longer than the lease is shown as gone."""
    c = Cluster(conn)
    try:
        now = c.now()
        leader = c.leader()
        nodes = c.nodes()
    except DatabaseError:
        return {"leader": None, "nodes": []}  # a store from before several nodes were possible
    live_leader = leader is not None and leader.expires_at > now
    return {
        "leader": (
            {
                "node": leader.holder,
                "epoch": leader.epoch,
                "since_s": round(now - leader.acquired_at, 1),
                "lease_left_s": round(leader.expires_at - now, 1),
            }
            if leader is not None and live_leader
            else None
        ),
        "nodes": [
            {
                "node": n.name,
                "host": n.host,
                "pid": n.pid,
                "version": n.version,
                "listen": n.listen,
                "role": n.role if (lease is None or now - n.heartbeat_at <= lease) else "gone",
                "leader": live_leader and leader is not None and leader.holder == n.name,
                "heartbeat_age_s": round(now - n.heartbeat_at, 1),
                "up_s": round(now - n.started_at, 1),
            }
            for n in nodes
        ],
    }


def snapshot(
    conn: Database,
    feed_ids: list[str] | None,
    now: datetime,
    queues: Mapping[str, TargetQueue] | None = None,
    lease: float | None = None,
    answered: Mapping[str, datetime] | None = None,
) -> dict[str, Any]:
    states = FeedStates(conn, answered)
    ids = feed_ids if feed_ids is not None else [st.feed for st in states.all()]
    box = Outbox(conn)
    if queues is None:
        queues = box.per_target()
    last_reload = Meta(conn).get(LAST_RELOAD)
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
            for w in IssuedWarnings(conn).history(None, None, RECENT)
        ],
        "silences": [
            {"id": s.id, "rule": s.rule, "account": s.account, "region": s.region, "until": iso_utc(s.until)}
            | {"reason": s.reason}
            for s in Silences(conn).active(now)
        ],
        "events": Ledger(conn).count(),
        "cluster": cluster(conn, lease),
        "last_reload": json.loads(last_reload) if last_reload is not None else None,
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
        "failing_since": st.failing_since,
        "last_error": st.last_error if st.failures else None,
        "next_poll_at": st.next_poll_at,
    }
