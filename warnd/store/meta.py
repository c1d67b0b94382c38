"""Single named values kept beside the state (the `meta` table): the last reload's outcome,
which `warnd status` reads back when the daemon does not answer."""

from __future__ import annotations

from warnd.store.backend import Database

LAST_RELOAD = "last_reload"


class Meta:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def put(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row is not None else None
