"""What each ingested change made of the rules (the operator console's decisions): written in
the ingest transaction of the document that brought the change, read by every node's console.
Only the newest KEEP are kept."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from warnd.model import iso_utc
from warnd.store.backend import Database

KEEP = 500
# The most one document records: the console shows the newest 50 changes, so a gauge storm's
# thousands of readings would only be written to be pruned.
PER_DOCUMENT = 50


class Decisions:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def add(self, feed: str, trace: Sequence[dict[str, Any]], at: datetime, node: str | None) -> None:
        """Call inside the ingest transaction. A document of many changes (a gauge storm) keeps
        its last PER_DOCUMENT. The JSON is ASCII (escapes, as the ledger's): a feed's text with a
        lone surrogate (a cut emoji) must never fail the insert and roll back the warnings."""
        stamp = iso_utc(at)
        self.conn.executemany(
            "INSERT INTO decisions (at, node, feed, event_id, step) VALUES (?, ?, ?, ?, ?)",
            [
                (stamp, node, feed, str(step["event_id"]), json.dumps(step, default=str))
                for step in trace[-PER_DOCUMENT:]
            ],
        )
        self.conn.execute("DELETE FROM decisions WHERE id <= (SELECT max(id) FROM decisions) - ?", (KEEP,))

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """Newest first: each step with when, where (node, feed) and about which event."""
        rows = self.conn.execute(
            "SELECT at, node, feed, event_id, step FROM decisions ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [
            {"event_id": r["event_id"], "at": r["at"], "feed": r["feed"], "node": r["node"]} | json.loads(r["step"])
            for r in rows
        ]
