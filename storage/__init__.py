"""Storage: sqlmodel tables, engines for SQLite and PostgreSQL, migrations, queries."""

from __future__ import annotations

from sqlalchemy import Engine

from storage.engine import make_engine
from storage.migrations import migrate


def open_database(url: str, *, pool: bool = True) -> Engine:
    """An engine on an up-to-date schema."""
    engine = make_engine(url, pool=pool)
    migrate(engine)
    return engine


__all__ = ["make_engine", "migrate", "open_database"]
