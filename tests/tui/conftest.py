"""A fixture database for the console: the planted scenarios replayed through the
real pipeline, plus an operator label and a hostile user id. Built once; tests that
change it get their own copy."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from agent.replay import run_recorded
from fixtures.scenarios import write_log
from ottwatch.config import Config
from storage import open_database
from storage.operator import audit
from storage.tables import EventRow, LabelRow

FIXTURES = Path(__file__).parents[2] / "fixtures"
HOSTILE_USER = "[red]x[/red]"
HOSTILE_EVENT = "evt-hostile"
AT = 1793700000.0  # a fixed operator time, so snapshots do not move


def hostile_lines() -> str:
    return json.dumps({
        "event_id": HOSTILE_EVENT, "timestamp": "2026-11-02T09:30:00Z", "user_id": HOSTILE_USER,
        "event_type": "search", "region": "DE", "ip_address": "85.10.0.9",
        "has_consent": True, "device_id": "[bold]dev[/bold]",
        "extra_metadata": {"q": "\u001b]0;pwned\u0007 [link=http://evil]click[/link]"},
    }) + "\n"


def build(folder: Path) -> Path:
    log, db = folder / "console.jsonl", folder / "console.db"
    write_log(log, background=4000)
    with open(log, "a", encoding="utf-8") as out:
        out.write(hostile_lines())
    config = Config()
    config.storage.url = f"sqlite:///{db}"
    # The hostile line goes back a month after the log's last line: keep that line (the
    # stream rule would quarantine it as an outlier, timestamp_in_future).
    config.ingest.future_confirm_lines = 1
    config.geo.city_db = str(FIXTURES / "data" / "GeoLite2-City.mmdb")
    config.geo.anonymizer_lists = [str(FIXTURES / "anonymizers.txt")]
    asyncio.run(run_recorded(config, [str(log)]))
    engine = open_database(config.storage.url)
    with engine.begin() as conn:
        # where the log was is a temporary folder; snapshots need a fixed one
        conn.execute(EventRow.__table__.update().values(source="file:/var/log/ott/console.jsonl"))
        conn.execute(LabelRow.__table__.insert().values(
            event_id="x-0001-x-inject", label="violation", note="confirmed SQLi",
            created_by="alice", created_at=AT))
        audit(conn, "label", "x-0001-x-inject", {"label": "violation"}, who="alice", at=AT)
    engine.dispose()
    return db


@pytest.fixture(scope="session")
def console_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("console"))


@pytest.fixture
def console_db(console_db_template: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that change the database."""
    copy = tmp_path / "console.db"
    shutil.copy(console_db_template, copy)
    return copy
