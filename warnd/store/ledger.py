"""The ledger: every event warnd has seen, so that a poll can say what is new.

Identity survives the traps of real feeds:
- the same quake arrives through several endpoints of one agency under different ids and is
  revised in place, so a report is matched to a known event by origin time and epicentre within
  tolerance (never an exercise with an actual event);
- other agencies (USGS, GDACS) report the same quake with their own solution, a few seconds and
  kilometres away: an earthquake report of another agency joins a known quake within wider
  tolerances (ACROSS_AGENCIES_*). One agency speaks for an event: the one that reported it
  first, until BMKG reports it (AUTHORITY). A report of another agency is kept as an alias only,
  never news and never a change of what the event says; BMKG's report of a quake first known
  from USGS or GDACS takes the event over (UPDATED with BMKG's values);
- BMKG's ids are made of the origin second, which two quakes a country apart can share: an id
  names a known event only when the epicentres agree (SAME_ID_DEGREES), and a quake whose id is
  already taken by another one is recorded under that id with its position added (`_free_id`);
- sources rename events (USGS switches the preferred id; CAP updates and cancels carry new
  identifiers and name the old ones in <references>), so every id ever used is kept as an alias;
- a report that does not say where (the DSDA history endpoint names a gate only by its id, while
  the DSDA snapshot of the same gate carries its coordinates and name) keeps the known position
  and name: saying nothing of them is not moving the event nowhere;
- a revision already seen once is never news again, and a message older than the one already
  recorded never replaces it: lists that keep stale copies must not flip an event back and forth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from warnd.model import (
    SAME_ID_DEGREES,
    SAME_QUAKE_DEGREES,
    SAME_QUAKE_SECONDS,
    ChangeKind,
    EventChange,
    Hazard,
    HazardEvent,
    MsgType,
    iso_utc,
)
from warnd.store.backend import Database, Row, placeholders

_POINT_HAZARDS = (Hazard.EARTHQUAKE.value, Hazard.TSUNAMI.value)
AUTOMATIC = "automatic"

# The agency that speaks for quakes and tsunamis in Indonesia: once it has reported a quake, the
# other agencies' reports of it are second opinions and never change what warnd says.
AUTHORITY = "bmkg"

# Two agencies' solutions of one quake lie further apart than one agency's revisions: each
# locates it with its own stations and velocity model, and an error in the epicentre trades
# against one in the origin time (a P wave needs about 7 s for 50 km). Measured on real pairs,
# BMKG's report (feeds/samples) against USGS's catalogue solution (ComCat id):
#   Flores Sea, 14 Dec 2021: BMKG 03:20:23 UTC, 7.59 S 122.24 E, M7.4, 10 km
#     (gempaterkini_2021-12-14_flores-m7.4); USGS us6000gc2a 03:20:23.809, 7.6033 S 122.2274 E,
#     M7.3 mww, 14.3 km: 0.8 s, 0.013 deg, 0.1 magnitude apart.
#   North of Talaud, 4 Dec 2021: BMKG 23:47:58, 3.99 N 128.00 E, M6.2, 156 km (the same sample);
#     USGS us6000g944 23:47:55.581, 4.0932 N 128.1359 E, M6.0 mww, 149 km: 2.4 s, 0.14 deg
#     (about 19 km), 0.2 magnitude apart.
#   Mentawai, 24 Apr 2023: BMKG 20:00:57, 0.93 S 98.39 E, M7.3, 84 km (datagempa_2023-04-25_*);
#     USGS us7000jvl3 20:00:57.265, 0.8082 S 98.5112 E, M7.1 mww, 34 km: 0.3 s, 0.12 deg,
#     0.2 magnitude apart.
# The tolerances leave room for the first automatic solutions, which move by a second and a few
# hundredths of a degree more (BMKG's preliminary Flores M7.5 at 03:20:22, 122.26 E), and stay
# far below what separates real neighbouring quakes: the Banda Sea M6.7 and M7.1 of 8 Nov 2023
# (us7000l9h2, us7000l9h4) were 58 s and 0.2 deg apart. Time alone is never enough: the
# archipelago spans 46 deg of longitude, and two quakes of one second at its two ends (Aceh
# Barat and Kabupaten Jayapura are 44 deg apart) are two quakes. Magnitude is not compared: the
# agencies use different magnitude types (BMKG's M, USGS's mww or mb) and a first magnitude moves
# by up to 0.7 (InaTEWS Nagekeo PD-1 M7.0, PD-2 M7.7).
ACROSS_AGENCIES_SECONDS = 10.0
ACROSS_AGENCIES_DEGREES = 0.5


class Ledger:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def observe(self, event: HazardEvent, now: datetime) -> EventChange:
        """Record one polled event; call inside the ingest transaction."""
        row, by_reference = self._find(event)
        stamp = iso_utc(now)
        if row is None:
            event_id = self._free_id(event)
            if event_id != event.id:
                # Its id is another quake's (same second, elsewhere): it keeps the one it got, so
                # every later report of it, through any endpoint, finds it again by id and place.
                event = replace(event, id=event_id)
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
        owner = row["agency"] or event.agency
        if event.agency not in (owner, AUTHORITY):
            # A second opinion on a quake another agency speaks for: remembered under its ids so
            # that its later copies are recognised, never news.
            self.conn.execute("UPDATE events SET last_seen = ? WHERE id = ?", (stamp, event_id))
            first = self._alias(event_id, (event.id, *event.aliases))
            joined = event.id if first else None
            return EventChange(ChangeKind.UNCHANGED, replace(previous, id=event_id), previous, joined)
        # BMKG's report of a quake first known from another agency: BMKG's values replace the
        # other agency's, whenever either was issued (their clocks say nothing of each other).
        takeover = event.agency != owner
        if by_reference and event.msg_type is MsgType.CANCEL:
            # A cancel often carries no content of its own (CAP Cancel without <info>): it is
            # the referenced event, withdrawn.
            canonical = replace(previous, msg_type=MsgType.CANCEL, sent=event.sent or previous.sent)
        else:
            canonical = _known_place(replace(event, id=event_id), previous)
        self.conn.execute("UPDATE events SET last_seen = ? WHERE id = ?", (stamp, event_id))
        self._alias(event_id, (event.id, *event.aliases))
        if not takeover and _older(event, previous):
            return EventChange(ChangeKind.UNCHANGED, replace(previous, id=event_id), previous)
        revision = canonical.revision
        known = revision == row["revision"] or self._seen(event_id, revision)
        if known and not takeover:
            return EventChange(ChangeKind.UNCHANGED, canonical, previous)
        cancelled = canonical.msg_type is MsgType.CANCEL
        self.conn.execute(
            "UPDATE events SET revision = ?, data = ?, time = ?, lat = ?, lon = ?, cancelled = ?, agency = ?"
            " WHERE id = ?",
            (
                revision,
                json.dumps(canonical.to_json()),
                iso_utc(canonical.time),
                canonical.lat,
                canonical.lon,
                int(cancelled or row["cancelled"]),
                canonical.agency,
                event_id,
            ),
        )
        if known:
            # Taken over with values already seen: BMKG speaks for it from now on, and has
            # nothing new to say.
            return EventChange(ChangeKind.UNCHANGED, canonical, previous)
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
            row = self._named(key, event)
            if row is not None:
                return row, False
        if event.hazard.value not in _POINT_HAZARDS:
            return None, False
        row = self._near(event, event.hazard)
        if row is None and event.hazard is Hazard.EARTHQUAKE:
            row = self._near_other_agency(event, event.hazard)
        return row, False

    def _named(self, key: str, event: HazardEvent) -> Row | None:
        """The known event of this report's status that `key` names. For a quake or a tsunami, the
        one nearest to this report within SAME_ID_DEGREES, among the events of that id, of that id
        as an alias, and of that id with a position added (`_free_id`): an id made of an origin
        second is shared by every quake of that second, so it is trusted only with the place."""
        rows: list[Row] = [
            *self.conn.execute("SELECT * FROM events WHERE id = ?", (key,)).fetchall(),
            *self.conn.execute(
                "SELECT e.* FROM event_aliases a JOIN events e ON e.id = a.event_id WHERE a.alias = ?", (key,)
            ).fetchall(),
        ]
        point = event.hazard.value in _POINT_HAZARDS and event.lat is not None and event.lon is not None
        if point:
            lo = iso_utc(event.time - timedelta(seconds=SAME_QUAKE_SECONDS))
            hi = iso_utc(event.time + timedelta(seconds=SAME_QUAKE_SECONDS))
            rows += self.conn.execute(
                "SELECT * FROM events WHERE hazard = ? AND time BETWEEN ? AND ? AND substr(id, 1, ?) = ?",
                (event.hazard.value, lo, hi, len(key) + len(_SEP), key + _SEP),
            ).fetchall()
        rows = [r for r in rows if r["status"] == event.status.value]
        if not point or not rows:
            return rows[0] if rows else None
        near = [(_apart(r, event), i, r) for i, r in enumerate(rows)]
        best = min((n for n in near if n[0] <= SAME_ID_DEGREES), default=None, key=lambda n: n[:2])
        return None if best is None else best[2]

    def _free_id(self, event: HazardEvent) -> str:
        """The id a new event is recorded under: its own, unless another event has it (as id or
        alias), then the id with the epicentre added (`bmkg-eq-20230710T011904Z-2.6S140.7E`),
        and a count after that in the unlikely case that one is taken too."""
        if not self._taken(event.id):
            return event.id
        base = event.id
        if event.lat is not None and event.lon is not None:
            base += _SEP + _position(event.lat, event.lon)
        candidate, n = base, 1
        while self._taken(candidate):
            n += 1
            candidate = f"{base}{_SEP}{n}"
        return candidate

    def _taken(self, event_id: str) -> bool:
        return self._by_id(event_id) is not None

    def related(self, event: HazardEvent, hazard: Hazard) -> str | None:
        """A known event of another hazard from the same quake, as any agency reported it: the
        tsunami warning of an earthquake."""
        row = self._near(event, hazard) or self._near_other_agency(event, hazard)
        return str(row["id"]) if row else None

    def _near(self, event: HazardEvent, hazard: Hazard) -> Row | None:
        """The first-seen known event of `hazard` from the same agency and status whose origin
        time and epicentre are within tolerance of this one."""
        rows = self._around(event, hazard, True, SAME_QUAKE_SECONDS, SAME_QUAKE_DEGREES)
        return rows[0] if rows else None

    def _near_other_agency(self, event: HazardEvent, hazard: Hazard) -> Row | None:
        """The known event of `hazard` reported by another agency (same status) that is this
        quake: the closest within the wider tolerances of two agencies' solutions."""
        rows = self._around(event, hazard, False, ACROSS_AGENCIES_SECONDS, ACROSS_AGENCIES_DEGREES)
        if not rows or event.lat is None or event.lon is None:
            return None
        lat, lon = event.lat, event.lon

        def apart(row: Row) -> float:
            origin = datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00"))
            seconds = abs((origin - event.time).total_seconds())
            degrees = max(abs(float(row["lat"]) - lat), abs(float(row["lon"]) - lon))
            return seconds / ACROSS_AGENCIES_SECONDS + degrees / ACROSS_AGENCIES_DEGREES

        return min(rows, key=apart)

    def _around(
        self, event: HazardEvent, hazard: Hazard, same_agency: bool, seconds: float, degrees: float
    ) -> list[Row]:
        """Known events of `hazard` and this event's status within `seconds` and `degrees` of
        it, from this event's agency or from the others, first seen first."""
        if event.lat is None or event.lon is None:
            return []
        lo = iso_utc(event.time - timedelta(seconds=seconds))
        hi = iso_utc(event.time + timedelta(seconds=seconds))
        sql = (
            "SELECT * FROM events WHERE hazard = ? AND agency {} ? AND status = ? AND time BETWEEN ? AND ?"
            " AND abs(lat - ?) <= ? AND abs(lon - ?) <= ? ORDER BY first_seen"
        )
        rows: list[Row] = self.conn.execute(
            sql.format("=" if same_agency else "!="),
            (hazard.value, event.agency, event.status.value, lo, hi, event.lat, degrees, event.lon, degrees),
        ).fetchall()
        return rows

    def _alias(self, event_id: str, aliases: tuple[str, ...]) -> int:
        """Record other ids of an event; how many were not known before."""
        added = 0
        for alias in aliases:
            if alias and alias != event_id:
                cur = self.conn.execute(
                    "INSERT INTO event_aliases (alias, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (alias, event_id),
                )
                added += max(cur.rowcount, 0)
        return added

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

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The most recent events by their own time, newest first, as their JSON."""
        rows = self.conn.execute("SELECT data FROM events ORDER BY time DESC, id DESC LIMIT ?", (limit,)).fetchall()
        out: list[dict[str, Any]] = [json.loads(r["data"]) for r in rows]
        return out

    def having(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The events of these ids (as their JSON), in one statement; ids not known are left out."""
        if not event_ids:
            return []
        rows = self.conn.execute(
            f"SELECT data FROM events WHERE id IN ({placeholders(len(event_ids))})", list(event_ids)
        ).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])


_SEP = "-"


def _position(lat: float, lon: float) -> str:
    return f"{abs(lat):.1f}{'N' if lat >= 0 else 'S'}{abs(lon):.1f}{'E' if lon >= 0 else 'W'}"


def _apart(row: Row, event: HazardEvent) -> float:
    """Degrees between a known event's epicentre and a report's (0 when either has none)."""
    if row["lat"] is None or row["lon"] is None or event.lat is None or event.lon is None:
        return 0.0
    return max(abs(float(row["lat"]) - event.lat), abs(float(row["lon"]) - event.lon))


def _known_place(event: HazardEvent, previous: HazardEvent) -> HazardEvent:
    """The report, with what it does not say of where the event is taken from what is known.
    Without it, a gate polled through a feed without coordinates would lose them, and with them
    every rule that places it (its readings would never post)."""
    if (event.lat is None or event.lon is None) and previous.lat is not None and previous.lon is not None:
        event = replace(event, lat=previous.lat, lon=previous.lon)
    if event.place is None and previous.place is not None:
        event = replace(event, place=previous.place)
    if event.event_name is None and previous.event_name is not None:
        event = replace(event, event_name=previous.event_name)
    return event


def _older(event: HazardEvent, previous: HazardEvent) -> bool:
    """A report that must not replace what is known: issued before it, or an automatic solution
    arriving after a reviewed one (BMKG's realtime feed after its TEWS bulletin)."""
    if previous.sent is not None and event.sent is not None and event.sent < previous.sent:
        return True
    return AUTOMATIC in event.flags and AUTOMATIC not in previous.flags
