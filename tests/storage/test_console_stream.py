"""The Live stream's search by id watermarks: window by window it finds what one
unbounded query finds, never reading more than a window per step, and it takes in
new rows from above its top watermark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage import console, open_database
from storage.console import StreamFilter, StreamSearch
from storage.tables import AssessmentRow, EventRow
from tests.storage.test_console_plans import assessment_row, event_row


class SmallWindows(StreamSearch):
    FIRST_WINDOW = 10
    MAX_WINDOW = 40


def add_rows(engine: Engine, numbers: range, region: str | None = None) -> None:
    events = [event_row(n) | ({"region": region} if region else {}) for n in numbers]
    with engine.begin() as conn:
        conn.execute(EventRow.__table__.insert(), events)
        conn.execute(AssessmentRow.__table__.insert(), [assessment_row(n) for n in numbers])


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'stream.db'}")
    add_rows(engine, range(0, 5), region="NZ")  # the only NZ rows: the oldest
    add_rows(engine, range(5, 400))
    yield engine
    engine.dispose()


def ids(rows: list[dict]) -> list[int]:
    return [row["id"] for row in rows]


def test_a_rare_filter_is_searched_a_bounded_window_at_a_time(engine: Engine) -> None:
    where = StreamFilter(region="NZ")
    search = SmallWindows(where, limit=50)
    search.refresh(engine, console.newest_assessment_id(engine))
    steps = 0
    while not search.complete:
        before = search.looked_at
        search.deepen(engine)
        assert search.looked_at - before <= SmallWindows.MAX_WINDOW
        steps += 1
    assert steps > 400 // SmallWindows.MAX_WINDOW
    assert search.floor == 0 and ids(search.rows) == [5, 4, 3, 2, 1]
    assert ids(search.rows) == ids(console.stream(engine, limit=50, where=where))


def test_a_filter_with_enough_recent_rows_stops_early(engine: Engine) -> None:
    search = SmallWindows(StreamFilter(region="DE"), limit=20)
    search.refresh(engine, console.newest_assessment_id(engine))
    while not search.complete:
        search.deepen(engine)
    assert search.floor > 0 and len(search.rows) == 20
    assert ids(search.rows) == ids(console.stream(engine, limit=20,
                                                  where=StreamFilter(region="DE")))


def test_an_indexed_filter_needs_one_step(engine: Engine) -> None:
    search = SmallWindows(StreamFilter(user="u7"), limit=200)
    search.refresh(engine, console.newest_assessment_id(engine))
    search.deepen(engine)
    assert search.complete and search.floor == 0
    assert ids(search.rows) == ids(console.stream(engine, where=StreamFilter(user="u7")))


def test_new_rows_come_in_above_the_watermark(engine: Engine) -> None:
    search = SmallWindows(StreamFilter(level="high"), limit=30)
    search.refresh(engine, console.newest_assessment_id(engine))
    while not search.complete:
        search.deepen(engine)
    add_rows(engine, range(400, 450))
    assert search.refresh(engine, console.newest_assessment_id(engine))
    assert search.top == console.newest_assessment_id(engine)
    assert ids(search.rows) == ids(console.stream(engine, limit=30,
                                                  where=StreamFilter(level="high")))
    assert not search.refresh(engine, search.top)  # nothing newer: nothing read
