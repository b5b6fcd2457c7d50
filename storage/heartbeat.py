"""The agent's heartbeat row, and the one rule that reads it: is the agent up, stopped
or down. The console's status bar and `ottwatch status` both ask `agent_health`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from storage.engine import dialect_insert
from storage.tables import HeartbeatRow

HEARTBEAT = HeartbeatRow.__table__

RUNNING, STOPPED = "running", "stopped"
UP, DOWN, NEVER = "up", "down", "never seen"
DEFAULT_EVERY_S = 5.0
# Beats that may be missed before the agent counts as down: a slow commit or a busy
# machine delays one, never several.
MISSED_BEATS = 4
MIN_STALE_S = 2.0


def beat(engine: Engine, name: str, *, pid: int, started_at: float, info: dict[str, Any],
         state: str = RUNNING, every_s: float = DEFAULT_EVERY_S) -> None:
    """Write the heartbeat; `every_s` (how often it is written) goes into `info`, so a
    reader knows when it has gone stale without the agent's config."""
    values = {"pid": pid, "started_at": started_at, "beat_at": time.time(),
              "info": {**info, "every_s": every_s}, "state": state}
    stmt = dialect_insert(engine)(HEARTBEAT).values(name=name, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={key: stmt.excluded[key] for key in values})
    with engine.begin() as conn:
        conn.execute(stmt)


def last_beat(engine: Engine, name: str = "agent") -> HeartbeatRow | None:
    with engine.connect() as conn:
        row = conn.execute(select(HEARTBEAT).where(HEARTBEAT.c.name == name)).first()
    return HeartbeatRow.model_validate(row._mapping) if row else None


@dataclass(frozen=True, slots=True)
class AgentHealth:
    state: str  # UP, STOPPED, DOWN or NEVER
    since_beat_s: float | None  # seconds since the last heartbeat (never negative)
    stale_after_s: float | None
    pid: int | None

    @property
    def up(self) -> bool:
        return self.state == UP


def stale_after_s(row: Mapping[str, Any]) -> float:
    every = ((row.get("info") or {}).get("every_s")) or DEFAULT_EVERY_S
    return max(MIN_STALE_S, MISSED_BEATS * float(every))


def agent_health(row: Mapping[str, Any] | None, now: float) -> AgentHealth:
    """Up while heartbeats keep coming, stopped after a clean stop, down when they
    stopped coming without one (killed, crashed, hung, or its host is gone)."""
    if row is None:
        return AgentHealth(NEVER, None, None, None)
    since = max(0.0, now - row["beat_at"])  # a beat from a clock ahead is not "-3s ago"
    stale = stale_after_s(row)
    if row.get("state") == STOPPED:
        state = STOPPED
    else:
        state = DOWN if since > stale else UP
    return AgentHealth(state, since, stale, row["pid"])


def lag_s(newest_event_ts: float | None, now: float) -> float | None:
    """How far the newest stored event is behind now; an event stamped in the future
    (a client clock ahead, within the allowed skew) is no lag, not a negative one."""
    return None if newest_event_ts is None else max(0.0, now - newest_event_ts)
