"""Tsunami warning zones whose name matched no regency, as BMKG wrote them.

Each is recorded in the transaction of the document that named it; the operator notice about it
is derived from here (runtime.conditions), so it is raised once per zone name however many polls
repeat it, and survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warnd.model import iso_utc
from warnd.store.backend import Database


@dataclass(frozen=True, slots=True)
class ZoneMiss:
    province: str
    district: str
    event_id: str
    feed: str
    first_seen: str
    last_seen: str
    seen: int

    @property
    def text(self) -> str:
        return f"{self.province}/{self.district}"


class ZoneMisses:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def record(self, province: str, district: str, event_id: str, feed: str, now: datetime) -> None:
        """Call inside the ingest transaction."""
        stamp = iso_utc(now)
        self.conn.execute(
            "INSERT INTO zone_misses (province, district, event_id, feed, first_seen, last_seen, seen)"
            " VALUES (?,?,?,?,?,?,1) ON CONFLICT (province, district) DO UPDATE SET"
            " event_id = excluded.event_id, feed = excluded.feed, last_seen = excluded.last_seen,"
            " seen = zone_misses.seen + 1",
            (province, district, event_id, feed, stamp, stamp),
        )

    def since(self, t: datetime) -> list[ZoneMiss]:
        """The zones named since `t`, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM zone_misses WHERE last_seen >= ? ORDER BY first_seen, province, district", (iso_utc(t),)
        ).fetchall()
        return [
            ZoneMiss(
                r["province"],
                r["district"],
                r["event_id"],
                r["feed"],
                r["first_seen"],
                r["last_seen"],
                int(r["seen"]),
            )
            for r in rows
        ]
