"""The shared backend: PostgreSQL (psycopg 3), for several nodes on one database.

The connection runs in autocommit; a transaction is explicit, as on SQLite. Every statement has
a time limit (a stalled server must not look like a hung daemon to the watchdog) and the socket
has keepalives and a user timeout, so a server that vanished is noticed within seconds, not
after the kernel's two hours.

A lost connection is not restored by the statement that found it lost: that would block the
event loop on a connect attempt for every statement. Statements fail at once while it is lost;
the node's heartbeat (runtime.membership) reconnects, off the loop.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from warnd.errors import StoreUnavailable
from warnd.store import schema
from warnd.store.backend import Cursor, Database, DatabaseError

# Milliseconds. Below BUSY_TIMEOUT-like bounds of the SQLite backend and well below the unit's
# WatchdogSec=30.
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5
_SOCKET = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    # A write to a server that vanished fails after this long instead of retrying for minutes.
    "tcp_user_timeout": "10000",
}


class PgRow:
    """A row readable by position and by column name, as sqlite3.Row is."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = values
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key]] if isinstance(key, str) else self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names: dict[str, int] = {}
    for i, col in enumerate(cursor.description or ()):
        names.setdefault(col.name, i)  # `d.*, w.data`: the first of a name wins, as in sqlite3

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, names)

    return make


@lru_cache(maxsize=1024)
def _pg(statement: str) -> str:
    """`?` placeholders as psycopg's `%s` (no statement of warnd's has a `%` or a `?` literal)."""
    return statement.replace("%", "%%").replace("?", "%s")


class Postgres(Database):
    dialect = schema.POSTGRES
    lock_rows = " FOR UPDATE OF d SKIP LOCKED"
    now_sql = "extract(epoch from clock_timestamp())::double precision"

    def __init__(self, conninfo: str, schema_name: str, where: str) -> None:
        self._conninfo = conninfo
        self.schema_name = schema_name
        self.where = where
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self.lost: str | None = None
        self._conn = self._open()

    def _open(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=_rows)
        except psycopg.Error as e:
            raise DatabaseError(f"cannot connect to {self.where}: {_first_line(e)}") from None
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema_name)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema_name)))
        except psycopg.Error as e:
            conn.close()
            raise DatabaseError(f"cannot use schema {self.schema_name} on {self.where}: {_first_line(e)}") from None
        return conn

    @property
    def available(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    def reconnect(self) -> bool:
        with self._lock:
            if self.available:
                return True
            old, self._conn = self._conn, None
            if old is not None:
                old.close()
            try:
                self._conn = self._open()
            except DatabaseError as e:
                self.lost = str(e)
                return False
            self.lost = None
            return True

    def _live(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            raise DatabaseError(f"the database at {self.where} is unreachable: {self.lost or 'connection lost'}")
        return conn

    def _failed(self, conn: psycopg.Connection[Any], e: psycopg.Error) -> DatabaseError:
        if conn.broken or conn.closed:
            self.lost = _first_line(e)
            return DatabaseError(f"lost the database at {self.where}: {self.lost}")
        return DatabaseError(f"{type(e).__name__}: {_first_line(e)}")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        conn = self._live()
        try:
            return conn.execute(_pg(statement), params)
        except psycopg.Error as e:
            raise self._failed(conn, e) from e

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        conn = self._live()
        try:
            with conn.cursor() as cur:
                cur.executemany(_pg(statement), list(rows))
        except psycopg.Error as e:
            raise self._failed(conn, e) from e

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        conn = self._live()
        try:
            with conn.transaction():
                yield self
        except psycopg.Error as e:
            raise self._failed(conn, e) from e

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def conninfo(dsn: str, password: str | None, application_name: str) -> str:
    """The DSN with the settings warnd needs added (and the password, which never comes from
    YAML). Options already in the DSN are kept, ours appended."""
    parts = conninfo_to_dict(dsn)
    options = " ".join(
        x
        for x in (
            str(parts.get("options") or ""),
            f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "-c idle_in_transaction_session_timeout=60000",
            "-c TimeZone=UTC",
        )
        if x
    )
    extra: dict[str, Any] = {
        **_SOCKET,
        "connect_timeout": str(CONNECT_TIMEOUT_S),
        "application_name": application_name,
        "options": options,
    }
    for key in [k for k in extra if k in parts and k != "options"]:
        extra.pop(key)  # the operator's own setting wins
    if password is not None:
        extra["password"] = password
    return make_conninfo(dsn, **extra)


def describe(dsn: str, schema_name: str) -> str:
    """Where the store is, for messages: host, port, database and schema, never a password."""
    p = conninfo_to_dict(dsn)
    host = p.get("host") or p.get("hostaddr") or "localhost"
    user = f"{p['user']}@" if p.get("user") else ""
    return f"postgresql://{user}{host}:{p.get('port') or 5432}/{p.get('dbname', '')} schema {schema_name}"


def connect(
    dsn: str, schema_name: str, password: str | None, application_name: str, *, migrate: bool = True
) -> Postgres:
    where = describe(dsn, schema_name)
    try:
        db = Postgres(conninfo(dsn, password, application_name), schema_name, where)
    except DatabaseError as e:
        raise StoreUnavailable(str(e)) from None
    if migrate:
        try:
            _migrate(db)
        except DatabaseError as e:
            db.close()
            raise StoreUnavailable(f"cannot prepare the store at {where}: {e}") from None
    return db


def _migrate(db: Postgres) -> None:
    """Baseline and numbered steps in one transaction, under an advisory lock so that nodes
    starting together migrate once."""
    key = zlib.crc32(f"warnd.migrate:{db.schema_name}".encode())
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(?)", (key,))
        schema.migrate(db.execute, schema.POSTGRES, db.where)
