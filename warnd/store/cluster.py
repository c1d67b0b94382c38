"""Who runs, who leads and who works which lane, when several nodes share one database.

Every time here is the database's clock (`Database.now_sql`), never a node's: two nodes whose
clocks disagree still agree on when a lease ran out.

- The leader lease: one row, renewed by its holder. Another node takes it only once it has
  expired; each change of holder increments its epoch. The leader's ingest checks, inside its own
  transaction and with the row locked for share, that it still holds the lease at that epoch
  (`fence`): a leader that stalled past its lease cannot commit what it polled after another
  node took over, and the takeover waits for a commit already under way.
- Lanes: a target's deliveries are worked in order (urgency, then age; a reply after the post it
  answers; one posting budget) by one node at a time, which holds the lane with a lease.
- Delivery claims: an attempt is claimed in the outbox with its node and a lease end; the claims
  of a node that stopped renewing them are given back to the queue (`Outbox.recover_expired`).
"""

from __future__ import annotations

from dataclasses import dataclass

from warnd.store.backend import Database

LEADER = "leader"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    host: str
    pid: int
    version: str
    listen: str | None
    role: str
    started_at: float
    heartbeat_at: float
    incarnation: str


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    epoch: int
    acquired_at: float
    expires_at: float


class Cluster:
    def __init__(self, conn: Database) -> None:
        self.conn = conn
        self._now = conn.now_sql

    def now(self) -> float:
        return float(self.conn.execute(f"SELECT {self._now}").fetchone()[0])

    # --- nodes ----------------------------------------------------------------------------

    def register(self, n: Node) -> None:
        """This process is node `n.name` from now on; an earlier process of the name is
        displaced (its next heartbeat finds another incarnation and it stops)."""
        self.conn.execute(
            "INSERT INTO nodes (name, incarnation, host, pid, version, listen, role, started_at, heartbeat_at)"
            f" VALUES (?,?,?,?,?,?,?,{self._now},{self._now}) ON CONFLICT (name) DO UPDATE SET"
            " incarnation = excluded.incarnation, host = excluded.host, pid = excluded.pid,"
            " version = excluded.version, listen = excluded.listen, role = excluded.role,"
            " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            (n.name, n.incarnation, n.host, n.pid, n.version, n.listen, n.role),
        )

    def heartbeat(self, name: str, incarnation: str, role: str, listen: str | None) -> bool:
        """False: another process has taken this node's name."""
        cur = self.conn.execute(
            f"UPDATE nodes SET heartbeat_at = {self._now}, role = ?, listen = ? WHERE name = ? AND incarnation = ?",
            (role, listen, name, incarnation),
        )
        return cur.rowcount == 1

    def nodes(self) -> list[Node]:
        rows = self.conn.execute("SELECT * FROM nodes ORDER BY name").fetchall()
        return [
            Node(
                r["name"],
                r["host"],
                int(r["pid"]),
                r["version"],
                r["listen"],
                r["role"],
                float(r["started_at"]),
                float(r["heartbeat_at"]),
                r["incarnation"],
            )
            for r in rows
        ]

    def forget_nodes(self, older_than: float) -> None:
        """Nodes gone for longer than `older_than` seconds leave the list."""
        self.conn.execute(f"DELETE FROM nodes WHERE heartbeat_at < {self._now} - ?", (older_than,))

    # --- the leader lease -----------------------------------------------------------------

    def acquire(self, name: str, lease: float) -> int | None:
        """Take or renew the leader lease; its epoch when this node holds it, else None."""
        row = self.conn.execute(
            "INSERT INTO leases (name, holder, epoch, acquired_at, expires_at)"
            f" VALUES ('{LEADER}', ?, 1, {self._now}, {self._now} + ?) ON CONFLICT (name) DO UPDATE SET"
            # The same holder renewing a live lease keeps its epoch; any other change is a new one.
            " epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= excluded.acquired_at"
            " THEN leases.epoch ELSE leases.epoch + 1 END,"
            " acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= excluded.acquired_at"
            " THEN leases.acquired_at ELSE excluded.acquired_at END,"
            " holder = excluded.holder, expires_at = excluded.expires_at"
            " WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at"
            " RETURNING epoch",
            (name, lease),
        ).fetchone()
        return None if row is None else int(row[0])

    def release(self, name: str) -> None:
        """A node stopping in order hands the lease on at once instead of letting it run out."""
        self.conn.execute(
            f"UPDATE leases SET expires_at = {self._now} - 1 WHERE name = '{LEADER}' AND holder = ?", (name,)
        )

    def leader(self) -> Lease | None:
        row = self.conn.execute(
            "SELECT holder, epoch, acquired_at, expires_at FROM leases WHERE name = ?", (LEADER,)
        ).fetchone()
        if row is None:
            return None
        return Lease(row["holder"], int(row["epoch"]), float(row["acquired_at"]), float(row["expires_at"]))

    def fence(self, name: str, epoch: int) -> bool:
        """Inside a transaction: whether `name` still holds the lease at `epoch`. On PostgreSQL
        the row stays locked for share until the transaction ends, so no takeover lands between
        this check and the commit."""
        lock = " FOR SHARE" if self.conn.lock_rows else ""
        row = self.conn.execute(
            f"SELECT 1 FROM leases WHERE name = '{LEADER}' AND holder = ? AND epoch = ?"
            f" AND expires_at > {self._now}{lock}",
            (name, epoch),
        ).fetchone()
        return row is not None

    # --- lanes ----------------------------------------------------------------------------

    def claim_lane(self, target: str, name: str, lease: float) -> bool:
        """Take (or keep) the lane of `target` unless another node holds it."""
        cur = self.conn.execute(
            f"INSERT INTO lanes (target, node, until) VALUES (?, ?, {self._now} + ?)"
            " ON CONFLICT (target) DO UPDATE SET node = excluded.node, until = excluded.until"
            f" WHERE lanes.node = excluded.node OR lanes.until < {self._now}",
            (target, name, lease),
        )
        return cur.rowcount == 1

    def lanes(self) -> dict[str, str]:
        """Lanes held right now, and by whom."""
        rows = self.conn.execute(f"SELECT target, node FROM lanes WHERE until >= {self._now}").fetchall()
        return {r[0]: r[1] for r in rows}

    def release_lane(self, target: str, name: str) -> None:
        self.conn.execute("DELETE FROM lanes WHERE target = ? AND node = ?", (target, name))

    def renew(self, name: str, lease: float) -> None:
        """The node is alive: its lanes and its attempts in flight stay its own."""
        with self.conn.transaction():
            self.conn.execute(f"UPDATE lanes SET until = {self._now} + ? WHERE node = ?", (lease, name))
            self.conn.execute(
                f"UPDATE deliveries SET claim_until = {self._now} + ? WHERE state = 'in_flight' AND claimed_by = ?",
                (lease, name),
            )

    def release_all(self, name: str) -> None:
        with self.conn.transaction():
            self.conn.execute("DELETE FROM lanes WHERE node = ?", (name,))
            self.release(name)
            self.conn.execute("UPDATE nodes SET role = 'stopped' WHERE name = ?", (name,))
