"""The ledger: every event warnd has seen, so that a poll can say what is new.

Identity survives the traps of real feeds: the same quake arrives through several endpoints
under different ids and is revised in place, so a report is matched to a known event by origin
time and epicentre within tolerance. A revision already seen once is never news again: lists
that keep a stale copy beside the revised one must not flip an event back and forth.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta

from warnd.model import (
    SAME_QUAKE_DEGREES,
    SAME_QUAKE_SECONDS,
    ChangeKind,
    EventChange,
    Hazard,
    HazardEvent,
    MsgType,
    iso_utc,
)

_POINT_HAZARDS = (Hazard.EARTHQUAKE.value, Hazard.TSUNAMI.value)


class Ledger:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def observe(self, event: HazardEvent, now: datetime) -> EventChange:
        """Record one polled event; call inside the ingest transaction."""
        row = self._find(event)
        stamp = iso_utc(now)
        if row is None:
            self.conn.execute(
                "INSERT INTO events (id, hazard, time, lat, lon, revision, first_seen, last_seen,"
                " cancelled, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    event.id,
                    event.hazard.value,
                    iso_utc(event.time),
                    event.lat,
                    event.lon,
                    event.revision,
                    stamp,
                    stamp,
                    int(event.msg_type is MsgType.CANCEL),
                    json.dumps(event.to_json()),
                ),
            )
            self._remember(event.id, event.revision, stamp)
            return EventChange(ChangeKind.NEW, event)

        canonical = replace(event, id=row["id"])
        previous = HazardEvent.from_json(json.loads(row["data"]))
        revision = canonical.revision
        self.conn.execute("UPDATE events SET last_seen = ? WHERE id = ?", (stamp, row["id"]))
        if revision == row["revision"] or self._seen(row["id"], revision):
            return EventChange(ChangeKind.UNCHANGED, canonical, previous)
        cancelled = canonical.msg_type is MsgType.CANCEL
        self.conn.execute(
            "UPDATE events SET revision = ?, data = ?, time = ?, lat = ?, lon = ?, cancelled = ? WHERE id = ?",
            (
                revision,
                json.dumps(canonical.to_json()),
                iso_utc(canonical.time),
                canonical.lat,
                canonical.lon,
                int(cancelled or row["cancelled"]),
                row["id"],
            ),
        )
        self._remember(row["id"], revision, stamp)
        kind = ChangeKind.CANCELLED if cancelled and not row["cancelled"] else ChangeKind.UPDATED
        return EventChange(kind, canonical, previous)

    def _find(self, event: HazardEvent) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute("SELECT * FROM events WHERE id = ?", (event.id,)).fetchone()
        if row is not None or event.hazard.value not in _POINT_HAZARDS or event.lat is None or event.lon is None:
            return row
        lo = iso_utc(event.time - timedelta(seconds=SAME_QUAKE_SECONDS))
        hi = iso_utc(event.time + timedelta(seconds=SAME_QUAKE_SECONDS))
        rows = self.conn.execute(
            "SELECT * FROM events WHERE hazard = ? AND time BETWEEN ? AND ?"
            " AND abs(lat - ?) <= ? AND abs(lon - ?) <= ? ORDER BY first_seen LIMIT 1",
            (event.hazard.value, lo, hi, event.lat, SAME_QUAKE_DEGREES, event.lon, SAME_QUAKE_DEGREES),
        ).fetchall()
        return rows[0] if rows else None

    def _seen(self, event_id: str, revision: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM event_revisions WHERE event_id = ? AND revision = ?", (event_id, revision)
            ).fetchone()
            is not None
        )

    def _remember(self, event_id: str, revision: str, stamp: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO event_revisions (event_id, revision, seen_at) VALUES (?,?,?)",
            (event_id, revision, stamp),
        )

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])
