"""A user's assessments are found through `user_index` (flushed in bulk) plus the
unindexed tail: the console's user views return exactly what a full scan would,
whether the rows are indexed, in the tail, or on both sides of a flush; retention
removes the entries with their assessments; a schema-1 database is migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlmodel import SQLModel

from ottwatch.events import Event
from ottwatch.pipeline import Assessment
from storage import console, open_database, user_index
from storage.console import StreamFilter
from storage.retention import purge
from storage.tables import AssessmentRow, UserIndexRow
from storage.writer import BatchWriter

A = AssessmentRow.__table__
USERS = ("alice", "bob", "carol")
T0 = 1_790_000_000.0


def events_and_assessments(start: int, count: int) -> tuple[list[Event], list[Assessment]]:
    events, assessments = [], []
    for n in range(start, start + count):
        user = USERS[n % 3]
        ts = T0 + n - 40 * (n % 7 == 0)  # some arrive late: time order is not id order
        events.append(Event(event_id=f"e{n}", ts=ts, timestamp="2026-09-21T00:00:00Z",
                            user_id=user, event_type="play"))
        assessments.append(Assessment(f"e{n}", user, ts, "2026-09-21T00:00:00Z", 0.0, "low",
                                      "allow", 50.0, []))
    return events, assessments


def write(writer: BatchWriter, start: int, count: int) -> None:
    events, assessments = events_and_assessments(start, count)
    writer.write(events=events, quarantined=[], assessments=assessments, positions=[],
                 now=T0 + start + count)


def scanned(engine: Engine, user: str) -> list[tuple[float, int]]:
    """The user's (ts, id), newest first, by a full scan."""
    with engine.connect() as conn:
        rows = conn.execute(select(A.c.ts, A.c.id).where(A.c.user_id == user)).all()
    return sorted(((r.ts, r.id) for r in rows), reverse=True)


def index_state(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(UserIndexRow.__table__)).scalar()
        return user_index.indexed_through(conn), count


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return open_database(f"sqlite:///{tmp_path / 'u.db'}")
    engine = open_database(request.getfixturevalue("postgres_url"))
    with engine.begin() as conn:  # the server is shared: start from empty tables
        for table in ("user_index", "assessments", "events"):
            conn.execute(SQLModel.metadata.tables[table].delete())
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": user_index.THROUGH_KEY})
        conn.execute(text("ALTER SEQUENCE assessments_id_seq RESTART WITH 1"))
    return engine


def test_the_writer_flushes_every_n_assessments_in_key_order(engine: Engine) -> None:
    writer = BatchWriter(engine, user_index_every=100)
    write(writer, 0, 60)
    assert index_state(engine) == (0, 0)  # below the threshold: all in the tail
    write(writer, 60, 60)
    assert index_state(engine) == (120, 120)
    write(writer, 120, 30)
    assert index_state(engine) == (120, 120)
    # a new writer (an agent restart) counts the tail from the database
    restarted = BatchWriter(engine, user_index_every=100)
    write(restarted, 150, 70)
    assert index_state(engine) == (220, 220)


@pytest.mark.parametrize("indexed", [0, 100, 150])
def test_timeline_and_user_filter_match_a_full_scan(engine: Engine, indexed: int) -> None:
    writer = BatchWriter(engine, user_index_every=10**9)
    write(writer, 0, indexed)
    if indexed:
        with engine.begin() as conn:
            user_index.flush(conn)
    write(writer, indexed, 150 - indexed)
    for user in USERS:
        expected = scanned(engine, user)
        timeline = console.user_timeline(engine, user, limit=30)
        assert [r["ts"] for r in timeline] == [ts for ts, _ in expected[:30]]
        ids = sorted((i for _, i in expected), reverse=True)
        window = console.stream(engine, after_id=20, before_id=140, limit=500,
                                where=StreamFilter(user=user))
        assert [r["id"] for r in window] == [i for i in ids if 20 < i < 140]
        assert {r["user_id"] for r in window} == {user}


def test_a_flush_between_reading_the_mark_and_the_query_repeats_and_hides_nothing(
        engine: Engine) -> None:
    writer = BatchWriter(engine, user_index_every=10**9)
    write(writer, 0, 90)
    with engine.connect() as conn:
        ids = user_index.user_assessment_ids(conn, "bob")  # reads the mark: 0
        with engine.begin() as other:
            user_index.flush(other)
        found = conn.execute(select(ids.c.id)).scalars().all()
    assert sorted(found) == sorted(i for _, i in scanned(engine, "bob"))


def test_retention_removes_index_entries_with_their_assessments(engine: Engine) -> None:
    writer = BatchWriter(engine, user_index_every=50)
    write(writer, 0, 100)
    write(writer, 100, 20)
    assert index_state(engine) == (100, 100)
    removed = purge(engine, now=T0 + 60 + 86400, retention_days=1)
    assert removed["assessments"] > 0
    with engine.connect() as conn:
        left = conn.execute(select(UserIndexRow.__table__.c.id)).scalars().all()
        kept = set(conn.execute(select(A.c.id)).scalars().all())
    assert left and set(left) <= kept
    assert len(left) == len([i for i in kept if i <= 100])


def test_a_schema_1_database_is_indexed_and_loses_the_old_index(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = open_database(f"sqlite:///{db}")
    write(BatchWriter(engine, user_index_every=10**9), 0, 30)
    engine.dispose()
    with sqlite3.connect(db) as old:  # back to schema 1: the index, no user_index rows
        old.execute("CREATE INDEX ix_assessments_user_ts ON assessments (user_id, ts)")
        old.execute("DROP TABLE user_index")
        old.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    engine = open_database(f"sqlite:///{db}")
    assert index_state(engine) == (30, 30)
    with engine.connect() as conn:
        names = {row[0] for row in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_assessments_user_ts" not in names
    assert [r["ts"] for r in console.user_timeline(engine, "carol")] == [
        ts for ts, _ in scanned(engine, "carol")]
