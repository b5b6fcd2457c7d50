"""Read queries: keyset-paginated, indexed, bounded. The console and exports use these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, func, select

from storage.tables import AssessmentRow, EventRow, QuarantineRow, StageStateRow

EVENTS: Table = EventRow.__table__
QUARANTINE: Table = QuarantineRow.__table__
ASSESSMENTS: Table = AssessmentRow.__table__

PAGE = 5000


def iter_rows(engine: Engine, table: Table, key: str = "id", page: int = PAGE,
              where: ColumnElement[bool] | None = None) -> Iterator[dict[str, Any]]:
    """Every row of `table` (that `where` holds for) in `key` order, a page at a time
    (constant memory)."""
    column = table.c[key]
    last = None
    with engine.connect() as conn:
        while True:
            query = select(table).order_by(column).limit(page)
            if where is not None:
                query = query.where(where)
            if last is not None:
                query = query.where(column > last)
            rows = conn.execute(query).mappings().all()
            if not rows:
                return
            yield from (dict(r) for r in rows)
            last = rows[-1][key]


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def load_stage_states(engine: Engine) -> dict[str, bytes]:
    table = StageStateRow.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.name, table.c.state)).all()
    return {name: bytes(state) for name, state in rows if state is not None}
