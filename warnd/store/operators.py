"""The operator console's people and logins: named operators with their password hashes
(`warnd operator add|passwd|remove|list`), and their sessions.

A session is kept by the sha256 of its token, never the token: whoever reads the database (a
backup, another node's operator) cannot log in with what they read. Every node of a cluster
reads the same rows, so a login made through one node is good at every other, and a restart
keeps it. The hash of a password is made and checked above this layer (runtime.console_auth).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warnd.model import iso_utc
from warnd.store.backend import Database, Row


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    hash: str
    created_at: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    csrf: str
    created_at: str
    expires_at: str


class Operators:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def add(self, name: str, password_hash: str, now: datetime) -> bool:
        """False when an operator of that name exists already (left as it is)."""
        cur = self.conn.execute(
            "INSERT INTO operators (name, hash, created_at, disabled) VALUES (?,?,?,0) ON CONFLICT (name) DO NOTHING",
            (name, password_hash, iso_utc(now)),
        )
        return cur.rowcount > 0

    def set_hash(self, name: str, password_hash: str) -> bool:
        """A new password; the operator's sessions end (a password changed because it leaked
        must not leave the leaker logged in). False: no such operator."""
        with self.conn.transaction():
            cur = self.conn.execute("UPDATE operators SET hash = ? WHERE name = ?", (password_hash, name))
            self.conn.execute("DELETE FROM console_sessions WHERE operator = ?", (name,))
        return cur.rowcount > 0

    def remove(self, name: str) -> bool:
        with self.conn.transaction():
            cur = self.conn.execute("DELETE FROM operators WHERE name = ?", (name,))
            self.conn.execute("DELETE FROM console_sessions WHERE operator = ?", (name,))
        return cur.rowcount > 0

    def get(self, name: str) -> Operator | None:
        row = self.conn.execute(
            "SELECT name, hash, created_at, disabled FROM operators WHERE name = ?", (name,)
        ).fetchone()
        return _operator(row) if row is not None else None

    def all(self) -> list[Operator]:
        rows = self.conn.execute("SELECT name, hash, created_at, disabled FROM operators ORDER BY name").fetchall()
        return [_operator(r) for r in rows]

    # --- sessions ---------------------------------------------------------------------------

    def open_session(self, token_sha256: str, user: str, csrf: str, now: datetime, expires: datetime) -> None:
        """A new session; the expired ones of every operator are cleared on the way."""
        with self.conn.transaction():
            self.conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (iso_utc(now),))
            self.conn.execute(
                "INSERT INTO console_sessions (token_sha256, operator, csrf, created_at, expires_at)"
                " VALUES (?,?,?,?,?)",
                (token_sha256, user, csrf, iso_utc(now), iso_utc(expires)),
            )

    def session(self, token_sha256: str, now: datetime) -> Session | None:
        """The live session of this token whose operator still exists and is not disabled."""
        row = self.conn.execute(
            "SELECT s.operator, s.csrf, s.created_at, s.expires_at FROM console_sessions s"
            " JOIN operators o ON o.name = s.operator"
            " WHERE s.token_sha256 = ? AND s.expires_at > ? AND o.disabled = 0",
            (token_sha256, iso_utc(now)),
        ).fetchone()
        if row is None:
            return None
        return Session(row["operator"], row["csrf"], row["created_at"], row["expires_at"])

    def close_session(self, token_sha256: str) -> bool:
        cur = self.conn.execute("DELETE FROM console_sessions WHERE token_sha256 = ?", (token_sha256,))
        return cur.rowcount > 0


def _operator(r: Row) -> Operator:
    return Operator(r["name"], r["hash"], r["created_at"], bool(r["disabled"]))
