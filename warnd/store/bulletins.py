"""Operators' bulletins in the state database: written, approved or rejected, and found by series.

Each call runs inside the caller's transaction (runtime.bulletins opens one per operator action,
the approval together with the warnings it issues). An approval or a rejection is one update
conditional on the bulletin still being pending, so two operators deciding at once (two consoles,
two nodes) cannot both succeed: the second is told the bulletin's state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from warnd.errors import OperatorError
from warnd.model import Bulletin, BulletinState, iso_utc
from warnd.store.backend import Database, Row, placeholders

# The rule every bulletin's warnings name (pipeline.bulletin.RULE; the store does not import the
# pipeline).
RULE = "bulletin"


class Bulletins:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def write(self, b: Bulletin) -> None:
        self.conn.execute(
            "INSERT INTO bulletins (id, series, kind, state, author, approver, created_at, seq, data)"
            " VALUES (?,?,?,?,?,?,?,(SELECT COALESCE(MAX(seq), 0) + 1 FROM bulletins),?)",
            (b.id, b.series, b.kind.value, b.state.value, b.author, b.approver, iso_utc(b.created_at), _data(b)),
        )

    def get(self, bulletin_id: str) -> Bulletin | None:
        row = self.conn.execute("SELECT data FROM bulletins WHERE id = ?", (bulletin_id,)).fetchone()
        return _bulletin(row) if row else None

    def listing(self, limit: int = 50) -> list[Bulletin]:
        """The newest first, in the order they were written."""
        rows = self.conn.execute("SELECT data FROM bulletins ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [_bulletin(r) for r in rows]

    def series(self, series: str) -> list[Bulletin]:
        """Every bulletin of a series, oldest first (the first is the series' own)."""
        rows = self.conn.execute("SELECT data FROM bulletins WHERE series = ? ORDER BY seq", (series,)).fetchall()
        return [_bulletin(r) for r in rows]

    def by_ids(self, ids: Sequence[str]) -> dict[str, Bulletin]:
        """The bulletins of these ids that exist (who wrote and approved a warning's bulletin:
        the warning's revision is its bulletin's id)."""
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT data FROM bulletins WHERE id IN ({placeholders(len(ids))})", tuple(ids)
        ).fetchall()
        return {b.id: b for b in map(_bulletin, rows)}

    def warnings(self, series: Sequence[str]) -> dict[str, dict[str, str]]:
        """The warnings the bulletins of these series issued: by bulletin id, each account's
        warning id."""
        if not series:
            return {}
        rows = self.conn.execute(
            "SELECT id, account, revision FROM warnings"
            f" WHERE rule = ? AND event_id IN ({placeholders(len(series))}) ORDER BY created_at, id",
            (RULE, *series),
        ).fetchall()
        out: dict[str, dict[str, str]] = {}
        for r in rows:
            out.setdefault(r["revision"], {})[r["account"]] = r["id"]
        return out

    def pending(self, bulletin_id: str) -> Bulletin:
        """The bulletin, still pending: OperatorError 404 when there is none of that id, 409 when
        it was already decided."""
        b = self.get(bulletin_id)
        if b is None:
            raise OperatorError(f"id: no bulletin {bulletin_id!r}", status=404)
        if b.state is not BulletinState.PENDING:
            who = b.approver or b.rejected_by
            raise OperatorError(
                f"id: bulletin {bulletin_id} is {b.state.value}" + (f" (by {who})" if who else "") + ", not pending",
                status=409,
            )
        return b

    def approve(self, bulletin_id: str, by: str, now: datetime, *, two_person: bool) -> Bulletin:
        """The bulletin approved by `by`. Refused: an unknown id (404), a bulletin no longer
        pending (409), and, under the two-person rule, its author's own approval (403)."""
        b = self.pending(bulletin_id)
        if two_person and b.author == by:
            raise OperatorError(
                f"approver: {by} wrote bulletin {bulletin_id}; another operator must approve it"
                " (the two-person rule, config bulletins.two_person)",
                status=403,
            )
        return self._decide(b.approved(by, now))

    def reject(self, bulletin_id: str, by: str, why: str) -> Bulletin:
        """The bulletin rejected by `by` (its author may take back their own): 404, 409 as for
        `approve`."""
        return self._decide(self.pending(bulletin_id).rejected(by, why))

    def withdraw_pending(self, series: str) -> list[Bulletin]:
        """Every bulletin of the series still pending, withdrawn (its series was cancelled)."""
        out = []
        for b in self.series(series):
            if b.state is BulletinState.PENDING:
                out.append(self._decide(b.withdrawn()))
        return out

    def _decide(self, b: Bulletin) -> Bulletin:
        cur = self.conn.execute(
            "UPDATE bulletins SET state = ?, approver = ?, data = ? WHERE id = ? AND state = ?",
            (b.state.value, b.approver, _data(b), b.id, BulletinState.PENDING.value),
        )
        if cur.rowcount == 0:
            # Decided by someone else between the read and this update.
            now = self.get(b.id)
            state = now.state.value if now is not None else "gone"
            raise OperatorError(f"id: bulletin {b.id} is {state}, not pending", status=409)
        return b


def _data(b: Bulletin) -> str:
    return json.dumps(b.to_json(), ensure_ascii=False)


def _bulletin(row: Row) -> Bulletin:
    return Bulletin.from_json(json.loads(row["data"]))
