"""The operators' bulletin desk: write, approve, reject, correct and cancel a bulletin, for the
console and `warnd bulletin` alike.

Every action is one transaction. An approval commits, in that same transaction, every warning
the bulletin issues (pipeline.bulletin) into the outbox exactly as ingest commits an automatic
warning (runtime.ingest.commit): after the commit the dispatcher finds the deliveries like any
others, and nothing an operator does here touches a warning already queued.

Bad input is an OperatorError naming the field (400), what no longer exists 404, what its state
does not allow 409, an author approving their own bulletin under the two-person rule 403; each
refusal is logged (`bulletin.refused`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from warnd.clock import Clock
from warnd.config.schema import Partner
from warnd.errors import OperatorError
from warnd.model import Bulletin, BulletinKind, BulletinState, Hazard, Priority, Status
from warnd.model.bulletins import HEADLINE_MAX, TEXT_MAX
from warnd.obs import get_logger
from warnd.pipeline.bulletin import covering, issue_bulletin
from warnd.runtime.build import Bundle
from warnd.runtime.ingest import commit, issue_desk, queued
from warnd.runtime.maps import Drawing
from warnd.runtime.websub_pushes import active_subscriptions
from warnd.store.backend import Database
from warnd.store.bulletins import Bulletins
from warnd.store.issued import IssuedWarnings
from warnd.store.outbox import Outbox

log = get_logger("warnd.bulletins")

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]

# A level is a word of one of the scales ("awas", "siaga1", "waspada"), never a sentence.
LEVEL_MAX = 24
WHY_MAX = 500
# What a bulletin is written as: actual or an exercise (a test is for the automatic feeds).
STATUSES = (Status.ACTUAL.value, Status.EXERCISE.value)

_WRITE = {"accounts", "regions", "hazard", "level", "status", "headline", "text_id", "text_en"}
_CORRECT = {"id", "text_id", "text_en", "headline", "level"}


class BulletinDesk:
    def __init__(
        self,
        conn: Database,
        bundle: Callable[[], Bundle],
        clock: Clock,
        on_drawings: Callable[[list[Drawing]], None] | None = None,
        subscribed: Callable[[], Mapping[str, Partner]] = dict,
    ) -> None:
        """`conn`: the connection the actions write on (the daemon's writing thread, or a
        command's own). `on_drawings`: given the committed warnings of an approval, after its
        commit, on the caller's thread, to draw their maps (a sender that finds no map draws
        it itself, so the daemon passes one only to be early)."""
        self.conn = conn
        self.bundle = bundle
        self.clock = clock
        self.on_drawings = on_drawings
        # The approved subscribers (runtime.subscribers): partners as the YAML's are.
        self.subscribed = subscribed
        self.store = Bulletins(conn)
        self.outbox = Outbox(conn)
        self.issued = IssuedWarnings(conn)

    def actions(self) -> dict[str, Handler]:
        """The actions by name, each `(user, body) -> {"ok", "message", "bulletin"}`."""
        return {
            "bulletin/write": self._guarded("write", self.write),
            "bulletin/approve": self._guarded("approve", self.approve),
            "bulletin/reject": self._guarded("reject", self.reject),
            "bulletin/correct": self._guarded("correct", self.correct),
            "bulletin/cancel": self._guarded("cancel", self.cancel),
        }

    def two_person(self) -> bool:
        """Whether a bulletin needs another operator's approval (config `bulletins.two_person`,
        read at each call, so a reload applies)."""
        return self.bundle().config.file.bulletins.two_person

    def listing(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest bulletins first, each as JSON with, once approved, `warnings`: each
        account's warning id."""
        rows = self.store.listing(limit)
        issued = self.store.warnings(sorted({b.series for b in rows}))
        out = []
        for b in rows:
            d = b.to_json()
            d["warnings"] = issued.get(b.id, {}) if b.state is BulletinState.APPROVED else {}
            out.append(d)
        return out

    def show(self, bulletin_id: str) -> dict[str, Any]:
        b = self.store.get(bulletin_id)
        if b is None:
            raise OperatorError(f"id: no bulletin {bulletin_id!r}", status=404)
        d = b.to_json()
        d["warnings"] = self.store.warnings([b.series]).get(b.id, {})
        return d

    # --- the actions ---------------------------------------------------------------------------

    def write(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        _known(body, _WRITE)
        b = self.bundle()
        views = b.accounts
        accounts = _names(body, "accounts")
        regions = _names(body, "regions")
        if not accounts and not regions:
            raise OperatorError("accounts, regions: name at least one account or region")
        for a in accounts:
            if a not in views:
                raise OperatorError(f"accounts: unknown account {a!r} (known: {', '.join(sorted(views))})")
        for code in regions:
            if code not in b.regions.by_code:
                raise OperatorError(f"regions: unknown region code {code!r}")
        if accounts:
            for code in regions:
                if not covering(code, {a: views[a] for a in accounts}):
                    raise OperatorError(
                        f"regions: {code} is outside the area of every account named ({', '.join(accounts)})"
                    )
        elif regions:
            for code in regions:
                if not covering(code, views):
                    raise OperatorError(f"regions: no account covers {code}")
        hazard = _choice(body, "hazard", [h.value for h in Hazard])
        status = _choice(body, "status", STATUSES)
        now = self.clock.now()
        bid = new_id(now)
        bulletin = Bulletin(
            id=bid,
            series=bid,
            kind=BulletinKind.NEW,
            state=BulletinState.PENDING,
            author=user,
            hazard=Hazard(hazard),
            level=_level(body, None),
            status=Status(status),
            accounts=tuple(accounts),
            regions=tuple(regions),
            headline=_text(body, "headline", HEADLINE_MAX),
            text_id=_text(body, "text_id", TEXT_MAX),
            text_en=_optional(body, "text_en", TEXT_MAX),
            created_at=now,
        )
        with self.conn.transaction():
            self.store.write(bulletin)
        log.info(
            "bulletin.written",
            event_id=bulletin.id,
            kind=bulletin.kind.value,
            author=user,
            hazard=hazard,
            status=status,
            accounts=list(accounts),
            regions=list(regions),
        )
        then = "another operator must approve it" if self.two_person() else "approve it to send it"
        return _answer(f"bulletin {bulletin.id} written; {then}", bulletin)

    def approve(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        _known(body, {"id"})
        bid = _text(body, "id", 100)
        now = self.clock.now()
        b = self.bundle()
        desk = issue_desk(b, self.subscribed())
        drawings: list[Drawing] = []
        with self.conn.transaction():
            approved = self.store.approve(bid, user, now, two_person=self.two_person())
            # A bulletin is in the accounts' feeds like any warning: their WebSub subscribers get it.
            desk = replace(desk, websub=active_subscriptions(self.conn, b.config.file, now))
            if approved.kind is not BulletinKind.NEW:
                self._open_series(approved, besides=approved.id)
            out = issue_bulletin(
                approved,
                desk,
                b.regions.by_code,
                lambda account: self.issued.warnings(approved.series, account),
                lambda account, target: self.issued.targeted(approved.series, account, target),
            )
            if not out:
                what = (
                    "posted the series" if approved.kind is BulletinKind.CANCEL else "is named or covers a region named"
                )
                raise OperatorError(f"id: no configured account {what}: nothing to send", status=409)
            elog = log.bind(event_id=approved.series, bulletin_id=approved.id)
            drawings = [commit(self.outbox, o, now) for o in out]
            withdrawn = self.store.withdraw_pending(approved.series) if approved.kind is BulletinKind.CANCEL else []
        # Only now, committed: a rolled-back approval never reads as warnings queued.
        for o in out:
            queued(o, elog)
        warnings = {o.warning.account: o.warning.id for o in out}
        log.info(
            "bulletin.approved",
            event_id=approved.id,
            series=approved.series,
            kind=approved.kind.value,
            author=approved.author,
            approver=user,
            warnings=list(warnings.values()),
            life_safety=any(o.warning.priority is Priority.LIFE_SAFETY for o in out),
        )
        for w in withdrawn:
            log.info("bulletin.withdrawn", event_id=w.id, series=w.series, author=w.author, by=user)
        if self.on_drawings is not None:
            self.on_drawings(drawings)
        targets = {t for o in out for t in o.targets}
        answer = _answer(
            f"bulletin {approved.id} approved by {user}: {len(out)} warning(s) queued for {len(targets)} target(s)",
            approved,
        )
        answer["bulletin"]["warnings"] = warnings
        return answer

    def reject(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        _known(body, {"id", "why"})
        bid = _text(body, "id", 100)
        why = _text(body, "why", WHY_MAX)
        with self.conn.transaction():
            rejected = self.store.reject(bid, user, why)
        log.info("bulletin.rejected", event_id=rejected.id, author=rejected.author, rejected_by=user, why=why)
        return _answer(f"bulletin {rejected.id} rejected by {user}", rejected)

    def correct(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        _known(body, _CORRECT)
        bid = _text(body, "id", 100)
        bulletin = self._follow_up(
            bid,
            user,
            BulletinKind.CORRECTION,
            lambda base: {
                "level": _level(body, base.level),
                "headline": _text(body, "headline", HEADLINE_MAX)
                if body.get("headline") is not None
                else base.headline,
                "text_id": _text(body, "text_id", TEXT_MAX),
                "text_en": _optional(body, "text_en", TEXT_MAX),
            },
        )
        return _answer(f"correction {bulletin.id} of {bulletin.series} written; it too needs approval", bulletin)

    def cancel(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        _known(body, {"id", "why"})
        bid = _text(body, "id", 100)
        why = _text(body, "why", WHY_MAX)
        bulletin = self._follow_up(
            bid, user, BulletinKind.CANCEL, lambda base: {"text_id": why, "text_en": None, "why": why}
        )
        return _answer(f"cancel {bulletin.id} of {bulletin.series} written; it too needs approval", bulletin)

    def _follow_up(
        self, bid: str, user: str, kind: BulletinKind, changes: Callable[[Bulletin], dict[str, Any]]
    ) -> Bulletin:
        """A pending correction or cancel of the series `bid` belongs to: the accounts, regions,
        hazard and status of what the series last sent, with `changes` (given that) applied."""
        now = self.clock.now()
        with self.conn.transaction():
            base = self._open_series(self._get(bid))
            bulletin = Bulletin(
                id=new_id(now),
                series=base.series,
                kind=kind,
                state=BulletinState.PENDING,
                author=user,
                hazard=base.hazard,
                level=base.level,
                status=base.status,
                accounts=base.accounts,
                regions=base.regions,
                headline=base.headline,
                text_id=base.text_id,
                text_en=base.text_en,
                created_at=now,
            )
            bulletin = replace(bulletin, **changes(base))
            self.store.write(bulletin)
        log.info("bulletin.written", event_id=bulletin.id, series=bulletin.series, kind=kind.value, author=user)
        return bulletin

    # --- helpers -------------------------------------------------------------------------------

    def _get(self, bid: str) -> Bulletin:
        b = self.store.get(bid)
        if b is None:
            raise OperatorError(f"id: no bulletin {bid!r}", status=404)
        return b

    def _open_series(self, b: Bulletin, besides: str | None = None) -> Bulletin:
        """The series' latest approved bulletin (`besides` one being approved), what a correction
        or a cancel changes: 409 when nothing of the series was sent yet (reject it and write a
        new one) or it was cancelled."""
        approved = [x for x in self.store.series(b.series) if x.state is BulletinState.APPROVED and x.id != besides]
        if any(x.kind is BulletinKind.CANCEL for x in approved):
            raise OperatorError(f"id: the series {b.series} was cancelled; write a new bulletin", status=409)
        if not approved:
            raise OperatorError(
                f"id: nothing of the series {b.series} was approved yet; reject bulletin {b.id} and write a new one",
                status=409,
            )
        return approved[-1]

    def _guarded(self, action: str, fn: Handler) -> Handler:
        def run(user: str, body: dict[str, Any]) -> dict[str, Any]:
            if not isinstance(user, str) or not user.strip():
                raise OperatorError("user: an operator's name is needed")
            if not isinstance(body, dict):
                raise OperatorError("body: a JSON object is needed")
            try:
                return fn(user.strip(), body)
            except OperatorError as e:
                known = {"event_id": body["id"]} if isinstance(body.get("id"), str) else {}
                log.warning("bulletin.refused", action=action, user=user, status=e.status, error=e.message, **known)
                raise

        return run


def new_id(now: datetime) -> str:
    """`b-<UTC yyyymmddHHMMSS>-<4 hex>`: sortable by eye, unique in practice, known before it is
    written."""
    return f"b-{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def _answer(message: str, b: Bulletin) -> dict[str, Any]:
    return {"ok": True, "message": message, "bulletin": b.to_json()}


def _known(body: Mapping[str, Any], fields: set[str]) -> None:
    unknown = sorted(set(body) - fields)
    if unknown:
        raise OperatorError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(fields))})")


def _names(body: Mapping[str, Any], field: str) -> list[str]:
    v = body.get(field)
    if v is None:
        return []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise OperatorError(f"{field}: a list of names is needed")
    return list(dict.fromkeys(x.strip() for x in v))


def _choice(body: Mapping[str, Any], field: str, allowed: Any) -> str:
    v = body.get(field)
    if not isinstance(v, str) or v.strip().lower() not in allowed:
        raise OperatorError(f"{field}: {v!r} is not one of {', '.join(allowed)}")
    return v.strip().lower()


def _level(body: Mapping[str, Any], default: str | None) -> str | None:
    if "level" not in body:
        return default
    v = body["level"]
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if not isinstance(v, str) or len(v.strip()) > LEVEL_MAX or " " in v.strip():
        raise OperatorError(f'level: a word of a scale is needed ("awas", "siaga", "waspada", "siaga1"), not {v!r}')
    return v.strip().lower()


def _text(body: Mapping[str, Any], field: str, most: int) -> str:
    v = _optional(body, field, most)
    if v is None:
        raise OperatorError(f"{field}: empty; it is needed")
    return v


def _optional(body: Mapping[str, Any], field: str, most: int) -> str | None:
    v = body.get(field)
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if not isinstance(v, str):
        raise OperatorError(f"{field}: text is needed, not {type(v).__name__}")
    v = v.strip()
    if len(v) > most:
        raise OperatorError(f"{field}: {len(v)} characters, more than the {most} one bulletin may carry")
    return v
