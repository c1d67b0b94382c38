"""The ledger: every event warnd has seen, so that a poll can say what is new.

Identity survives the traps of real feeds:
- the same quake arrives through several endpoints of one agency under different ids and is
  revised in place, so a report is matched to a known event by origin time and epicentre within
  tolerance (only within one agency, and never an exercise with an actual event);
- sources rename events (USGS switches the preferred id; CAP updates and cancels carry new
  identifiers and name the old ones in <references>), so every id ever used is kept as an alias;
- a revision already seen once is never news again, and a message older than the one already
  recorded never replaces it: lists that keep stale copies must not flip an event back and forth.
"""

from __future__ import annotations

import json
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
from warnd.store.backend import Database, Row

_POINT_HAZARDS = (Hazard.EARTHQUAKE.value, Hazard.TSUNAMI.value)
AUTOMATIC = "automatic"


class Ledger:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def observe(self, event: HazardEvent, now: datetime) -> EventChange:
        """Record one polled event; call inside the ingest transaction."""
        row, by_reference = self._find(event)
        stamp = iso_utc(now)
        if row is None:
            self.conn.execute(
                "INSERT INTO events (id, hazard, time, lat, lon, revision, first_seen, last_seen,"
                " cancelled, data, agency, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    event.agency,
                    event.status.value,
                ),
            )
            self._alias(event.id, event.aliases)
            self._remember(event.id, event.revision, stamp)
            return EventChange(ChangeKind.NEW, event)

        event_id = row["id"]
        previous = HazardEvent.from_json(json.loads(row["data"]))
        if by_reference and event.msg_type is MsgType.CANCEL:
            # A cancel often carries no content of its own (CAP Cancel without <info>): it is
            # the referenced event, withdrawn.
            canonical = replace(previous, msg_type=MsgType.CANCEL, sent=event.sent or previous.sent)
        else:
            canonical = replace(event, id=event_id)
        self.conn.execute("UPDATE events SET last_seen = ? WHERE id = ?", (stamp, event_id))
        self._alias(event_id, (event.id, *event.aliases))
        if _older(event, previous):
            return EventChange(ChangeKind.UNCHANGED, replace(previous, id=event_id), previous)
        revision = canonical.revision
        if revision == row["revision"] or self._seen(event_id, revision):
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
                event_id,
            ),
        )
        self._remember(event_id, revision, stamp)
        kind = ChangeKind.CANCELLED if cancelled and not row["cancelled"] else ChangeKind.UPDATED
        return EventChange(kind, canonical, previous)

    def get(self, event_id: str) -> HazardEvent | None:
        row = self._by_id(event_id)
        return None if row is None else HazardEvent.from_json(json.loads(row["data"]))

    def _by_id(self, event_id: str) -> Row | None:
        row: Row | None = self.conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT e.* FROM event_aliases a JOIN events e ON e.id = a.event_id WHERE a.alias = ?", (event_id,)
            ).fetchone()
        return row

    def _find(self, event: HazardEvent) -> tuple[Row | None, bool]:
        """The known event this report is about, and whether it was found through <references>."""
        # An exercise never touches an actual event, whatever ids the two share.
        for ref in event.references:
            row = self._by_id(ref)
            if row is not None and row["status"] == event.status.value:
                return row, True
        for key in (event.id, *event.aliases):
            row = self._by_id(key)
            if row is not None and row["status"] == event.status.value:
                return row, False
        if event.hazard.value not in _POINT_HAZARDS:
            return None, False
        return self._near(event, event.hazard), False

    def related(self, event: HazardEvent, hazard: Hazard) -> str | None:
        """A known event of another hazard from the same quake: the tsunami warning of an
        earthquake."""
        row = self._near(event, hazard)
        return str(row["id"]) if row else None

    def _near(self, event: HazardEvent, hazard: Hazard) -> Row | None:
        """The first-seen known event of `hazard` from the same agency and status whose origin
        time and epicentre are within tolerance of this one."""
        if event.lat is None or event.lon is None:
            return None
        lo = iso_utc(event.time - timedelta(seconds=SAME_QUAKE_SECONDS))
        hi = iso_utc(event.time + timedelta(seconds=SAME_QUAKE_SECONDS))
        found: Row | None = self.conn.execute(
            "SELECT * FROM events WHERE hazard = ? AND agency = ? AND status = ? AND time BETWEEN ? AND ?"
            " AND abs(lat - ?) <= ? AND abs(lon - ?) <= ? ORDER BY first_seen LIMIT 1",
            (
                hazard.value,
                event.agency,
                event.status.value,
                lo,
                hi,
                event.lat,
                SAME_QUAKE_DEGREES,
                event.lon,
                SAME_QUAKE_DEGREES,
            ),
        ).fetchone()
        return found

    def _alias(self, event_id: str, aliases: tuple[str, ...]) -> None:
        for alias in aliases:
            if alias and alias != event_id:
                self.conn.execute(
                    "INSERT INTO event_aliases (alias, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (alias, event_id),
                )

    def _seen(self, event_id: str, revision: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM event_revisions WHERE event_id = ? AND revision = ?", (event_id, revision)
            ).fetchone()
            is not None
        )

    def _remember(self, event_id: str, revision: str, stamp: str) -> None:
        self.conn.execute(
            "INSERT INTO event_revisions (event_id, revision, seen_at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
            (event_id, revision, stamp),
        )

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])


def _older(event: HazardEvent, previous: HazardEvent) -> bool:
    """A report that must not replace what is known: issued before it, or an automatic solution
    arriving after a reviewed one (BMKG's realtime feed after its TEWS bulletin)."""
    if previous.sent is not None and event.sent is not None and event.sent < previous.sent:
        return True
    return AUTOMATIC in event.flags and AUTOMATIC not in previous.flags
