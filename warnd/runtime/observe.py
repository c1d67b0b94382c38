"""The running daemon seen from outside: health, status and the gauges read at scrape time.

One read of the state database per question; the same conditions feed /healthz, the notices
and the metrics, so they always agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from warnd.clock import Clock
from warnd.model import iso_utc
from warnd.runtime import conditions, status
from warnd.runtime.build import Bundle
from warnd.runtime.conditions import Condition, Live
from warnd.runtime.health import failing_reason
from warnd.store.backend import Database, DatabaseError
from warnd.store.feedstate import FeedStates
from warnd.store.outbox import Outbox
from warnd.store.targets import Targets

HEALTH_CODES = {"ok": 0, "degraded": 1, "failing": 2}


class Observer(Collector):
    def __init__(
        self,
        conn: Database,
        clock: Clock,
        bundle: Callable[[], Bundle],
        live: Callable[[], Live],
        generation: Callable[[], int],
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.bundle = bundle
        self.live = live
        self.generation = generation

    def conditions(self) -> list[Condition]:
        return conditions.collect(self.conn, self.bundle(), self.clock.now(), self.live())

    def health(self) -> dict[str, Any]:
        try:
            found = self.conditions()
        except DatabaseError as e:
            return self._unreachable(e)
        return {
            "status": conditions.overall(found),
            "reasons": [c.to_json() for c in found],
            "generation": self.generation(),
            "checked_at": iso_utc(self.clock.now()),
        }

    def _unreachable(self, e: DatabaseError) -> dict[str, Any]:
        why = Condition("store_failing", "store", "failing", f"the store cannot be read: {e}", "the store answers")
        return {
            "status": "failing",
            "reasons": [why.to_json()],
            "generation": self.generation(),
            "checked_at": iso_utc(self.clock.now()),
        }

    def status(self, config_path: str) -> dict[str, Any]:
        try:
            return self._status(config_path)
        except DatabaseError as e:
            return {
                "source": "daemon",
                "pid": os.getpid(),
                "health": self._unreachable(e),
                "error": f"the store cannot be read: {e}",
            }

    def _status(self, config_path: str) -> dict[str, Any]:
        b = self.bundle()
        now = self.clock.now()
        live = self.live()
        queues = Outbox(self.conn).per_target()
        doc = status.snapshot(
            self.conn, [f.spec.id for f in b.config.feeds], now, queues, b.config.file.store.lease, live.answered
        )
        found = conditions.collect(self.conn, b, now, live, queues)
        planned = [
            {"id": f"config#{i}", "rule": s.rule, "account": s.account, "region": s.region}
            | {"until": iso_utc(s.until), "reason": s.reason}
            for i, s in enumerate(b.config.file.silences)
            if s.until > now
        ]
        return doc | {
            "source": "daemon",
            "pid": os.getpid(),
            "config": config_path,
            "state_db": self.conn.where,
            "started": iso_utc(live.started),
            "uptime_s": round((now - live.started).total_seconds(), 1),
            "generation": self.generation(),
            "last_reload": dict(live.last_reload) if live.last_reload else doc["last_reload"],
            "config_refused": dict(live.config_refused) if live.config_refused else None,
            "health": {"status": conditions.overall(found), "reasons": [c.to_json() for c in found]},
            "silences": planned + doc["silences"],
            "feeds": [f | {"interval_s": _interval(b, f["feed"])} for f in doc["feeds"]],
        }

    # --- prometheus_client Collector: gauges read at scrape time ----------------------------

    def collect(self) -> Iterator[Metric]:
        try:
            # Read whole before yielding: a store that fails halfway gives no half a scrape.
            found = list(self._collect())
        except DatabaseError:
            return  # the store_failing condition and the log say why
        yield from found

    def _collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        b = self.bundle()
        queues = Outbox(self.conn).per_target()
        depth = GaugeMetricFamily("warnd_queue_depth", "Deliveries waiting, per target.", labels=["target"])
        dead = GaugeMetricFamily("warnd_dead_letters", "Deliveries given up, per target.", labels=["target"])
        oldest = GaugeMetricFamily(
            "warnd_queue_oldest_seconds", "Age of the oldest delivery waiting, per target.", labels=["target"]
        )
        for target in sorted(set(b.senders) | set(b.missing) | set(queues)):
            q = queues.get(target)
            depth.add_metric([target], q.waiting if q else 0)
            dead.add_metric([target], q.dead if q else 0)
            age = (now - q.oldest_waiting).total_seconds() if q and q.oldest_waiting else 0.0
            oldest.add_metric([target], max(0.0, age))
        yield from (depth, dead, oldest)

        live = self.live()
        states = FeedStates(self.conn, live.answered)
        age_f = GaugeMetricFamily(
            "warnd_feed_age_seconds",
            "Since the feed's last successful poll (since start when it has none).",
            labels=["feed"],
        )
        change_f = GaugeMetricFamily(
            "warnd_feed_unchanged_seconds", "Since the feed's document last changed.", labels=["feed"]
        )
        failures = GaugeMetricFamily("warnd_feed_failures", "Failed polls in a row.", labels=["feed"])
        failing = GaugeMetricFamily(
            "warnd_feed_failing",
            "1 while the feed has been failing for longer than its fail_after (a feed_failing notice).",
            labels=["feed", "critical"],
        )
        for f in b.config.feeds:
            st = states.get(f.spec.id)
            age_f.add_metric([f.spec.id], _since(st.last_ok, now, live.started))
            change_f.add_metric([f.spec.id], _since(st.last_change, now, live.started))
            failures.add_metric([f.spec.id], st.failures)
            alarm = failing_reason(f.spec, st, now, live.started) is not None
            failing.add_metric([f.spec.id, "true" if f.spec.critical else "false"], 1 if alarm else 0)
        yield from (age_f, change_f, failures, failing)

        found = conditions.collect(self.conn, b, now, live, queues)
        health = GaugeMetricFamily("warnd_health", "Overall health: 0 ok, 1 degraded, 2 failing (reasons on /healthz).")
        health.add_metric([], HEALTH_CODES[conditions.overall(found)])
        yield health
        kinds = GaugeMetricFamily("warnd_conditions", "Conditions that need an operator, by kind.", labels=["kind"])
        counts: dict[str, int] = {}
        for c in found:
            counts[c.kind] = counts.get(c.kind, 0) + 1
        for kind, n in sorted(counts.items()):
            kinds.add_metric([kind], n)
        yield kinds
        disabled = GaugeMetricFamily("warnd_target_disabled", "1 while a target is disabled.", labels=["target"])
        for t in Targets(self.conn).all():
            disabled.add_metric([t.target], 1 if t.disabled_at is not None else 0)
        yield disabled


def _interval(b: Bundle, feed_id: str) -> float | None:
    return next((f.spec.interval for f in b.config.feeds if f.spec.id == feed_id), None)


def _since(stamp: str | None, now: datetime, started: datetime) -> float:
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else started
    return max(0.0, (now - then).total_seconds())
