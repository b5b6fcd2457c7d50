"""Ring rows: the `rings` export (contract v1, section 3) and the reads the CLI needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, Table, select

from ottwatch.forensics.export_scope import ExportScope
from storage.queries import iter_rows
from storage.tables import RingRow

RINGS: Table = RingRow.__table__
RING_FIELDS = ["ring_id", "size", "risk", "members", "shared"]


def ring_record(row: dict[str, Any]) -> dict[str, Any]:
    return {"ring_id": row["ring_id"], "size": row["size"], "risk": row["risk"],
            "members": list(row["members"] or []),
            "shared": [{"kind": s.get("kind"), "value": s.get("value")}
                       for s in row["shared"] or []]}


def rings(engine: Engine, scope: ExportScope | None = None
          ) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """With a scope: the rings seen in its window that hold an account it names."""
    def records() -> Iterator[dict[str, Any]]:
        where = scope.overlapping(RINGS, "first_seen", "last_seen") if scope else None
        for row in iter_rows(engine, RINGS, key="ring_id", where=where):
            if scope is None or scope.ring_matches(row):
                yield ring_record(row)

    return RING_FIELDS, records()


def list_rings(engine: Engine, *, min_risk: float = 0.0, limit: int = 200
               ) -> list[dict[str, Any]]:
    """The riskiest rings first (then the biggest)."""
    query = (select(RINGS).where(RINGS.c.risk >= min_risk)
             .order_by(RINGS.c.risk.desc(), RINGS.c.size.desc(), RINGS.c.ring_id).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def get_ring(engine: Engine, ring_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(RINGS).where(RINGS.c.ring_id == ring_id)).mappings().first()
    return dict(row) if row else None
