"""The console's reads of the two big tables stay index-served. SQLite's plan does
not depend on how many rows there are (nobody runs ANALYZE), so the plan on a small
database is the plan on ten million events: every read of `events` and
`assessments` must go through an index or a bounded id range; the only full-table
scans allowed are in primary-key order under a LIMIT (the newest N rows)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from storage import console, open_database, user_index
from storage.console import StreamFilter
from storage.tables import AssessmentRow, EventRow

BIG_TABLES = ("events", "assessments", "user_index")
ROWS = 300
T0 = 1_790_000_000.0


def event_row(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}", "ts": T0 + n, "timestamp": "2026-09-21T00:00:00Z",
            "user_id": f"u{n % 30}", "event_type": "play", "region": ("DE", "US-CA", "JP")[n % 3],
            "source": "test", "source_offset": n, "ingested_at": T0 + n}


def assessment_row(n: int) -> dict[str, Any]:
    flagged = n % 10 == 0
    return {"event_id": f"e{n}", "user_id": f"u{n % 30}", "ts": T0 + n,
            "score": 70.0 if flagged else 0.0, "level": "high" if flagged else "low",
            "decision": "review" if flagged else "allow", "threshold": 50.0,
            "top_code": "geo.anonymizer" if flagged else None, "reasons": []}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("plans") / "console.db"
    engine = open_database(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(EventRow.__table__.insert(), [event_row(n) for n in range(ROWS)])
        conn.execute(AssessmentRow.__table__.insert(), [assessment_row(n) for n in range(ROWS)])
        user_index.flush(conn)
    with engine.begin() as conn:  # a tail above the user index's mark
        conn.execute(EventRow.__table__.insert(), [event_row(n) for n in range(ROWS, ROWS + 30)])
        conn.execute(AssessmentRow.__table__.insert(),
                     [assessment_row(n) for n in range(ROWS, ROWS + 30)])
    yield engine
    engine.dispose()


def statements(engine: Engine, call: Callable[[Engine], object]) -> list[tuple[str, Any]]:
    """The SQL (with its parameters) that `call` sends to the database."""
    sent: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # noqa: ANN001
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sent, "the call sent no query"
    return sent


def plan(engine: Engine, statement: str, parameters: Any) -> list[tuple[int, int, str]]:
    """EXPLAIN QUERY PLAN rows: (id, parent id, detail)."""
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.execute(
            f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [(row[0], row[1], row[3]) for row in cursor.fetchall()]


def reads(steps: list[tuple[int, int, str]], table: str) -> list[tuple[int, int, str]]:
    return [step for step in steps if re.match(rf"(SCAN|SEARCH) {table}\b", step[2])]


def window(where: StreamFilter) -> Callable[[Engine], object]:
    """The Live view's read: one id window of the stream under a filter."""
    return lambda engine: console.stream(engine, after_id=10, before_id=200, where=where)


AUTOINDEX = "USING INDEX sqlite_autoindex_events_1 (event_id=?)"
ROWID_RANGE = "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"
ROWID_ABOVE = "USING INTEGER PRIMARY KEY (rowid>?)"  # the tail above the user index's mark
ROWID = "USING INTEGER PRIMARY KEY (rowid=?)"
USER_KEY = "SEARCH user_index USING PRIMARY KEY (user_id=?)"
INDEXED_READS: dict[str, tuple[Callable[[Engine], object], dict[str, str | tuple[str, ...]]]] = {
    "live stream": (window(StreamFilter()), {"assessments": ROWID_RANGE, "events": AUTOINDEX}),
    "filter by level": (window(StreamFilter(level="high")),
                        {"assessments": "USING INDEX ix_assessments_flagged (id>? AND id<?)",
                         "events": AUTOINDEX}),
    "filter by code": (window(StreamFilter(code="geo.anonymizer")),
                       {"assessments": "USING INDEX ix_assessments_code (top_code=? AND id>?",
                        "events": AUTOINDEX}),
    "filter by user": (window(StreamFilter(user="u3")),
                       {"user_index": USER_KEY, "assessments": (ROWID_RANGE, ROWID),
                        "events": AUTOINDEX}),
    "filter by region": (window(StreamFilter(region="DE")),
                         {"assessments": ROWID_RANGE, "events": AUTOINDEX}),
    "filter by level and region": (
        window(StreamFilter(level="high", region="DE")),
        {"assessments": "USING INDEX ix_assessments_flagged (id>? AND id<?)",
         "events": AUTOINDEX}),
    "drill-down: the event": (lambda e: console.event(e, "e5"), {"events": AUTOINDEX}),
    "drill-down: its assessment": (
        lambda e: console.assessment(e, "e5"),
        {"assessments": "USING INDEX sqlite_autoindex_assessments_1 (event_id=?)"}),
    "drill-down: the user's timeline": (
        lambda e: console.user_timeline(e, "u3"),
        {"user_index": USER_KEY, "assessments": (ROWID_ABOVE, ROWID), "events": AUTOINDEX}),
    "review queue": (console.review_queue,
                     {"assessments": "USING INDEX ix_assessments_flagged", "events": AUTOINDEX}),
    "newest event time": (console.newest_event_ts, {"events": "USING COVERING INDEX ix_events_ts"}),
    "newest assessment id": (console.newest_assessment_id, {"assessments": "SEARCH assessments"}),
    "a day of events by region": (
        lambda e: console.events_by_region(e, since=T0, until=T0 + 86400),
        {"events": "USING INDEX ix_events_ts (ts>? AND ts<?)"}),
}


@pytest.mark.parametrize("name", INDEXED_READS)
def test_reads_go_through_an_index(engine: Engine, name: str) -> None:
    call, expected = INDEXED_READS[name]
    seen: set[str] = set()
    for statement, parameters in statements(engine, call):
        steps = plan(engine, statement, parameters)
        for table in BIG_TABLES:
            for _id, _parent, detail in reads(steps, table):
                assert table in expected, f"{name} reads {table}: {detail}"
                allowed = expected[table]
                allowed = (allowed,) if isinstance(allowed, str) else allowed
                assert any(part in detail for part in allowed), f"{name}: {detail}"
                seen.add(table)
    assert seen == set(expected), f"{name} read {sorted(seen)}, expected {sorted(expected)}"


NEWEST_ROWS: dict[str, Callable[[Engine], object]] = {
    "level mix and top reasons": console.recent_profile,
    "arrival rates": console.rate_series,
}


@pytest.mark.parametrize("name", NEWEST_ROWS)
def test_newest_rows_are_read_in_key_order_under_a_limit(engine: Engine, name: str) -> None:
    """A scan of the whole table is fine only if the rows come in id order (no sort of
    the table first) and a LIMIT stops it after the newest N."""
    scanned = 0
    for statement, parameters in statements(engine, NEWEST_ROWS[name]):
        steps = plan(engine, statement, parameters)
        for table in BIG_TABLES:
            for _id, parent, detail in reads(steps, table):
                assert detail == f"SCAN {table}", f"{name}: {detail}"
                assert re.search(rf"ORDER BY {table}\.id DESC\s+LIMIT", statement), statement
                sorts = [d for _i, p, d in steps if p == parent and "FOR ORDER BY" in d]
                assert not sorts, f"{name} sorts the whole of {table}: {steps}"
                scanned += 1
    assert scanned, f"{name} read neither events nor assessments"
