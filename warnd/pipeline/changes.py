"""What changed since an account's last post about an event: the kind of post the event's
history calls for, whether a revised quake changed materially, which tsunami zones were raised or
lowered, and what an account the message left out must be told. Each answer is a kind of post,
or the reason for none.

Kinds: `new`; `update` (a revision of something already posted: a Ralat; or, when the account's
last post showed another agency's values, that agency's word on the same quake, which the
template says is not a correction); `extend` (a revised quake felt in regions the account has
not named yet); `cancel` (the source withdrew it); `all_clear` (the source says it is over: PD-4,
a CAP all-clear, a gauge back to normal); `escalate` (a gauge rose above the level it last
posted; a tsunami zone raised above the level the account last posted for it, or warned for the
first time); `deescalate` (a gauge fell to a lower Siaga level, still above normal; a tsunami
zone lowered, or dropped from a warning still in force, and none raised).

A gauge reading that jumped and is not yet confirmed by the next one waits; a rise to a new
highest level posts at once, while a lowering, a rise back to a level already posted and an
all-clear wait `all_clear_after` since the last level post (a level flapping around a
threshold), and a lowering to a level is posted once until an all-clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from warnd.geo import haversine_km
from warnd.model import ChangeKind, Hazard, HazardEvent, Match, Reason, Region, Warning, WarningKind, ZonePart
from warnd.pipeline.age import CLOSING

GAUGE_RANK = {"normal": 0, "siaga3": 1, "siaga2": 2, "siaga1": 3}
UNCONFIRMED_FLAGS = frozenset({"jump", "spike", "implausible", "zero_reading"})


def post_kind(match: Match, past: list[Warning], now: datetime) -> WarningKind | tuple[Reason, str]:
    """The kind of post the match calls for after what the account already posted about the
    event (`past`, oldest first); a revision is an UPDATE here, judged further by
    quake_revision or tsunami_revision."""
    ev = match.event
    if match.change is ChangeKind.CANCELLED:
        return WarningKind.CANCEL if past else (Reason.NOTHING_TO_CANCEL, "cancelled before any post")
    if ev.hazard is Hazard.FLOOD and ev.level in GAUGE_RANK:
        return _gauge_kind(match, past, now)
    if ev.ended:
        if not past:
            return (Reason.NOTHING_TO_CANCEL, "ended before any post")
        if past[-1].kind is WarningKind.ALL_CLEAR:
            return (Reason.ALREADY_WARNED, "the end was already posted")
        return WarningKind.ALL_CLEAR
    if ev.expires is not None and ev.expires <= now:
        return (Reason.EXPIRED_EVENT, f"expired at {ev.expires.isoformat()}")
    if past:
        return WarningKind.UPDATE
    return WarningKind.NEW


def _gauge_kind(match: Match, past: list[Warning], now: datetime) -> WarningKind | tuple[Reason, str]:
    """Up and down with one hysteresis. A rise to a level higher than any posted since the last
    all-clear posts at once. Anything else that changes what the account last said (a lowering,
    a rise back to a level already posted, normal again) waits `all_clear_after` since the last
    level post, and a lowering to a level is posted once: a gate flapping around a threshold
    posts at most once an hour, and falls quiet once both sides of the threshold were said."""
    ev = match.event
    rank = GAUGE_RANK[ev.level or "normal"]
    clears = [i for i, w in enumerate(past) if w.kind is WarningKind.ALL_CLEAR]
    active = past[clears[-1] + 1 :] if clears else past
    unconfirmed = sorted(UNCONFIRMED_FLAGS & set(ev.flags))
    if unconfirmed:
        return (Reason.UNCONFIRMED, f"reading {ev.value} flagged {', '.join(unconfirmed)}: waiting for the next")
    if not active:
        return WarningKind.NEW if rank > 0 else (Reason.NO_LEVEL_CHANGE, "normal, nothing to clear")
    highest = max(GAUGE_RANK.get(w.level or "normal", 0) for w in active)
    if rank > highest:
        return WarningKind.ESCALATE
    said = GAUGE_RANK.get(active[-1].level or "normal", 0)
    if rank == said:
        return (Reason.NO_LEVEL_CHANGE, f"{ev.level} is the level last posted")
    if 0 < rank < said and any(w.kind is WarningKind.DEESCALATE and w.level == ev.level for w in active):
        return (Reason.NO_LEVEL_CHANGE, f"the lowering to {ev.level} was already posted")
    age = (now - active[-1].created_at).total_seconds()
    if age < match.all_clear_after:
        change = "back to normal" if rank == 0 else f"{'up' if rank > said else 'down'} to {ev.level}"
        return (Reason.HYSTERESIS, f"{change} {age:.0f} s after the last level post")
    if rank == 0:
        return WarningKind.ALL_CLEAR
    return WarningKind.ESCALATE if rank > said else WarningKind.DEESCALATE


# What makes a revised quake worth a correction ("Ralat"), and why each bound:
# - magnitude by 0.2 or more: automatic and reviewed solutions routinely differ by 0.1, which
#   changes neither what people felt nor what they should do, while a Ralat for it reads as an
#   alarm of its own;
# - depth by 10 km or more: BMKG's depths are whole kilometres and its automatic solutions are
#   often pinned at 10 km; a change under 10 km does not move a quake between shallow and
#   intermediate-depth, nor its felt area much;
# - epicentre by 10 km or more: revisions move it by a few hundredths of a degree (under 5 km),
#   less than the precision of the "N km arah <kota>" a post gives;
# - tsunami potential from yes to no or back. An endpoint that does not say (gempadirasakan
#   has no Potensi) says nothing new: unknown is never a change.
# Everything else (a felt list present or longer, the wording of Potensi or Wilayah, field
# order) is the shape of an endpoint, never a correction; felt regions the account has not
# named yet are an EXTEND.
MAGNITUDE_STEP = 0.2
DEPTH_STEP_KM = 10.0
EPICENTRE_STEP_KM = 10.0


def material_change(before: HazardEvent, after: HazardEvent) -> str | None:
    """What a revision of a quake changed that deserves a correction, described; None if
    nothing did."""
    changed = []
    m0, m1, d0, d1 = before.magnitude, after.magnitude, before.depth_km, after.depth_km
    # Magnitudes have one decimal: the tolerance keeps 5.6 -> 5.8 a change despite float noise.
    if m0 is not None and m1 is not None and abs(m1 - m0) >= MAGNITUDE_STEP - 1e-9:
        changed.append(f"magnitude {m0:g} -> {m1:g}")
    if d0 is not None and d1 is not None and abs(d1 - d0) >= DEPTH_STEP_KM:
        changed.append(f"depth {d0:g} -> {d1:g} km")
    if None not in (before.lat, before.lon, after.lat, after.lon):
        moved = haversine_km(before.lat, before.lon, after.lat, after.lon)  # type: ignore[arg-type]
        if moved >= EPICENTRE_STEP_KM:
            changed.append(f"epicentre moved {moved:.0f} km")
    if before.tsunami is not None and after.tsunami is not None and before.tsunami is not after.tsunami:
        changed.append(f"tsunami potential {before.tsunami} -> {after.tsunami}")
    return "; ".join(changed) or None


def quake_revision(
    match: Match, past: list[Warning], regions: tuple[Region, ...]
) -> tuple[WarningKind | tuple[Reason, str], tuple[Region, ...]]:
    """A revised quake already posted to this account: a correction when it changed
    materially; else an EXTEND naming only the regions the account has not named yet (a felt
    list that grew); else nothing."""
    if match.previous is None or material_change(match.previous, match.event) is not None:
        return WarningKind.UPDATE, regions
    if past and past[-1].agency is not None and past[-1].agency != match.event.agency:
        # Another agency's word on the quake (BMKG after USGS): always said, with its values.
        return WarningKind.UPDATE, regions
    named = {r.code for w in past for r in w.regions}
    fresh = tuple(r for r in regions if r.code not in named)
    if fresh:
        return WarningKind.EXTEND, fresh
    return (Reason.NOT_MATERIAL, "no material change and no region the account has not named"), regions


# InaTEWS zone levels, lowest first: WASPADA (stay away from the beach), SIAGA (evacuate), AWAS
# (full evacuation). 0: not warned.
ZONE_RANK = {"waspada": 1, "siaga": 2, "awas": 3}


def zone_parts(match: Match, regions: Sequence[Region]) -> tuple[ZonePart, ...]:
    """The tsunami zones a post to these regions names, each at its level. A match without
    zones one by one (a message whose zones are only the regions' notes) counts each region
    whole, at its note."""
    codes = {r.code for r in regions}
    parts = tuple(p for p in match.zone_parts if p.code in codes)
    if parts:
        return parts
    notes = dict(match.region_notes)
    return tuple(ZonePart(r.code, notes[r.code]) for r in regions if notes.get(r.code) in ZONE_RANK)


def _said(post: Warning | None) -> dict[tuple[str, str, str], int]:
    """The level the account's post gave each zone. An all-clear or a cancel leaves nothing in
    force; a post made before zones were recorded on posts counts each of its regions whole at
    the post's (worst) level, which can only hide a rise inside a region, never invent one."""
    if post is None or post.kind in (WarningKind.ALL_CLEAR, WarningKind.CANCEL):
        return {}
    said: dict[tuple[str, str, str], int] = {}
    parts = post.zone_parts or tuple(ZonePart(r.code, post.level or "") for r in post.regions)
    for p in parts:
        said[p.key] = max(said.get(p.key, 0), ZONE_RANK.get(p.level, 0))
    return said


def _level_at(levels: Mapping[tuple[str, str, str], int], key: tuple[str, str, str]) -> int:
    # A zone covering the whole region covers each part of it.
    return max(levels.get(key, 0), levels.get((key[0], "", ""), 0))


def zone_changes(last: Warning | None, now: Sequence[ZonePart]) -> tuple[tuple[ZonePart, ...], tuple[ZonePart, ...]]:
    """(raised, lowered) against what the account last posted: each zone now at a higher level
    than the post gave it (a zone it did not name was at none), and each zone the post named
    that is now lower, at its new level ("" when no longer in the warning)."""
    said = _said(last)
    levels: dict[tuple[str, str, str], int] = {}
    for p in now:
        levels[p.key] = max(levels.get(p.key, 0), ZONE_RANK.get(p.level, 0))
    raised = tuple(p for p in now if ZONE_RANK.get(p.level, 0) > _level_at(said, p.key))
    names = {rank: level for level, rank in ZONE_RANK.items()}

    def still(key: tuple[str, str, str]) -> int:
        if key[1] or key[2]:
            return _level_at(levels, key)
        # A whole region posted, now narrowed to parts of it, is not a lowering: "no longer
        # warned: Kabupaten Ende" beside "SIAGA: Kabupaten Ende bagian utara" would read as the
        # opposite of what holds, and narrowing errs on the safe side.
        return max((rank for k, rank in levels.items() if k[0] == key[0]), default=0)

    lowered = tuple(
        ZonePart(key[0], names.get(still(key), ""), key[1], key[2]) for key, rank in said.items() if still(key) < rank
    )
    return raised, lowered


def tsunami_revision(
    match: Match, past: list[Warning], regions: tuple[Region, ...]
) -> tuple[WarningKind | tuple[Reason, str], tuple[ZonePart, ...]]:
    """A later message of a tsunami warning already posted to this account, judged against
    the account's last post, in this order: a zone raised (or newly warned) is an ESCALATE,
    whatever else changed, since people there must act now; a zone lowered (or no longer
    warned) is a DEESCALATE; tsunami observed at tide gauges (PD-3) is an UPDATE ("TSUNAMI
    TERDETEKSI"); the quake itself revised materially (material_change, the bounds of a quake's
    Ralat) is an UPDATE ("RALAT"); anything else is not posted (not_material)."""
    raised, lowered = zone_changes(past[-1] if past else None, zone_parts(match, regions))
    if raised:
        return WarningKind.ESCALATE, raised
    if lowered:
        return WarningKind.DEESCALATE, lowered
    if match.event.observations:
        return WarningKind.UPDATE, ()
    if match.previous is None or material_change(match.previous, match.event) is not None:
        return WarningKind.UPDATE, ()
    return (Reason.NOT_MATERIAL, "no zone raised or lowered, no observation, no material change of the quake"), ()


def left_out(match: Match, past: list[Warning]) -> tuple[WarningKind, tuple[Region, ...], tuple[ZonePart, ...]] | None:
    """An account whose warning about the event still stands but that this message no longer
    covers (BMKG dropped its province's zones; an end that lists only the last zones): it is
    told, about the regions it last warned, that the warning is cancelled or over, or, for a
    tsunami warning still in force elsewhere, that its zones are no longer under it. Silence
    would leave people there evacuated, or waiting for an end that never comes. None: nothing
    stands, or nothing to say."""
    if not past or past[-1].kind in CLOSING:
        return None
    regions = past[-1].regions
    if match.change is ChangeKind.CANCELLED:
        return WarningKind.CANCEL, regions, ()
    if match.event.ended:
        return WarningKind.ALL_CLEAR, regions, ()
    if match.event.hazard is Hazard.TSUNAMI:
        _raised, lowered = zone_changes(past[-1], ())
        if lowered:
            return WarningKind.DEESCALATE, regions, lowered
    return None
