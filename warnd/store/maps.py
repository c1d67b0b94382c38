"""Each warning's map as it was drawn: the PNG and its alt text, by warning id.

Written once per warning after its warning is committed (runtime.maps); read by the senders
that attach it and by the listeners that serve it, on whichever node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warnd.model import iso_utc
from warnd.store.backend import Database, placeholders


@dataclass(frozen=True, slots=True)
class StoredMap:
    warning_id: str
    png: bytes
    alt: str
    created_at: str


class Maps:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def put(self, warning_id: str, png: bytes, alt: str, now: datetime) -> None:
        """Commits on its own. A map already stored stays: a second drawing of the same
        warning (another node, a restart) says the same."""
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO maps (warning_id, png, alt, created_at) VALUES (?,?,?,?)"
                " ON CONFLICT (warning_id) DO NOTHING",
                (warning_id, png, alt, iso_utc(now)),
            )

    def get(self, warning_id: str) -> StoredMap | None:
        row = self.conn.execute(
            "SELECT warning_id, png, alt, created_at FROM maps WHERE warning_id = ?", (warning_id,)
        ).fetchone()
        if row is None:
            return None
        return StoredMap(row["warning_id"], bytes(row["png"]), row["alt"], row["created_at"])

    def has(self, warning_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM maps WHERE warning_id = ?", (warning_id,)).fetchone() is not None

    def having(self, warning_ids: list[str]) -> set[str]:
        """Which of these warnings have a map stored."""
        if not warning_ids:
            return set()
        rows = self.conn.execute(
            f"SELECT warning_id FROM maps WHERE warning_id IN ({placeholders(len(warning_ids))})", warning_ids
        ).fetchall()
        return {r[0] for r in rows}
