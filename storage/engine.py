"""Engines from a URL: SQLite (the embedded default) or PostgreSQL, same code."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_private_file(path: Path) -> None:
    """Create `path` (and its folder) readable by the owner only, if it does not exist."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE)
    os.close(fd)


# An unreachable server fails a connection attempt in this long rather than the
# kernel's TCP timeout (minutes), so a lost database is a fault the agent waits out.
PG_CONNECT_TIMEOUT_S = 10


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """An engine with the pragmas ottwatch relies on; the SQLite file is created 0600.
    Errors never quote bound parameters (`hide_parameters`): they are event data."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    path = sqlite_path(url)
    if path is not None:
        create_private_file(path)
        engine = create_engine(url, poolclass=None if pool else NullPool, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {} if "connect_timeout" in make_url(url).query else \
        {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, poolclass=None if pool else NullPool,
                         hide_parameters=True, connect_args=connect_args)


WAL_CHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI callback
    cursor = dbapi_connection.cursor()
    # WAL + synchronous=NORMAL survives a killed process (not power loss) at a fraction
    # of FULL's cost; readers (the TUI) never block the writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    # A checkpoint copies every page changed since the last one into the database file:
    # at 40 MB instead of SQLite's 4 MB, index pages changed by many batches (event ids,
    # users) are copied once rather than once per checkpoint (bench: +4% events/s).
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.close()


def dialect_insert(engine: Engine):  # noqa: ANN201 - returns the dialect's insert()
    """The dialect's `insert` that knows ON CONFLICT (SQLite and PostgreSQL alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
