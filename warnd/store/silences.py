"""Operator silences kept in the state database (`warnd silence add|list|expire`), so that a
running daemon honours them at its next ingest without a reload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from warnd.model import iso_utc
from warnd.store.backend import Database


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str | None
    account: str | None
    region: str | None
    until: datetime
    reason: str

    def covers(self, rule: str, account: str, regions: list[str], now: datetime) -> bool:
        if now >= self.until:
            return False
        if self.rule is not None and self.rule != rule:
            return False
        if self.account is not None and self.account != account:
            return False
        # A region silence mutes a post only when every region it names is inside the silence.
        return self.region is None or all(c == self.region or c.startswith(self.region + ".") for c in regions)

    def describe(self) -> str:
        scope = ", ".join(
            f"{k} {v}" for k, v in (("rule", self.rule), ("account", self.account), ("region", self.region)) if v
        )
        return f"silence {self.id} ({scope or 'everything'}) until {iso_utc(self.until)}: {self.reason}"


class Silences:
    def __init__(self, conn: Database) -> None:
        self.conn = conn

    def add(
        self, *, rule: str | None, account: str | None, region: str | None, until: datetime, reason: str, now: datetime
    ) -> str:
        cur = self.conn.execute(
            "INSERT INTO silences (rule, account, region, until, reason, created_at) VALUES (?,?,?,?,?,?) RETURNING id",
            (rule, account, region, iso_utc(until), reason, iso_utc(now)),
        )
        return str(cur.fetchone()[0])

    def active(self, now: datetime) -> list[Silence]:
        rows = self.conn.execute("SELECT * FROM silences WHERE until > ? ORDER BY id", (iso_utc(now),)).fetchall()
        return [
            Silence(
                str(r["id"]),
                r["rule"],
                r["account"],
                r["region"],
                datetime.fromisoformat(r["until"].replace("Z", "+00:00")),
                r["reason"],
            )
            for r in rows
        ]

    def expire(self, silence_id: str, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE silences SET until = ? WHERE id = ? AND until > ?",
            (iso_utc(now), int(silence_id) if silence_id.isdigit() else -1, iso_utc(now)),
        )
        return cur.rowcount > 0
