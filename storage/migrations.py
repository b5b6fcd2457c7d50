"""Open a database of any earlier ottwatch version and bring it to the current schema.

Additive changes (new tables, new nullable columns) are applied by comparing the
declared schema with the live one; changes that need data work are numbered
steps in `STEPS`, each run once, in order, in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel

from storage import tables, user_index
from storage.tables import SCHEMA_VERSION


def _user_index(conn: Connection) -> None:
    """2: a user's rows are found through `user_index` (storage/user_index.py), which
    takes over from the per-event index on assessments (user_id, ts)."""
    conn.execute(text("DROP INDEX IF EXISTS ix_assessments_user_ts"))
    user_index.flush(conn)


# version -> the step that brings a database from version-1 to version.
STEPS: dict[int, Callable[[Connection], None]] = {2: _user_index}


class SchemaTooNew(RuntimeError):
    pass


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    return int(row[0]) if row else 0


def migrate(engine: Engine) -> list[str]:
    """Bring the schema up to date; returns what was done, for the log."""
    done: list[str] = []
    with engine.begin() as conn:
        found = current_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database is at schema {found}, this ottwatch knows up to "
                f"{SCHEMA_VERSION}: upgrade ottwatch"
            )
        existing = set(inspect(conn).get_table_names())
        SQLModel.metadata.create_all(conn)
        done += [f"created table {t}" for t in SQLModel.metadata.tables if t not in existing]
        done += _add_missing_columns(conn, existing)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        if step := STEPS.get(version):
            with engine.begin() as conn:
                step(conn)
            done.append(f"applied step {version}")
    with engine.begin() as conn:
        _set_version(conn, SCHEMA_VERSION)
    return done


def _add_missing_columns(conn: Connection, existing_tables: set[str]) -> list[str]:
    done = []
    inspector = inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        live = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in live:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(
                text(
                    f"ALTER TABLE {preparer.quote(table.name)} "
                    f"ADD COLUMN {preparer.quote(column.name)} {kind}"
                )
            )
            done.append(f"added column {table.name}.{column.name}")
        live_indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in live_indexes:
                conn.execute(CreateIndex(index))
                done.append(f"created index {index.name}")
    return done


def _set_version(conn: Connection, version: int) -> None:
    table = tables.Meta.__table__
    updated = conn.execute(
        table.update().where(table.c.key == "schema_version").values(value=str(version))
    )
    if updated.rowcount == 0:
        conn.execute(table.insert().values(key="schema_version", value=str(version)))
