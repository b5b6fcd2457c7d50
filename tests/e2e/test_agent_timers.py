"""A deadline fires on wall time in the agent, even across a restart and with no
further event: a DSAR opened, the agent stopped, the deadline passing while it is
down, and the restarted agent raising `regulation.dsar_overdue` on its own."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import Database


def test_an_overdue_dsar_fires_in_the_agent_after_a_restart(tmp_path: Path, agent_process
                                                            ) -> None:
    config = tmp_path / "ottwatch.toml"
    config.write_text(  # a 6-second DSAR deadline, so the test need not wait a month
        "[regulations.overrides.GDPR]\n"
        'dsar = { hours = 0.0016666667, source = "test", law = "a test deadline" }\n',
        encoding="utf-8")
    log, db = tmp_path / "events.jsonl", tmp_path / "agent.db"
    opened = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    log.write_text(json.dumps({
        "event_id": "dsar-1", "timestamp": opened, "user_id": "u-1", "region": "DE",
        "event_type": "dsar_request", "request_id": "req-1", "has_consent": True,
    }) + "\n", encoding="utf-8")
    database = Database(db)

    first = agent_process(str(log), "--db", str(db), config=config)
    first.wait_for(lambda: database.count() == 1, what="the request stored")
    first.wait_for(lambda: database.rows("SELECT state FROM timers") == [("open",)],
                   what="the timer recorded")
    assert first.stop() == 0
    assert database.rows("SELECT COUNT(*) FROM alerts WHERE codes LIKE '%dsar_overdue%'") \
        == [(0,)]

    time.sleep(7)  # the deadline passes while the agent is down
    second = agent_process(str(log), "--db", str(db), config=config)
    second.wait_for(lambda: database.rows(
        "SELECT request_id, regulation FROM alerts WHERE codes LIKE '%dsar_overdue%'")
        == [("req-1", "GDPR")], timeout=30, what="the overdue alert")
    assert database.rows("SELECT state FROM timers") == [("overdue",)]
    assert database.count() == 1  # no event was read twice
    assert second.stop() == 0
