"""This node among the nodes sharing the store: its heartbeat, the leader lease, its lanes.

Every lease/4 seconds the node renews its row, its lanes and its claims in flight, and takes or
renews the leader lease. Only the leader polls; every node delivers. The node reckons its own
leadership on its monotonic clock from the moment it *sent* the renewal, so it stops acting as
leader before the database could let another node take over, whatever the network did to the
answer. A node that cannot reach the database stops polling and delivering at once (its
statements fail), reconnects off the event loop, and takes part again once it answers.

With the embedded SQLite store there is one node (the state directory's lock sees to that): it
always leads, and the heartbeat only keeps `warnd status` informed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable

from warnd import __version__
from warnd.obs import get_logger
from warnd.store.backend import Database, DatabaseError
from warnd.store.cluster import Cluster, Node
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.membership")

# Nodes silent for this long leave `warnd status`.
FORGET_AFTER = 86400.0


class Displaced(Exception):
    """Another process registered under this node's name."""


class Membership:
    def __init__(
        self,
        db: Database,
        name: str,
        lease: float,
        *,
        shared: bool,
        listen: Callable[[], str | None],
        on_elected: Callable[[], None] = lambda: None,
        on_displaced: Callable[[str], None] = lambda why: None,
        store: StoreWorker | None = None,
    ) -> None:
        """`store`: where the heartbeat is written (by default, in the caller)."""
        self.store = store or inline()
        self.db = db
        self.cluster = Cluster(db)
        self.name = name
        self.lease = lease
        self.shared = shared
        self.listen = listen
        self.on_elected = on_elected
        self.on_displaced = on_displaced
        self.incarnation = uuid.uuid4().hex[:12]
        self.every = lease / 4
        self.epoch: int | None = None
        self._leader_until = 0.0
        self._alive_until = 0.0
        self.elected_at: float | None = None
        self.last_beat: float | None = None
        self.error: str | None = None
        self._stopping = False

    # --- what the rest of the node asks ---------------------------------------------------

    def is_leader(self) -> bool:
        if not self.shared:
            return True
        return self.epoch is not None and time.monotonic() < self._leader_until

    def alive(self) -> bool:
        """Whether this node's claims (lanes, attempts) are still its own."""
        if not self.shared:
            return True
        return self.db.available and time.monotonic() < self._alive_until

    def fence(self) -> None:
        """Inside the ingest transaction: refuse to commit unless this node still leads."""
        if not self.shared:
            return
        epoch = self.epoch
        if epoch is None or not self.cluster.fence(self.name, epoch):
            self._demote("the leader lease was lost before this poll could be recorded")
            raise NotLeader(f"node {self.name} no longer holds the leader lease")

    def claim_lane(self, target: str) -> bool:
        """Whether this node may work `target`'s lane now (taking it if no live node has it)."""
        if not self.alive():
            return False
        return self.cluster.claim_lane(target, self.name, self.lease)

    @property
    def role(self) -> str:
        return "leader" if self.is_leader() else "standby"

    # --- the heartbeat --------------------------------------------------------------------

    def register(self) -> None:
        node = Node(
            self.name,
            socket.gethostname(),
            os.getpid(),
            __version__,
            self.listen(),
            "standby",
            0.0,
            0.0,
            self.incarnation,
        )
        self.cluster.register(node)

    async def run(self) -> None:
        while not self._stopping:
            await self.beat()
            await asyncio.sleep(self.every)

    async def beat(self) -> None:
        sent = time.monotonic()
        if not self.db.available:
            self._demote("lost the database", cut_off=True)
            if not await self.store.run(self.db.reconnect):
                return
            log.info("store.reconnected", node=self.name, where=self.db.where)
            sent = time.monotonic()
        try:
            mine, epoch = await self.store.run(self._record_beat, self.role, self.listen())
            if not mine:
                why = f"another process registered as node {self.name!r}; each node needs its own store.node name"
                self._demote(why)
                self.error = why
                self.on_displaced(why)
                return
        except DatabaseError as e:
            self._demote(f"the database failed: {e}", cut_off=True)
            if self.error != str(e):  # once per spell, not every heartbeat
                log.error("store.failed", node=self.name, error=str(e), detail="the heartbeat was not recorded")
            self.error = str(e)
            return
        if self.error is not None:
            log.info("membership.recovered", node=self.name, error_was=self.error)
            self.error = None
        self.last_beat = time.time()
        self._alive_until = sent + self.lease
        if not self.shared:
            return
        if epoch is None:
            if self.epoch is not None:
                self._demote("another node holds the leader lease")
            return
        # A little short of the lease: the database counts from when it received the renewal.
        self._leader_until = sent + self.lease * 0.9
        if self.epoch != epoch:
            self.epoch = epoch
            self.elected_at = time.time()
            log.warning("leader.elected", node=self.name, epoch=epoch)
            self.on_elected()

    def _record_beat(self, role: str, listen: str | None) -> tuple[bool, int | None]:
        """On the store's thread: whether the node's record is still its own, and the leader
        epoch it holds (None: it does not lead)."""
        if not self.cluster.heartbeat(self.name, self.incarnation, role, listen):
            return False, None
        if not self.shared:
            # Alone on SQLite nothing else could take the node's lanes or claims: no renewal
            # (and no write with its sync) every few seconds.
            return True, None
        self.cluster.renew(self.name, self.lease)
        return True, self.cluster.acquire(self.name, self.lease)

    def _demote(self, why: str, *, cut_off: bool = False) -> None:
        """No longer leader; `cut_off`: nor the holder of its lanes and claims (the database
        is out of reach, so they are no longer renewed)."""
        if self.epoch is not None:
            log.warning("leader.lost", node=self.name, epoch=self.epoch, reason=why)
        self.epoch = None
        self._leader_until = 0.0
        if cut_off:
            self._alive_until = 0.0

    def housekeeping(self) -> None:
        if self.shared:
            self.cluster.forget_nodes(FORGET_AFTER)

    def stop(self) -> None:
        """Hand the lease and the lanes on at once (an orderly stop)."""
        self._stopping = True
        was = self.epoch
        self._demote("stopping")
        try:
            self.cluster.release_all(self.name)
        except DatabaseError as e:
            log.warning("membership.release_failed", node=self.name, error=str(e))
        else:
            if was is not None:
                log.info("leader.released", node=self.name, epoch=was)


class NotLeader(DatabaseError):
    """A poll's records were refused because this node no longer leads."""
