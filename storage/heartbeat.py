"""The agent's heartbeat row, which the console reads to say whether the agent is up."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, select

from storage.engine import dialect_insert
from storage.tables import HeartbeatRow

HEARTBEAT = HeartbeatRow.__table__


def beat(engine: Engine, name: str, *, pid: int, started_at: float, info: dict[str, Any]) -> None:
    stmt = dialect_insert(engine)(HEARTBEAT).values(
        name=name, pid=pid, started_at=started_at, beat_at=time.time(), info=info
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"pid": stmt.excluded.pid, "started_at": stmt.excluded.started_at,
              "beat_at": stmt.excluded.beat_at, "info": stmt.excluded.info},
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def last_beat(engine: Engine, name: str = "agent") -> HeartbeatRow | None:
    with engine.connect() as conn:
        row = conn.execute(select(HEARTBEAT).where(HEARTBEAT.c.name == name)).first()
    return HeartbeatRow.model_validate(row._mapping) if row else None
