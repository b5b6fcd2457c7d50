from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect

from ottwatch.events import parse_line
from ottwatch.vocabulary import SourcePosition
from storage import open_database
from storage.migrations import SchemaTooNew, current_version
from storage.tables import SCHEMA_VERSION
from storage.writer import BatchWriter

LINE = (b'{"event_id":"e1","timestamp":"2026-11-01T10:00:00Z","user_id":"u1",'
        b'"event_type":"play","region":"UK","extra_metadata":{"k":[1,2]}}')


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "ottwatch.db"
    engine = open_database(f"sqlite:///{db}")
    BatchWriter(engine).write(events=[parse_line(LINE)], quarantined=[], assessments=[],
                              positions=[], now=1.0)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db}{suffix}")
        assert side.exists() and mode(side) == 0o600


def test_events_round_trip_and_checkpoint_in_one_transaction(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    writer = BatchWriter(engine)
    event = parse_line(LINE)
    writer.write(events=[event], quarantined=[], assessments=[],
                 positions=[SourcePosition("file:/x", 42, 1234)], now=5.0)
    writer.write(events=[event], quarantined=[], assessments=[],
                 positions=[SourcePosition("file:/x", 42, 2000)], now=6.0)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT event_id, region, extra_metadata FROM events").all()
    assert rows == [("e1", "GB", '{"k":[1,2]}')]
    assert writer.load_positions()["file:/x"] == SourcePosition("file:/x", 42, 2000)
    assert writer.known_event_ids(["e1", "e2"]) == {"e1"}


def test_an_older_database_is_brought_up_to_date(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:  # the shape of an early events table, no meta table
        old.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, event_id VARCHAR(255) UNIQUE,"
                    " ts FLOAT, timestamp VARCHAR(40), user_id VARCHAR(255),"
                    " event_type VARCHAR(255), ingested_at FLOAT)")
        old.execute("INSERT INTO events (event_id, ts, timestamp, user_id, event_type, "
                    "ingested_at) VALUES ('old-1', 1, '1970-01-01T00:00:01Z', 'u', 'play', 1)")
    engine = open_database(f"sqlite:///{db}")
    columns = {c["name"] for c in inspect(engine).get_columns("events")}
    assert {"device_id", "extra_metadata", "source", "source_offset"} <= columns
    assert "ix_events_ts" in {i["name"] for i in inspect(engine).get_indexes("events")}
    assert {"assessments", "alerts", "timers", "labels", "commands"} <= set(
        inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION
        assert conn.exec_driver_sql("SELECT event_id FROM events").scalar() == "old-1"
    BatchWriter(engine).write(events=[parse_line(LINE)], quarantined=[], assessments=[],
                              positions=[], now=2.0)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM events").scalar() == 2


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    engine = open_database(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(SchemaTooNew, match="upgrade ottwatch"):
        open_database(url)
