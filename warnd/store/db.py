"""Opening the state database: SQLite in the state directory, or PostgreSQL when the config
names one. Everything after this sees only `backend.Database`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from warnd.config import secrets
from warnd.config.schema import StoreSettings
from warnd.store import sqlite
from warnd.store.backend import Database
from warnd.store.schema import SCHEMA_VERSION
from warnd.store.sqlite import BUSY_TIMEOUT, connect

__all__ = ["BUSY_TIMEOUT", "SCHEMA_VERSION", "connect", "node_name", "open_reader", "open_store", "shared"]


def shared(settings: StoreSettings) -> bool:
    """Whether the store may be shared by several nodes (PostgreSQL)."""
    return settings.dsn is not None


def node_name(settings: StoreSettings) -> str:
    return settings.node or socket.gethostname().split(".")[0] or "node"


def open_store(settings: StoreSettings, state_dir: Path, *, read_only: bool = False) -> Database:
    """The configured store, checked and migrated (StoreError, or StoreUnavailable for a server
    that cannot be reached). `read_only`: for operators' commands beside a running daemon."""
    if settings.dsn is None:
        path = state_dir / "warnd.db"
        return sqlite.read_only(path) if read_only else connect(path)
    # Imported only for a PostgreSQL store: psycopg costs one node on SQLite 22 MB and 0.15 s
    # at start (bench/run.py --only imports).
    from warnd.store import postgres

    secret = secrets.read(settings.password_credential)
    app = f"warnd:{node_name(settings)}" if not read_only else f"warnd-cli:{os.getpid()}"
    return postgres.connect(
        settings.dsn,
        settings.schema_name,
        secret.reveal() if secret is not None else None,
        app,
        migrate=not read_only,
    )


def open_reader(settings: StoreSettings, state_dir: Path) -> Database | None:
    """A second connection for reads beside the daemon's own, where one helps: SQLite reads
    through a held write lock on it. With PostgreSQL (None) reads go with the writes: its
    readers never wait on a writer's lock, and a slow server is as slow for either."""
    return sqlite.reader(state_dir / "warnd.db") if settings.dsn is None else None
