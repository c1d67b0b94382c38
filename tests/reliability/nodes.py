"""Several warnd nodes on one PostgreSQL: the campaign scenario run by 2 or 3 daemons sharing a
schema, each connecting as a role of its own (so that one can be cut off and locked out while
the others go on). Counting is at the receivers, as in every campaign."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql

from tests.conftest import cap_links
from tests.reliability.campaign import Outcome, Progress, Scenario, _unexpected_exits, drain, progressing, scenario
from warnd.store import postgres as pg_store
from warnd.testing import postgres as pg
from warnd.testing.daemon import DaemonProcess, wait_for

# The default lease: what the failover figure of docs/operator/several-nodes.md is about.
LEASE = 10.0
BOUND = LEASE + LEASE / 4


@dataclass
class Cluster:
    s: Scenario
    schema: str
    roles: list[str]
    configs: list[Path]
    nodes: dict[str, DaemonProcess]

    def name(self, i: int) -> str:
        return f"node{i}"

    def start(self, i: int) -> DaemonProcess:
        d = DaemonProcess(self.configs[i], self.s.env)
        self.nodes[self.name(i)] = d
        return d

    def leader(self) -> tuple[str, int] | None:
        """The live lease holder and its epoch, read as an operator would (by the database's clock)."""
        with pg.admin() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT holder, epoch FROM {}.leases WHERE name = 'leader'"
                    " AND expires_at > extract(epoch from clock_timestamp())"
                ).format(sql.Identifier(self.schema))
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        with pg.admin() as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            return conn.execute(statement.encode()).fetchall()  # type: ignore[call-overload]

    def delivered_by(self) -> dict[str, int]:
        """Deliveries sent, per node that sent them."""
        rows = self.query("SELECT claimed_by, count(*) FROM deliveries WHERE state = 'sent' GROUP BY claimed_by")
        return {str(r[0]): int(r[1]) for r in rows}

    def cap_feeds(self) -> dict[str, dict[str, list[str]]]:
        """Each living node's CAP feeds as a partner polls them: per account, the alerts its
        index.atom links to, newest first."""
        out: dict[str, dict[str, list[str]]] = {}
        for name, d in self.nodes.items():
            if d.proc.poll() is not None:
                continue
            base = "http://" + (d.folder / "state" / "listen").read_text().strip()
            feeds = httpx.get(base + "/cap/", timeout=10).json()["feeds"]
            out[name] = {
                account: cap_links(r.text)
                for account, path in feeds.items()
                if (r := httpx.get(base + path, timeout=10)).status_code == 200
            }
        return out

    def cap_published(self, entries: int = 50) -> tuple[dict[str, list[str]], dict[str, int]]:
        """What the store says each account's feed holds (newest first), and who published it."""
        rows = self.query(
            "SELECT target, remote_id, claimed_by FROM deliveries WHERE target LIKE 'feed:%' AND state = 'sent'"
            " ORDER BY remote_id DESC"
        )
        feeds: dict[str, list[str]] = {}
        by: dict[str, int] = {}
        for target, name, node in rows:
            feeds.setdefault(str(target).removeprefix("feed:"), []).append(str(name))
            by[str(node)] = by.get(str(node), 0) + 1
        return {a: names[:entries] for a, names in feeds.items()}, by

    def start_all(self) -> tuple[str, int]:
        """Every node started and ready, and the leader they agreed on."""
        for i in range(len(self.configs)):
            self.start(i)
        for d in self.nodes.values():
            d.ready(60)
        wait_for(lambda: self.leader() is not None, 30, "a leader")
        first = self.leader()
        assert first is not None
        return first

    def stop_all(self, out: Outcome) -> None:
        for name, d in self.nodes.items():
            if d.proc.poll() is not None:
                continue
            code = d.stop()
            if code != 0:
                out.crashes += 1
                out.notes.append(f"{name} stopped with exit {code}")


@contextlib.contextmanager
def cluster(folder: Path, n: int, *, events: int, step: int = 5, every: float = 0.3) -> Iterator[Cluster]:
    with pg.roles(n) as (group, roles), scenario(folder, events=events, step=step, every=every) as s:
        schema = f"c_{group.rsplit('_', 1)[1]}"
        # The schema is made (and migrated) by the group, so that every node's role may use it.
        pg_store.connect(pg.dsn_for(group), schema, None, "setup").close()
        base = s.cfg.read_text().replace("  - rules/*.yaml", f"  - {s.folder}/rules/*.yaml")
        configs = []
        for i, role in enumerate(roles):
            home = s.folder / f"node{i}"
            home.mkdir()
            text = base.replace(f"state_dir: {s.folder}/state", f"state_dir: {home}/state")
            text += f"store:\n  dsn: {pg.dsn_for(role)}\n  schema: {schema}\n  node: node{i}\n  lease: {LEASE:g}\n"
            (home / "warnd.yaml").write_text(text)
            configs.append(home / "warnd.yaml")
        c = Cluster(s, schema, roles, configs, {})
        try:
            yield c
        finally:
            for d in c.nodes.values():
                if d.proc.poll() is None:
                    d.kill()
            with pg.admin() as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def status(cfg: Path, fmt: str = "json") -> Any:
    """`warnd status` as an operator runs it (from the daemon, or the store when it is down)."""
    r = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg), "--format", fmt],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return json.loads(r.stdout) if fmt == "json" else r.stdout


def _count(out: Outcome, c: Cluster) -> None:
    out.expected = c.s.expected()
    out.delivered, out.lost, out.duplicated = c.s.tally()


def _events(d: DaemonProcess, *names: str) -> list[tuple[float, dict[str, Any]]]:
    """Log lines of the given events, with their time (unix seconds)."""
    out = []
    for line in d.log_lines():
        if line.get("event") in names and "timestamp" in line:
            at = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()
            out.append((at, line))
    return out


def failover(folder: Path, n: int, events: int = 150) -> Outcome:
    """`n` nodes replay a burst; the leader is killed (-9) a third of the way in. Every warning
    arrives once at the fake X and the partner sink, and another node takes the lead within the
    bound."""
    out = Outcome(f"kill -9 the leader of {n} nodes", f"{events} quakes, lease {LEASE:g} s")
    started = time.monotonic()
    with cluster(folder, n, events=events) as c, Progress(c.s) as progress:
        first = c.start_all()
        # `warnd status` of the running cluster, taken before the burst: each is a command of a
        # second or two, and taken at the kill they let the leader post the whole burst first,
        # leaving the others nothing to take over.
        seen_before = status(c.configs[0])
        table_before = status(c.configs[0], "table")
        c.s.replay.start()
        progressing(c.s, lambda: len(c.s.x.state.posts) >= events // 3, "a third of the burst posted")
        victim = c.nodes[first[0]]
        out.crashes += _unexpected_exits(victim)
        victim.kill()
        killed = time.time()
        # A fresh document after the kill, which only a poll of the new leader can record: on a
        # slow machine the replay may have ended before the kill, and an unchanged document is
        # not logged as polled.
        c.s.replay.republish()
        wait_for(lambda: (c.leader() or (first[0],))[0] != first[0], 3 * BOUND, "another leader")
        takeover = time.time() - killed
        after = c.leader()
        assert after is not None
        drained = drain(c.s, killed, "every post and webhook")
        time.sleep(1.0)  # anything that would repeat arrives before the count
        # Polling resumed: the new leader's first poll that recorded a document after the kill.
        polled = [t for t, _ in _events(c.nodes[after[0]], "feed.polled") if t > killed]
        for name, d in c.nodes.items():
            if name != first[0]:
                out.crashes += _unexpected_exits(d)
        by = c.delivered_by()
        feeds_served = c.cap_feeds()
        feeds_stored, feeds_by = c.cap_published()
        # From the dead node's own config: its daemon does not answer, the store does.
        seen_after = status(c.configs[int(first[0].removeprefix("node"))])
        c.stop_all(out)
        _count(out, c)
        out.extra = {
            "status_before": seen_before,
            "status_table": table_before,
            "status_after": seen_after,
            "takeover_s": takeover,
            "first_leader": first,
            "new_leader": after,
            "polled_after_s": (min(polled) - killed) if polled else None,
            "delivered_by": by,
            "cap_served": feeds_served,
            "cap_stored": feeds_stored,
            "cap_published_by": feeds_by,
            "repeats": sum(c.s.sink.state.repeats.values()),
            "x_refused": c.s.x.state.duplicates,
            "drain": drained,
            "timeline": progress.timeline(killed),
        }
        out.notes.append(
            f"{after[0]} took over {takeover:.1f} s after the kill (bound {BOUND:g} s), epoch {first[1]} -> {after[1]}"
        )
        out.notes.append("sent per node: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
        out.notes.append(
            f"re-sends: {out.extra['x_refused']} refused by X as duplicate content,"
            f" {out.extra['repeats']} webhook repeats"
        )
        out.drained = drained
        out.notes.append(drained.note("the kill"))
    out.seconds = time.monotonic() - started
    return out


def cut_off(folder: Path, events: int = 90, spell: float = 15.0) -> Outcome:
    """The leader of two nodes loses its database connection (its backends terminated, its role
    locked out) for `spell` seconds mid-burst: it stops polling and delivering at once, the other
    node takes over, and once let back in it rejoins as a standby; every warning once."""
    out = Outcome("database connection cut", f"pg_terminate_backend + login refused for {spell:g} s")
    started = time.monotonic()
    with cluster(folder, 2, events=events) as c:
        first = c.start_all()
        cut_name = first[0]
        role = c.roles[int(cut_name.removeprefix("node"))]
        c.s.replay.start()
        progressing(c.s, lambda: len(c.s.x.state.posts) >= events // 4, "a quarter of the burst posted")
        terminated = pg.cut_off(f"warnd:{cut_name}", lock_out=role)
        cut_at = time.time()
        wait_for(lambda: (c.leader() or (cut_name,))[0] != cut_name, 3 * BOUND, "another leader")
        takeover = time.time() - cut_at
        remaining = spell - (time.time() - cut_at)
        if remaining > 0:
            time.sleep(remaining)
        pg.let_in(role)
        let_in_at = time.time()
        cut = c.nodes[cut_name]
        wait_for(lambda: bool([t for t, _ in _events(cut, "store.reconnected") if t > cut_at]), 30, "reconnected")
        reconnected = min(t for t, _ in _events(cut, "store.reconnected") if t > cut_at)
        drained = drain(c.s, cut_at, "every post and webhook")
        time.sleep(1.0)
        lost_lead = [t for t, _ in _events(cut, "leader.lost") if t >= cut_at]
        # What the cut node did while it could not reach the database: a poll recorded, a
        # delivery made. An attempt already on the wire when the cut came may still finish
        # (its outcome is recorded late, or it is retried by the other node and refused as a
        # repeat), so the window starts a second after the cut.
        acted = [
            (t, ln["event"])
            for t, ln in _events(cut, "feed.polled", "warning.delivered")
            if cut_at + 1.0 < t < reconnected
        ]
        for d in c.nodes.values():
            out.crashes += _unexpected_exits(d)
        roles_now = dict(c.query("SELECT name, role FROM nodes"))
        by = c.delivered_by()
        c.stop_all(out)
        _count(out, c)
        out.extra = {
            "terminated": terminated,
            "takeover_s": takeover,
            "lost_lead_after_s": (min(lost_lead) - cut_at) if lost_lead else None,
            "acted_while_cut": acted,
            "reconnected_after_let_in_s": reconnected - let_in_at,
            "roles_after": roles_now,
            "delivered_by": by,
        }
        stopped = f"{min(lost_lead) - cut_at:.1f} s" if lost_lead else "never (!)"
        out.notes.append(
            f"{cut_name} cut off: stopped leading after {stopped}, the other took over in {takeover:.1f} s;"
            f" {len(acted)} polls or posts by the cut node while cut; reconnected"
            f" {out.extra['reconnected_after_let_in_s']:.1f} s after being let in"
        )
        out.drained = drained
        out.notes.append(drained.note("the cut"))
    out.seconds = time.monotonic() - started
    return out
