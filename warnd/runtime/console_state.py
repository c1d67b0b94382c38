"""What the operator console shows: one JSON document (status, events, warnings with their
deliveries and maps, the recent decisions (any node's), bulletins, accounts, partners), read on the
store's reading thread, and the basemap of the configured provinces and regencies.

`status` in the document is what /status serves, from the same function: feeds, targets,
notices, silences, the cluster and the last reload are read there, never a second way.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from warnd.channels.links import post_url
from warnd.clock import Clock
from warnd.config.schema import SingleAccount, outlets
from warnd.geo.regions import RegionIndex
from warnd.maps.style import Scale, shading
from warnd.model import HazardEvent, Priority, Target, TargetKind, Warning, iso_utc, life_safety
from warnd.runtime.build import Bundle
from warnd.store.backend import Database
from warnd.store.decisions import Decisions
from warnd.store.issued import IssuedWarnings
from warnd.store.ledger import Ledger
from warnd.store.maps import Maps
from warnd.store.subscriptions import Subscriptions
from warnd.store.targets import RateLog, Targets

EVENTS = 50
WARNINGS = 100
DECISIONS = 50
# Keys whose values move every time they are read (ages, uptimes): a change in them alone is
# not news for an open stream.
VOLATILE = frozenset({"now", "age_s", "uptime_s", "heartbeat_age_s", "up_s", "since_s", "lease_left_s"})
_EVENT_KEYS = (
    "id",
    "feed",
    "hazard",
    "status",
    "time",
    "lat",
    "lon",
    "magnitude",
    "depth_km",
    "level",
    "stage",
    "place",
    "headline",
    "value",
    "unit",
    "ended",
)


class ConsoleState:
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        bundle: Callable[[], Bundle],
        status: Callable[[], dict[str, Any]],
        *,
        node: Callable[[], str | None] = lambda: None,
        bulletins: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        """`conn`: the reading connection (`document` runs on the store's reading thread);
        `status`: the function behind /status; `bulletins`: the bulletin desk's listing."""
        self.conn = conn
        self.clock = clock
        self.bundle = bundle
        self.status = status
        self.node = node
        self.bulletins = bulletins
        # Each warning's region notes, by warning id: a warning never changes once issued, and
        # predicting a quake's intensity per region is worth doing once (per region set).
        self._notes: dict[str, dict[str, str]] = {}
        self._notes_of: RegionIndex | None = None

    def document(self) -> dict[str, Any]:
        b = self.bundle()
        now = self.clock.now()
        status = self.status()
        bulletins = self.bulletins()
        warnings = self._warnings(b, bulletins)
        return {
            "now": iso_utc(now),
            "node": self.node(),
            "status": status,
            "events": self._events(warnings),
            "warnings": warnings,
            "decisions": Decisions(self.conn).latest(DECISIONS),
            "bulletins": bulletins,
            "accounts": self._accounts(b),
            "partners": [
                {"name": name, "accounts": list(p.accounts), "queue": status.get("queues", {}).get(f"partner:{name}")}
                for name, p in sorted(b.config.file.partners.items())
            ],
            # Partners who subscribed themselves (runtime.subscribe): pending, active and paused,
            # without their secrets.
            "subscriptions": [
                s.to_json() | {"queue": status.get("queues", {}).get(s.target), "lane": self._lane(s.target, now)}
                for s in Subscriptions(self.conn).listing()
            ],
        }

    def _events(self, warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The newest events by their own time, and every event a listed warning is about: a
        burst of gauge readings must not push a warned quake's epicentre off the map."""
        ledger = Ledger(self.conn)
        recent = ledger.recent(EVENTS)
        known = {e["id"] for e in recent}
        wanted = sorted({w["event_id"] for w in warnings} - known)
        older = sorted(ledger.having(wanted), key=lambda e: (e.get("time") or "", e["id"]), reverse=True)
        return [_event(e) for e in [*recent, *older]]

    def _lane(self, target: str, now: datetime) -> dict[str, Any]:
        """A subscriber's outbox lane as an operator may act on it: held or disabled, and why."""
        st = Targets(self.conn).get(target)
        held = st.hold_until if st.hold_until is not None and st.hold_until > now else None
        return {
            "target": target,
            "held_until": iso_utc(held) if held else None,
            "disabled": st.disabled_at is not None,
            "reason": st.reason if held or st.disabled_at else None,
        }

    def _warnings(self, b: Bundle, bulletins: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = IssuedWarnings(self.conn).recent(WARNINGS)
        drawn = Maps(self.conn).having([w["id"] for w in rows]) if b.config.file.maps.enabled else set()
        # Each account target's channel settings: its sent posts link to where they can be read.
        outlet = {str(Target.account(n, c)): o for n, a in b.config.file.accounts.items() for c, o in outlets(n, a)}
        by_warning: dict[str, dict[str, Any]] = {}
        for bulletin in bulletins:
            # An approved bulletin's warnings, by account (runtime.bulletins listing).
            for wid in (bulletin.get("warnings") or {}).values():
                if isinstance(wid, str):
                    by_warning[wid] = {k: bulletin.get(k) for k in ("id", "author", "approver")}
        if self._notes_of is not b.regions or len(self._notes) > 4 * WARNINGS:
            self._notes = {}
            self._notes_of = b.regions
        for w in rows:
            if w["id"] not in self._notes:
                self._notes[w["id"]] = region_notes(w, b.regions)
        return [_warning(w, self._notes[w["id"]], w["id"] in drawn, outlet, by_warning.get(w["id"])) for w in rows]

    def _accounts(self, b: Bundle) -> list[dict[str, Any]]:
        now = self.clock.now()
        targets = {t.target: t for t in Targets(self.conn).all()}
        rates = RateLog(self.conn)
        out = []
        for name, account in sorted(b.config.file.accounts.items()):
            mine = sorted(
                t
                for t in {*b.senders, *b.missing}
                if Target(t).owner == name and Target(t).kind is not TargetKind.PARTNER
            )
            rows = []
            for t in mine:
                st = targets.get(t)
                sender = b.senders.get(t)
                left = (
                    min(
                        budget.limit(False) - rates.used(budget.bucket, budget.window, now) for budget in sender.budgets
                    )
                    if sender is not None and sender.budgets
                    else None
                )
                held = st.hold_until if st is not None and st.hold_until is not None and st.hold_until > now else None
                rows.append(
                    {
                        "target": t,
                        "held_until": iso_utc(held) if held else None,
                        "disabled": st is not None and st.disabled_at is not None,
                        "reason": (st.reason if st is not None and (held or st.disabled_at) else None)
                        or b.missing.get(t),
                        "budget_left": max(0, left) if left is not None else None,
                    }
                )
            out.append({"name": name, "lang": account.lang, "regions": list(account.regions), "targets": rows})
        return out


def _event(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e.get(k) for k in _EVENT_KEYS} | {
        "zones": [{k: z.get(k) for k in ("province", "district", "level", "eta")} for z in e.get("zones") or []],
        "area": e.get("area"),
    }


def region_notes(w: dict[str, Any], regions: RegionIndex) -> dict[str, str]:
    """What each region of a warning is coloured by, as its PNG map colours it (maps.style):
    the tsunami zone level ("awas"), or a quake's predicted intensity ("MMI 5"); none else."""
    if not w.get("event"):
        return {}
    try:
        shade = shading(HazardEvent.from_json(w["event"]), Warning.from_json(w), regions)
    except (KeyError, ValueError, TypeError):
        return {}  # a warning stored before its event was: no note, the page uses its level
    if shade.scale is Scale.MMI:
        return {code: f"MMI {lv.key}" for code, lv in shade.levels.items()}
    if shade.scale is Scale.TSUNAMI:
        return {code: lv.key for code, lv in shade.levels.items()}
    return {}


def _warning(
    w: dict[str, Any],
    notes: dict[str, str],
    drawn: bool,
    outlet: dict[str, SingleAccount],
    bulletin: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": w["id"],
        "event_id": w["event_id"],
        "account": w["account"],
        "kind": w["kind"],
        "rule": w["rule"],
        "level": w.get("level"),
        "priority": w["priority"],
        "status": w["status"],
        "created_at": w["created_at"],
        "text": w["text"],
        "life_safety": life_safety(w.get("hazard"), Priority(w["priority"]), (w.get("level"),)),
        "regions": [r | {"note": notes.get(r["code"])} for r in w["regions"]],
        "map": f"/maps/{w['id']}.png" if drawn else None,
        "bulletin": bulletin,
        "deliveries": [
            d
            | {
                "url": post_url(outlet[d["target"]], d["remote_id"])
                if d["state"] == "sent" and d["target"] in outlet
                else None
            }
            for d in w["deliveries"]
        ],
    }


def fingerprint(doc: dict[str, Any]) -> str:
    """The document without what moves by itself, to tell a change from the passing of time."""
    return json.dumps(_steady(doc), sort_keys=True, ensure_ascii=False, default=str)


def _steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


# --- the basemap ------------------------------------------------------------------------------

BASEMAP_LEVELS = ("province", "regency")
# Degrees: about 1 km, finer than the page draws a province or regency at any useful zoom.
TOLERANCE = 0.01


@dataclass(frozen=True)
class Basemap:
    json: bytes
    gzip: bytes


def _rounded(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Four decimals (about 10 m) for the page: a third of the bytes, nothing a map shows lost.
    return np.round(xy, 4)


def basemap(regions: RegionIndex) -> Basemap:
    """The configured provinces and regencies, simplified, as GeoJSON; built once per region
    set (`regions.derived(basemap)`), which a reload that changes the layers replaces."""
    features = []
    for region in regions.regions:
        if region.level not in BASEMAP_LEVELS:
            continue
        geom = regions.geometry(region.code)
        if geom is None:
            continue
        simple = shapely.simplify(geom, TOLERANCE, preserve_topology=True)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": region.code, "name": region.name, "level": region.level},
                "geometry": json.loads(shapely.to_geojson(shapely.transform(simple, _rounded))),
            }
        )
    body = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
    return Basemap(body, gzip.compress(body, 6))
