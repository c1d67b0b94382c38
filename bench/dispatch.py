"""Deliveries per second through the durable outbox: SQLite with synchronous=FULL, every state
change committed (in flight before the request, sent after), to the partner sink in a process of
its own and to the fake X (limits off), and how that scales with the number of targets."""

from __future__ import annotations

import asyncio
import functools
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Row, SinkProcess
from warnd.channels.base import Sender
from warnd.channels.webhook import WebhookSender
from warnd.channels.x import XSender
from warnd.clock import SystemClock
from warnd.config.outbound import Outbound
from warnd.config.schema import DispatchSettings
from warnd.config.secrets import Secret
from warnd.model import Hazard, HazardEvent, MsgType, Priority, Region, Status, Warning, WarningKind
from warnd.runtime.dispatcher import Dispatcher
from warnd.store.db import connect
from warnd.store.outbox import Outbox
from warnd.store.worker import StoreWorker
from warnd.testing.fake_x import FakeX

# Loopback fakes only: no proxy of the environment applies.
DIRECT = Outbound(proxy="none")


def quake(i: int, now: datetime) -> HazardEvent:
    return HazardEvent(f"e-{i}", "bench", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, now)


def drain(
    senders: Mapping[str, Sender], n_warnings: int, targets_for: Callable[[str], list[str]], accounts: list[str]
) -> tuple[float, int]:
    """Queue `n_warnings` per account, then time the dispatcher until the outbox is empty."""
    with tempfile.TemporaryDirectory(prefix="warnd-bench-") as tmp:
        conn = connect(Path(tmp) / "bench.db")
        box = Outbox(conn)
        now = datetime.now(UTC)
        with conn.transaction():
            for i in range(n_warnings):
                for a in accounts:
                    w = Warning(
                        id=f"w-{a}-{i}",
                        event_id=f"e-{i}",
                        revision="r",
                        rule="bench",
                        account=a,
                        kind=WarningKind.NEW,
                        severity="moderate",
                        priority=Priority.NORMAL,
                        regions=(Region("11", "Aceh", "province"),),
                        lang="id",
                        text=f"Gempa M5.{i % 10} nomor {i} untuk {a}",
                        status=Status.ACTUAL,
                        created_at=now,
                    )
                    box.enqueue(w, targets_for(a), now, event=quake(i, now))
        total = sum(box.counts().values())
        policy = DispatchSettings()

        async def go() -> float:
            # Through the store's thread, as in the daemon.
            worker = StoreWorker()
            d = Dispatcher(conn, SystemClock(), lambda: senders, lambda: policy, store=worker)
            start = time.perf_counter()
            drained = await d.drain(timeout=600)
            took = time.perf_counter() - start
            worker.close()
            if not drained:
                raise RuntimeError("the outbox did not drain in 600 s")
            for sender in senders.values():
                await sender.aclose()
            return took

        took = asyncio.run(go())
        sent = box.counts().get("sent", 0)
        conn.close()
    if sent != total:
        raise RuntimeError(f"{total - sent} deliveries were not sent")
    return total / took, total


def _to_partners(partners: list[str], account: str) -> list[str]:
    return [f"partner:{p}" for p in partners]


def webhooks(total: int = 3000) -> list[Row]:
    rows = []
    for n in (1, 3, 10, 30):
        partners = [f"p{i}" for i in range(n)]
        sink = SinkProcess({p: f"{p}-secret" for p in partners})
        try:
            hooks: dict[str, Sender] = {
                f"partner:{p}": WebhookSender(
                    p,
                    url=sink.url(p),
                    secret=Secret(f"{p}-secret"),
                    fmt="json",
                    timeout=10.0,
                    user_agent="bench",
                    outbound=DIRECT,
                    clock=SystemClock(),
                )
                for p in partners
            }
            r, sent = drain(hooks, max(1, total // n), functools.partial(_to_partners, partners), ["a"])
            counts = sink.counts()
            got = counts["total"]
        finally:
            sink.close()
        if got != sent or counts["rejected"]:
            raise RuntimeError(f"the sink processed {got} of {sent} ({counts})")
        goal = ">= 2,000 deliveries/s" if n == 3 else None
        rows.append(
            Row(
                "dispatch",
                f"signed webhooks to {n} partner{'s' if n > 1 else ''} in parallel"
                f" ({sent:,} POSTs, sink in its own process)",
                f"{r:,.0f} deliveries/s",
                {"deliveries_per_s": r, "targets": n},
                goal,
                r >= 2000 if goal else None,
            )
        )
    return rows


def x_posts(per_account: int = 300) -> list[Row]:
    rows = []
    for n in (1, 5, 20):
        accounts = [f"acct{i}" for i in range(n)]
        users = {f"tok-{a}": (f"sec-{a}", a) for a in accounts}
        fake = FakeX(
            consumer_key="k", consumer_secret="s", users=users, user_limit=(10**6, 900), app_limit=(10**6, 900)
        )
        fake.start()
        try:
            x: dict[str, Sender] = {
                f"account:{a}": XSender(
                    a,
                    consumer_key=Secret("k"),
                    consumer_secret=Secret("s"),
                    access_token=Secret(f"tok-{a}"),
                    access_token_secret=Secret(f"sec-{a}"),
                    api_base=fake.base,
                    connect_timeout=3.0,
                    read_timeout=10.0,
                    account_budget=(10**6, 900.0),
                    app_budget=(10**6, 86400.0),
                    outbound=DIRECT,
                    clock=SystemClock(),
                )
                for a in accounts
            }
            r, sent = drain(x, max(1, per_account * 5 // n), lambda a: [f"account:{a}"], accounts)
        finally:
            fake.stop()
        rows.append(
            Row(
                "dispatch",
                f"posts to the fake X API, {n} account{'s' if n > 1 else ''} in parallel"
                f" ({sent:,} posts, fake X in this process)",
                f"{r:,.0f} posts/s",
                {"posts_per_s": r, "targets": n},
            )
        )
    return rows
