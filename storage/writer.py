"""One transaction per micro-batch: events, quarantine, assessments, findings'
alerts and the sources' checkpoints commit together or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Engine, Insert, select
from sqlmodel import SQLModel

from ottwatch.events import Event
from ottwatch.pipeline import Assessment
from ottwatch.vocabulary import Quarantined, SourcePosition
from storage import user_index
from storage.engine import dialect_insert
from storage.tables import AssessmentRow, Checkpoint, EventRow, QuarantineRow

EVENTS = EventRow.__table__
QUARANTINE = QuarantineRow.__table__
ASSESSMENTS = AssessmentRow.__table__
CHECKPOINTS = Checkpoint.__table__

# Test seam, for the tests only: while the file this variable names exists, a batch
# write to SQLite finds the database full (SQLite's own SQLITE_FULL, through PRAGMA
# max_page_count), as on a full disk, without needing a filesystem to fill.
TEST_DISK_FULL_FLAG_ENV = "OTTWATCH_TEST_DISK_FULL_FLAG"
SQLITE_MAX_PAGES = 4_294_967_294


class BulkInsert:
    """An INSERT compiled once; rows go to the driver's executemany as plain
    parameters, skipping per-row SQLAlchemy processing (the hot path)."""

    def __init__(self, engine: Engine, stmt: Insert, columns: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=engine.dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.columns = list(columns)
        self.order = list(compiled.positiontup) if compiled.positional else None

    def params(self, rows: Iterable[tuple]) -> list[Any]:
        if self.order is None:
            return [dict(zip(self.columns, row, strict=True)) for row in rows]
        index = {name: i for i, name in enumerate(self.columns)}
        if self.order == self.columns:
            return list(rows)
        picks = [index[name] for name in self.order]
        return [tuple(row[i] for i in picks) for row in rows]

    def run(self, conn: Connection, rows: Iterable[tuple]) -> None:
        conn.exec_driver_sql(self.sql, self.params(rows))


EVENT_COLUMNS = (
    "event_id", "ts", "timestamp", "user_id", "event_type", "device_id", "ip_address", "region",
    "is_eu", "has_consent", "subscription_plan", "content_id", "session_id",
    "payment_fingerprint", "bytes", "error_code", "request_id", "extra_metadata", "source",
    "source_offset", "ingested_at",
)
ASSESSMENT_COLUMNS = ("event_id", "user_id", "ts", "score", "level", "decision", "threshold",
                      "top_code", "reasons")


class BatchWriter:
    def __init__(self, engine: Engine, *, user_index_every: int = user_index.FLUSH_ROWS) -> None:
        self.engine = engine
        self.user_index_every = user_index_every
        self._unindexed: int | None = None  # assessments above the user index's mark
        self._insert = dialect_insert(engine)
        self._events = BulkInsert(
            engine, self._insert(EVENTS).on_conflict_do_nothing(index_elements=["event_id"]),
            EVENT_COLUMNS)
        self._assessments = BulkInsert(
            engine, self._insert(ASSESSMENTS).on_conflict_do_nothing(index_elements=["event_id"]),
            ASSESSMENT_COLUMNS)
        self._known_sql = (
            "SELECT event_id FROM events WHERE event_id IN (SELECT jsonb_array_elements_text(%s::jsonb))"
            if engine.dialect.name == "postgresql" else
            "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
        )
        self._upserts: dict[tuple[str, tuple[str, ...]], BulkInsert] = {}
        flag = os.environ.get(TEST_DISK_FULL_FLAG_ENV)
        self._test_disk_full_flag = Path(flag) if flag and engine.dialect.name == "sqlite" \
            else None
        upsert = self._insert(CHECKPOINTS)
        self._checkpoint_stmt = upsert.on_conflict_do_update(
            index_elements=["source"],
            set_={"inode": upsert.excluded.inode, "offset": upsert.excluded.offset,
                  "fingerprint": upsert.excluded.fingerprint,
                  "updated_at": upsert.excluded.updated_at},
        )

    def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these event_ids are stored already (idempotent ingest).
        One parameter carries the whole list, so the statement is prepared once."""
        if not event_ids:
            return set()
        ids = orjson.dumps(list(event_ids)).decode()
        with self.engine.connect() as conn:
            return set(conn.exec_driver_sql(self._known_sql, (ids,)).scalars().all())

    def write(
        self,
        *,
        events: Sequence[Event],
        quarantined: Sequence[Quarantined],
        assessments: Sequence[Assessment],
        positions: Iterable[SourcePosition],
        now: float,
        upserts: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        positions = list(positions)
        unindexed = self._unindexed
        self._unindexed = None  # unknown until this transaction commits
        with self.engine.begin() as conn:
            if self._test_disk_full_flag is not None:
                _test_disk_full_seam(conn, self._test_disk_full_flag)
            if events:
                self._events.run(conn, (_event_row(e, now) for e in events))
            if quarantined:
                conn.execute(
                    QUARANTINE.insert(),
                    [
                        {"source": q.source, "source_offset": q.offset, "reason": q.reason,
                         "detail": q.detail, "raw": q.raw, "raw_length": q.raw_length,
                         "received_at": now}
                        for q in quarantined
                    ],
                )
            if assessments:
                self._assessments.run(conn, (_assessment_row(a) for a in assessments))
                if unindexed is None:
                    unindexed = (user_index.newest_assessment_id(conn)
                                 - user_index.indexed_through(conn))
                else:
                    unindexed += len(assessments)
                if unindexed >= self.user_index_every:
                    user_index.flush(conn)
                    unindexed = 0
            if positions:
                conn.execute(
                    self._checkpoint_stmt,
                    [{"source": p.source, "inode": p.inode, "offset": p.offset,
                      "fingerprint": p.fingerprint, "updated_at": now} for p in positions],
                )
            for table, rows in (upserts or {}).items():
                if rows:
                    self._upsert_rows(conn, table, _last_per_key(table, rows))
        self._unindexed = unindexed

    def _upsert_rows(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """Rows grouped by the columns they carry, each group one compiled executemany."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        json_columns = self._json_columns(name)
        for columns, group in groups.items():
            bulk = self._upsert(name, columns)
            conn.exec_driver_sql(bulk.sql, bulk.params(
                tuple(_json_text(row[c]) if c in json_columns else row[c] for c in columns)
                for row in group))

    def _upsert(self, name: str, columns: tuple[str, ...]) -> BulkInsert:
        key = (name, columns)
        if key not in self._upserts:
            table = SQLModel.metadata.tables[name]
            keys = upsert_keys(name)
            skip = {*keys, *(c.name for c in table.primary_key.columns)}
            insert = self._insert(table)
            updates = {c: insert.excluded[c] for c in columns if c not in skip}
            stmt = (insert.on_conflict_do_update(index_elements=keys, set_=updates) if updates
                    else insert.on_conflict_do_nothing(index_elements=keys))
            self._upserts[key] = BulkInsert(self.engine, stmt, columns)
        return self._upserts[key]

    @staticmethod
    def _json_columns(name: str) -> frozenset[str]:
        table = SQLModel.metadata.tables[name]
        return frozenset(c.name for c in table.columns if isinstance(c.type, JSON))

    def load_positions(self) -> dict[str, SourcePosition]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(CHECKPOINTS.c.source, CHECKPOINTS.c.inode,
                                       CHECKPOINTS.c.offset, CHECKPOINTS.c.fingerprint)).all()
        return {r.source: SourcePosition(r.source, r.inode, r.offset, r.fingerprint)
                for r in rows}


# Tables upserted by a natural key rather than their primary key.
NATURAL_KEYS = {"alerts": ["alert_id"]}


def upsert_keys(name: str) -> list[str]:
    table = SQLModel.metadata.tables[name]
    return NATURAL_KEYS.get(name) or [c.name for c in table.primary_key.columns]


def _last_per_key(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key (the last wins): a multi-row upsert may not touch a row twice."""
    keys = upsert_keys(name)
    latest = {tuple(row[k] for k in keys): row for row in rows}
    return list(latest.values())


def _test_disk_full_seam(conn: Connection, flag: Path) -> None:
    """No page may be added while `flag` exists (SQLite clamps the limit to the
    database's current size); all pages again once it is gone."""
    limit = 1 if flag.exists() else SQLITE_MAX_PAGES
    conn.exec_driver_sql(f"PRAGMA max_page_count = {limit}")


def _json_text(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _event_row(e: Event, now: float) -> tuple:
    return (
        e.event_id, e.ts, e.timestamp, e.user_id, e.event_type, e.device_id, e.ip_address,
        e.region, e.is_eu, e.has_consent, e.subscription_plan, e.content_id, e.session_id,
        e.payment_fingerprint, e.bytes, e.error_code, e.request_id, _json_text(e.extra_metadata),
        e.source, e.source_offset, now,
    )


def _assessment_row(a: Assessment) -> tuple:
    if a.reasons:  # most events have none
        reasons, top_code = _json_text([r.to_dict() for r in a.reasons]), a.top_code
    else:
        reasons, top_code = "[]", None
    return (a.event_id, a.user_id, a.ts, a.score, a.level, a.decision, a.threshold, top_code,
            reasons)
