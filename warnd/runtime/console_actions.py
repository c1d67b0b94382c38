"""The operator console's own actions: a delivery retried or dropped, a silence added or ended,
a target's hold lifted, and a document simulated against the running configuration.

Each is a plain callable `(user, body) -> answer` that raises OperatorError (naming the field)
for what cannot be done as asked. All but `simulate` run on the store's writing thread, on the
daemon's connection, and do what the CLI does (runtime.operations); `simulate` touches no store
of the daemon's and runs on a thread of its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from warnd.clock import Clock
from warnd.errors import FeedError, OperatorError
from warnd.model import life_safety
from warnd.pollers.registry import FORMATS
from warnd.runtime import operations
from warnd.runtime.build import Bundle
from warnd.runtime.simulate import Document, run_bundle
from warnd.store.backend import Database
from warnd.store.subscriptions import Subscriptions

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]

# A silence longer than a week is a rule change: made in the rules, reviewed, reloaded.
MAX_SILENCE_MINUTES = 7 * 24 * 60
MAX_DOCUMENT = 1_000_000


def integer(body: dict[str, Any], name: str, low: int = 1, high: int = 2**62) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise OperatorError(f"{name}: must be an integer")
    if not low <= value <= high:
        raise OperatorError(f"{name}: must be between {low} and {high}")
    return value


def text(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 500) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise OperatorError(f"{name}: is required")
        return None
    if not isinstance(value, str):
        raise OperatorError(f"{name}: must be a string")
    if len(value) > limit:
        raise OperatorError(f"{name}: at most {limit} characters")
    return value.strip()


def formats() -> list[dict[str, str]]:
    """The parser formats a document can be simulated as, each with the first line of its
    module's description."""
    out = []
    for name, parse in sorted(FORMATS.items()):
        module = inspect.getmodule(parse)
        doc = (module.__doc__ if module is not None else None) or ""
        out.append({"name": name, "description": " ".join(doc.strip().split("\n\n", 1)[0].split())})
    return out


class ConsoleActions:
    def __init__(self, conn: Database, clock: Clock, bundle: Callable[[], Bundle]) -> None:
        """`conn`: the daemon's (writing) connection."""
        self.conn = conn
        self.clock = clock
        self.bundle = bundle

    def on_store(self) -> dict[str, Handler]:
        """The actions run on the store's writing thread."""
        return {
            "delivery/retry": self.delivery_retry,
            "delivery/drop": self.delivery_drop,
            "silence/add": self.silence_add,
            "silence/expire": self.silence_expire,
            "account/enable": self.account_enable,
            "subscription/approve": self.subscription_approve,
            "subscription/revoke": self.subscription_revoke,
        }

    def delivery_retry(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        did = integer(body, "id")
        operations.retry_delivery(self.conn, did, self.clock.now())
        return {"ok": True, "message": f"delivery {did} goes now"}

    def delivery_drop(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        did = integer(body, "id")
        reason = text(body, "reason")
        assert reason is not None
        operations.drop_delivery(self.conn, did, f"{reason} ({user})", self.clock.now())
        return {"ok": True, "message": f"delivery {did} dropped"}

    def silence_add(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        minutes = integer(body, "minutes", 1, MAX_SILENCE_MINUTES)
        reason = text(body, "reason")
        now = self.clock.now()
        until = now + timedelta(minutes=minutes)
        sid = operations.add_silence(
            self.bundle().config,
            self.conn,
            rule=text(body, "rule", required=False, limit=200),
            account=text(body, "account", required=False, limit=200),
            region=text(body, "region", required=False, limit=200),
            until=until,
            reason=f"{reason} ({user})",
            now=now,
        )
        return {
            "ok": True,
            "message": f"silence {sid} for {minutes} min (life-safety posts are never muted)",
            "id": sid,
        }

    def silence_expire(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        sid = integer(body, "id")
        operations.expire_silence(self.conn, str(sid), self.clock.now())
        return {"ok": True, "message": f"silence {sid} ended"}

    def account_enable(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        target = text(body, "target", limit=200)
        assert target is not None
        b = self.bundle()
        if target not in b.senders and target not in b.missing and not self._subscriber(target):
            raise OperatorError(f"target: no target {target!r} in the running configuration", status=404)
        done = operations.retry_target(self.conn, target, self.clock.now())
        what = "hold or disable lifted" if done.lifted else "was neither held nor disabled"
        return {"ok": True, "message": f"{target}: {what}; {done.queued} deliveries go now"}

    def _subscriber(self, target: str) -> bool:
        """A partner's own subscription that is not revoked: its lane is the store's, not the
        configuration's (runtime.subscribers)."""
        return any(s.target == target for s in Subscriptions(self.conn).listing())

    def subscription_approve(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """A pending subscription made active, or a paused one resumed (as the CLI's approve)."""
        sid = text(body, "id", limit=100)
        assert sid is not None
        s = operations.approve_subscription(self.conn, sid, f"console:{user}", self.clock.now())
        return {"ok": True, "message": f"subscription {s.id} ({s.partner}) is active"}

    def subscription_revoke(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        sid = text(body, "id", limit=100)
        assert sid is not None
        dropped = operations.revoke_subscription(self.conn, sid, f"console:{user}", self.clock.now())
        return {"ok": True, "message": f"subscription {sid} revoked; {dropped} waiting delivery(ies) dropped"}

    def simulate(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """The documents through the running rules, regions and templates; nothing stored or sent."""
        document = text(body, "document", limit=MAX_DOCUMENT)
        fmt = text(body, "format", limit=100)
        name = text(body, "name", required=False, limit=200) or "console"
        assert document is not None and fmt is not None
        if fmt not in FORMATS and fmt != "auto":
            raise OperatorError(f"format: unknown format {fmt!r} (known: auto, {', '.join(sorted(FORMATS))})")
        doc = Document(name, document.encode(), name, None if fmt == "auto" else fmt)
        try:
            run = run_bundle(self.bundle(), [doc], [self.clock.now()], follow=True)
        except FeedError as e:
            raise OperatorError(f"document: {e.message}") from None
        posts = []
        colour: dict[str, dict[str, Any]] = {}
        for w in run.warnings:
            notes = {p.code: p.level for p in w.zone_parts}
            regions = [{"code": r.code, "name": r.name, "level": r.level, "note": notes.get(r.code)} for r in w.regions]
            for r in regions:
                colour.setdefault(str(r["code"]), r)
            posts.append(
                {
                    "account": w.account,
                    "kind": w.kind.value,
                    "rule": w.rule,
                    "text": w.text,
                    "regions": regions,
                    "targets": run.targets.get(w.id, []),
                    "life_safety": life_safety(run.hazards.get(w.id), w.priority, (w.level,)),
                }
            )
        return {
            "ok": True,
            "message": f"{len(posts)} post(s) would be made; nothing was stored or sent",
            "posts": posts,
            "explain": run.trace,
            "rejected": run.rejected,
            "map": list(colour.values()),
        }
