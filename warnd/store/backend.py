"""One interface to the state database, whatever holds it.

The stores (ledger, outbox, targets, ...) write their SQL once, in the subset SQLite and
PostgreSQL share, with `?` placeholders, and run it through a `Database`. What differs between
the two is named here and nowhere else: row locking (`lock_rows`), the database's own clock
(`now_sql`), how a transaction starts, and how a lost connection is noticed and restored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class DatabaseError(Exception):
    """A statement failed: the database is locked, full, unreachable or refused it. The caller
    keeps what it had (a poll is read again, a record retried); never a reason to stop."""


class Row(Protocol):
    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """A connection to the state database (SQLite file or PostgreSQL schema)."""

    dialect: str
    # Appended to a SELECT of deliveries that are about to be claimed: rows another node is
    # claiming right now are skipped, not waited for.
    lock_rows: str = ""
    # An SQL expression for the database's clock in unix seconds. Leases between nodes are
    # reckoned on it, so that nodes whose clocks disagree still agree on who holds what.
    now_sql: str
    where: str

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Database]:
        """One unit: everything inside commits together or not at all."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def available(self) -> bool:
        """False while the connection is known to be lost (until `reconnect` succeeds)."""
        return True

    def reconnect(self) -> bool:
        """Try once to restore a lost connection; True when the database answers again."""
        return True


def placeholders(n: int) -> str:
    """`?,?,?` for an IN list of n values (at least one, so the SQL stays valid)."""
    return ",".join("?" * max(1, n))
