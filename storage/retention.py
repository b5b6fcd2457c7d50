"""Retention: delete raw events (with their assessments) and quarantined lines once
they are older than the retention period, sooner where a regulation or region is
configured with a stricter one; alerts and their outbox after the retention period
(storage/retention_alerts.py). Deletes run in bounded chunks, each its own short
transaction, walking the `ts` / `received_at` indexes, so the agent keeps writing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    false,
    or_,
    select,
)

from ottwatch.vocabulary import DAY_S
from storage.retention_alerts import purge_alerts
from storage.tables import AssessmentRow, EventRow, QuarantineRow, UserIndexRow

DEFAULT_CHUNK = 500

EVENTS = EventRow.__table__
ASSESSMENTS = AssessmentRow.__table__
QUARANTINE = QuarantineRow.__table__
USER_INDEX = UserIndexRow.__table__
_USER_INDEX_ENTRY = delete(USER_INDEX).where(and_(
    USER_INDEX.c.user_id == bindparam("u"), USER_INDEX.c.ts == bindparam("t"),
    USER_INDEX.c.id == bindparam("i")))


class RetentionSettings(BaseModel):
    """`[retention]` in the config."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(3600.0, gt=0)  # how often the agent purges
    retention_days: int | None = Field(None, ge=1)  # None: [storage] retention_days
    # Stricter retention by regulation id (`GDPR`) or region (`DE`, `US-CA`, `EU`), in days.
    per_region_days: dict[str, int] = {}
    quarantine_days: int | None = Field(None, ge=1)  # None: the shortest period configured
    chunk_size: int = Field(DEFAULT_CHUNK, ge=1, le=5000)


# A `per_region_days` key (a regulation id or a region) -> (exact region values,
# countries whose subdivisions also match); the domain knows the regulations' regions.
RegionsOf = Callable[[str], tuple[set[str], set[str]]]


def _region_filter(keys: Iterable[str], regions_of: RegionsOf) -> ColumnElement[bool]:
    exact: set[str] = set()
    countries: set[str] = set()
    for key in keys:
        more_exact, more_countries = regions_of(key)
        exact |= more_exact
        countries |= more_countries
    region = EVENTS.c.region
    clauses = [region.in_(sorted(exact | countries))] if exact or countries else []
    clauses += [region.like(f"{country}-%") for country in sorted(countries)]
    return or_(*clauses) if clauses else false()


def _purge_events(engine: Engine, cutoff: float, chunk: int,
                  where: ColumnElement[bool] | None = None) -> tuple[int, int]:
    """Delete events with ts < cutoff (and matching `where`), oldest first, chunk by chunk."""
    events = assessments = 0
    since = float("-inf")
    while True:
        query = (select(EVENTS.c.id, EVENTS.c.event_id, EVENTS.c.ts)
                 .where(EVENTS.c.ts < cutoff, EVENTS.c.ts >= since)
                 .order_by(EVENTS.c.ts).limit(chunk))
        if where is not None:
            query = query.where(where)
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return events, assessments
            ids = [r.id for r in rows]
            event_ids = [r.event_id for r in rows]
            assessments += _delete_assessments(conn, ASSESSMENTS.c.event_id.in_(event_ids))
            events += conn.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids))).rowcount
        since = rows[-1].ts
        if len(rows) < chunk:
            return events, assessments


def _delete_assessments(conn: Connection, where: ColumnElement[bool],
                        limit: int | None = None) -> int:
    """Delete the assessments `where` selects, and their `user_index` entries."""
    rows = conn.execute(select(ASSESSMENTS.c.id, ASSESSMENTS.c.user_id, ASSESSMENTS.c.ts)
                        .where(where).limit(limit)).all()
    if not rows:
        return 0
    conn.execute(_USER_INDEX_ENTRY, [{"u": r.user_id, "t": r.ts, "i": r.id} for r in rows])
    return conn.execute(delete(ASSESSMENTS).where(
        ASSESSMENTS.c.id.in_([r.id for r in rows]))).rowcount


def _purge_orphan_assessments(engine: Engine, cutoff: float, chunk: int) -> int:
    """Assessments older than the cutoff whose event went some other way."""
    removed = 0
    while True:
        with engine.begin() as conn:
            count = _delete_assessments(conn, ASSESSMENTS.c.ts < cutoff, chunk)
        removed += count
        if count < chunk:
            return removed


def _purge_by_index(engine: Engine, table: Table, column: Column, cutoff: float,
                    chunk: int) -> int:
    """Delete rows with `column` < cutoff, chunk by chunk along the column's index."""
    removed = 0
    while True:
        with engine.begin() as conn:
            ids = conn.execute(select(table.c.id).where(column < cutoff)
                               .order_by(column).limit(chunk)).scalars().all()
            if not ids:
                return removed
            removed += conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount
        if len(ids) < chunk:
            return removed


def purge(engine: Engine, now: float, retention_days: int,
          per_region_days: dict[str, int] | None = None, *, regions_of: RegionsOf | None = None,
          quarantine_days: int | None = None, chunk_size: int = DEFAULT_CHUNK) -> dict[str, int]:
    """Delete what is past retention at `now`; returns how many rows, by table.

    Events older than `retention_days` go, with their assessments (and assessments
    left without an event); events whose claimed region falls under a stricter
    `per_region_days` entry (a regulation id or a region, resolved by `regions_of`) go
    after that many days.
    Quarantined lines have no trusted region: they are kept `quarantine_days`,
    by default the shortest period configured.
    """
    per_region = {key: days for key, days in (per_region_days or {}).items()
                  if days < retention_days}
    for key, days in per_region.items():
        if days < 1:
            raise ValueError(f"retention: {key} must keep data at least 1 day, not {days}")
    if per_region and regions_of is None:
        raise ValueError("retention: per-region periods need regions_of to resolve their keys")
    events, assessments = _purge_events(engine, now - retention_days * DAY_S, chunk_size)
    by_days: dict[int, list[str]] = {}
    for key, days in per_region.items():
        by_days.setdefault(days, []).append(key)
    for days, keys in sorted(by_days.items()):
        more_events, more_assessments = _purge_events(
            engine, now - days * DAY_S, chunk_size, _region_filter(keys, regions_of))
        events += more_events
        assessments += more_assessments
    assessments += _purge_orphan_assessments(engine, now - retention_days * DAY_S, chunk_size)
    kept = quarantine_days or min([retention_days, *per_region.values()])
    quarantine = _purge_by_index(engine, QUARANTINE, QUARANTINE.c.received_at,
                                 now - kept * DAY_S, chunk_size)
    alerts, deliveries = purge_alerts(engine, now - retention_days * DAY_S, chunk_size)
    return {"events": events, "assessments": assessments, "quarantine": quarantine,
            "alerts": alerts, "deliveries": deliveries}


class RetentionJob:
    """Runs `purge` at most every `settings.interval_s` (for the agent's scheduler)."""

    def __init__(self, engine: Engine, settings: RetentionSettings, retention_days: int, *,
                 regions_of: RegionsOf | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.regions_of = regions_of
        self.settings = settings
        self.retention_days = settings.retention_days or retention_days
        self.clock = clock
        self.last_run: float | None = None

    def due(self) -> bool:
        return self.last_run is None or self.clock() - self.last_run >= self.settings.interval_s

    def run(self) -> dict[str, int]:
        self.last_run = now = self.clock()
        return purge(self.engine, now, self.retention_days, self.settings.per_region_days,
                     regions_of=self.regions_of, quarantine_days=self.settings.quarantine_days,
                     chunk_size=self.settings.chunk_size)

    def run_if_due(self) -> dict[str, int] | None:
        return self.run() if self.due() else None
