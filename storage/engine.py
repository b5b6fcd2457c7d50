"""Engines from a URL: SQLite (the embedded default) or PostgreSQL, same code."""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_NOTADB = 26


class DatabaseUnusable(Exception):
    """A database that cannot be used as given, said in one line with the fix (no
    traceback needed: the path or the URL is the whole story)."""


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
        try:
            create_private_file(path)
        except OSError as exc:
            if (unusable := _unusable_path(path, exc)) is None:
                raise
            raise unusable from exc
        engine = create_engine(url, poolclass=None if pool else NullPool, hide_parameters=True)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, path))
        return engine
    connect_args = {} if "connect_timeout" in make_url(url).query else \
        {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        return create_engine(url, pool_pre_ping=True, poolclass=None if pool else NullPool,
                             hide_parameters=True, connect_args=connect_args)
    except ModuleNotFoundError as exc:
        raise DatabaseUnusable(
            f"no {exc.name} (the driver for {make_url(url).drivername}): "
            "install it with `pip install 'ottwatch[postgres]'`") from exc


def _unusable_path(path: Path, exc: OSError) -> DatabaseUnusable | None:
    """The one-line reason a database file cannot be created there, or None for an
    error that is not about the path (a full disk is a fault the agent waits out)."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        folder = next((p for p in path.parents if p.exists()), path.parent)
        return DatabaseUnusable(f"cannot create {path}: {folder} is not writable "
                                f"({exc.strerror}); choose a folder you can write with --db "
                                "or [storage] url")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()),
                       path.parent)
        return DatabaseUnusable(f"cannot create {path}: {blocker} is a file, not a folder; "
                                "check --db or [storage] url")
    if exc.errno == errno.EISDIR:
        return DatabaseUnusable(f"{path} is a folder; give a database file in it, e.g. "
                                f"--db {path / 'ottwatch.db'}")
    return None


WAL_CHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(path: Path, dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI callback
    cursor = dbapi_connection.cursor()
    # WAL + synchronous=NORMAL survives a killed process (not power loss) at a fraction
    # of FULL's cost; readers (the TUI) never block the writer.
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) != SQLITE_NOTADB:
            raise
        cursor.close()
        raise DatabaseUnusable(f"{path} is not an SQLite database; check --db or [storage] "
                               "url (ottwatch creates its database where none exists)") from exc
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    # A checkpoint copies every page changed since the last one into the database file:
    # at 40 MB instead of SQLite's 4 MB, index pages changed by many batches (event ids,
    # users) are copied once rather than once per checkpoint.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.close()


def dialect_insert(engine: Engine):  # noqa: ANN201 - returns the dialect's insert()
    """The dialect's `insert` that knows ON CONFLICT (SQLite and PostgreSQL alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
