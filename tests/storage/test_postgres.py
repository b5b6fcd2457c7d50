"""The scale-out path: the same storage code against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import delete, text
from sqlmodel import SQLModel

from agent.replay import run_recorded
from fixtures.generator import write_log
from ottwatch.config import Config
from ottwatch.exports import EXPORTS
from ottwatch.findings import finding_to_alert
from ottwatch.pipeline import Finding
from ottwatch.vocabulary import Quarantined, SourcePosition
from storage import open_database
from storage.writer import BatchWriter

pytestmark = pytest.mark.postgres


def test_writer_and_upserts_on_postgres(postgres_url: str) -> None:
    from ottwatch.events import parse_line

    engine = open_database(postgres_url)
    open_database(postgres_url)  # opening again is a no-op migration
    writer = BatchWriter(engine)
    event = parse_line(b'{"event_id":"pg-1","timestamp":"2026-11-01T00:00:00Z",'
                       b'"user_id":"u","event_type":"PLAY","extra_metadata":{"a":1}}')
    alert = finding_to_alert(Finding("regulation.dsar_overdue", "high", 10.0, "DSAR overdue",
                                     request_id="r1"))
    for offset in (10, 20):
        writer.write(events=[event], assessments=[], now=1.0,
                     quarantined=[Quarantined("tcp:x", 0, "invalid_json", "", b"\xff{", 2)],
                     positions=[SourcePosition("file:/a", 7, offset)],
                     upserts={"stage_state": [{"name": "s", "updated_at": 1.0, "state": b"x"}],
                              "alerts": [alert]})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == 1
        assert conn.execute(text("SELECT COUNT(*) FROM quarantine")).scalar() == 2
        assert conn.execute(text("SELECT COUNT(*) FROM alerts")).scalar() == 1
        assert conn.execute(text("SELECT event_type FROM events")).scalar() == "play"
    assert writer.known_event_ids(["pg-1", "pg-2"]) == {"pg-1"}
    assert writer.load_positions()["file:/a"].offset == 20


def test_replay_gives_the_same_records_on_postgres_and_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "in.jsonl"
    write_log(log, 3000, seed=3, users=200, bad_ratio=0.01)
    exported = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'r.db'}"), ("pg", postgres_url)):
        engine = open_database(url)
        with engine.begin() as conn:
            for table in ("events", "quarantine", "assessments"):
                conn.execute(delete(SQLModel.metadata.tables[table]))
        config = Config()
        config.storage.url = url
        asyncio.run(run_recorded(config, [str(log)]))
        exported[name] = {what: list(EXPORTS[what](engine)[1])
                          for what in ("events", "assessments")}
        exported[name]["quarantine"] = [
            {k: v for k, v in r.items() if k != "id"} for r in EXPORTS["quarantine"](engine)[1]]
    assert len(exported["sqlite"]["events"]) > 2900
    assert exported["sqlite"] == exported["pg"]
