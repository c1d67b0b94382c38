"""The machine's PostgreSQL, for tests, campaigns and the benchmark: a schema of one's own per
test, dropped afterwards, and roles that can be locked out to cut a node off.

The server is found at WARND_TEST_PG (default: 127.0.0.1:5432, trust authentication, database
`test`). Nothing here starts it; `.ci/run` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

DSN = os.environ.get("WARND_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def missing() -> str | None:
    """Why the test server cannot be used, or None when it can."""
    try:
        with psycopg.connect(DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"PostgreSQL at {DSN} is not usable ({first}); start it with `bash .ci/run` or pg_ctlcluster"
    return None


def admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(DSN, autocommit=True)


@contextmanager
def schema(prefix: str = "t") -> Iterator[str]:
    """A new, empty schema; dropped with everything in it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def roles(n: int, prefix: str = "warnd") -> Iterator[tuple[str, list[str]]]:
    """A group role and `n` login roles in it, one per node (so that one node's connections can
    be told apart, cut off and locked out while the others go on). Tables created as the group
    are usable by every node. All dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    group = f"{prefix}_{tag}"
    nodes = [f"{group}_{i}" for i in range(n)]
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(group)))
        conn.execute(sql.SQL("GRANT CREATE, CONNECT ON DATABASE test TO {}").format(sql.Identifier(group)))
        for name in nodes:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(sql.Identifier(name), sql.Identifier(group)))
    try:
        yield group, nodes
    finally:
        with admin() as conn:
            everyone = [group, *nodes]
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)", (everyone,))
            for name in reversed(everyone):
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def dsn_for(user: str | None = None) -> str:
    """The test server's DSN, as another user."""
    if user is None:
        return DSN
    return psycopg.conninfo.make_conninfo(DSN, user=user)


def cut_off(application_name: str, *, lock_out: str | None = None) -> int:
    """Terminate the backends of a node (by its application_name); with `lock_out`, first
    forbid that role to log in again, so that the node stays cut off until `let_in`."""
    with admin() as conn:
        if lock_out:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(lock_out)))
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return sum(1 for r in rows if r[0])


def let_in(role_name: str) -> None:
    with admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role_name)))
