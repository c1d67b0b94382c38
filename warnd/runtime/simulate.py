"""`warnd simulate`: recorded documents, in order, through ledger, rules, lifecycle and render,
exactly as the daemon would take them, into a throwaway in-memory database. Nothing is posted.

A clock can be set (`at`) and stepped (`every` until `until`), so that a recorded gauge series
or a warning sequence plays as it happened.

Age (pipeline.age): following the documents' own times, every document is current, as if the
daemon had polled each when it was issued: nothing is too old. With a clock set, events are
judged against it as the daemon would judge them then (a 2021 list simulated at today's clock
posts nothing, each drop saying `stale`). No feed takes a baseline: simulate shows what the
documents post, as a daemon that has polled their feeds before would post them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from warnd.clock import FixedClock
from warnd.config.schema import outlets
from warnd.model import ParseResult, Source, Target, Warning
from warnd.obs import bound
from warnd.pollers.registry import FORMATS, detect
from warnd.runtime.build import Bundle, build
from warnd.runtime.ingest import Ingest
from warnd.store import db
from warnd.store.issued import IssuedWarnings


@dataclass
class Run:
    warnings: list[Warning] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # Each warning's targets (by warning id), as the outbox was given them.
    targets: dict[str, list[str]] = field(default_factory=dict)
    # The hazard each warning is about (by warning id).
    hazards: dict[str, str | None] = field(default_factory=dict)
    # The channel of each account target (x, telegram, mastodon, bluesky, file).
    channels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    name: str
    data: bytes
    feed: str
    feed_format: str | None = None


def ticks(at: datetime, every: timedelta | None, until: datetime | None) -> list[datetime]:
    if every is None or until is None:
        return [at]
    out: list[datetime] = []
    t = at
    while t <= until and len(out) < 100_000:
        out.append(t)
        t += every
    return out


def simulate(config: Path, documents: Sequence[Document], times: Sequence[datetime], *, follow: bool = False) -> Run:
    """`follow`: with a single time, move the clock to each document's own newest time, as if
    the daemon had polled it as it was issued (recorded warning sequences)."""
    return run_bundle(build(config, with_senders=False), documents, times, follow=follow)


def run_bundle(
    bundle: Bundle, documents: Sequence[Document], times: Sequence[datetime], *, follow: bool = False
) -> Run:
    """`simulate` with a set already built: the running daemon's (the operator console), whose
    rules, regions and templates are then exactly what the documents meet. Nothing is sent:
    the set's senders are never called and its store is not touched.

    Every line logged meanwhile, on this thread, carries `simulated=true`: in the daemon's log
    (the console's simulate) it must never pass for an event or a warning of its own."""
    with bound(simulated=True):
        return _run(bundle, documents, times, follow)


def _run(bundle: Bundle, documents: Sequence[Document], times: Sequence[datetime], follow: bool) -> Run:
    conn = db.connect(Path(":memory:"))
    clock = FixedClock(times[0])
    ingest = Ingest(conn, clock, lambda: bundle, replay=follow, simulated=True)
    run = Run()
    last: dict[str, str] = {}
    for now in times:
        clock.set(now)
        for doc in documents:
            src = Source(doc.feed, now, doc.name)
            if doc.feed_format:
                result: ParseResult = FORMATS[doc.feed_format](doc.data, src)
            else:
                _, result = detect(doc.data, src)
            key = repr([e.revision for e in result.events])
            if last.get(doc.name) == key:
                continue  # the daemon would see an unchanged document and skip it
            last[doc.name] = key
            run.rejected += [f"{doc.name}: {r.item}: {r.field}: {r.reason.value}: {r.message}" for r in result.rejected]
            if follow and result.events:
                clock.set(max(e.sent or e.time for e in result.events))
            report = ingest.handle(doc.feed, result)
            run.warnings += report.warnings
            for step in report.trace:
                run.trace.append({"at": now.isoformat(), "document": doc.name, **step})
    run.channels = {
        str(Target.account(name, channel)): one.channel
        for name, declared in bundle.config.file.accounts.items()
        for channel, one in outlets(name, declared)
    }
    for w in IssuedWarnings(conn).recent(max(1, len(run.warnings))):
        run.targets[w["id"]] = [d["target"] for d in w["deliveries"]]
        run.hazards[w["id"]] = w["hazard"]
    conn.close()
    return run


def diff(base: Run, other: Run) -> list[dict[str, Any]]:
    """What `other` posts that `base` does not, and the reverse, keyed by event, account, rule
    and kind; a post present in both with another text is 'changed'."""

    def key(w: Warning) -> tuple[str, str, str, str]:
        return (w.event_id, w.account, w.rule, w.kind.value)

    a = {key(w): w for w in base.warnings}
    b = {key(w): w for w in other.warnings}
    out: list[dict[str, Any]] = []
    for k in sorted(a.keys() | b.keys()):
        if k not in b:
            out.append({"change": "removed", **a[k].to_json()})
        elif k not in a:
            out.append({"change": "added", **b[k].to_json()})
        elif a[k].text != b[k].text:
            out.append({"change": "changed", **b[k].to_json(), "was": a[k].text})
    return out
