"""Self-alerts: a silent source, an outbox backlog and a failed retrain reach the alert
sink once per episode; in a running agent they become alerts in the database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.health_alerts import (
    OUTBOX_BACKLOG,
    RETRAIN_FAILED,
    SOURCE_SILENT,
    HealthAlerts,
    WatchedTrainer,
)
from agent.stats import SourceCounts
from fixtures.scenarios import merged_lines
from ottwatch.alerts.settings import AlertSettings
from ottwatch.config import MetricsConfig
from storage import open_database
from tests.alerts.conftest import Harness
from tests.conftest import AgentProcess, Database, find_free_port

T0 = 1_796_000_000.0
FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = open_database(f"sqlite:///{tmp_path / 'ottwatch.db'}")
    yield db
    db.dispose()


def findings(alerts: list[dict[str, Any]], code: str) -> int:
    """How many findings of `code` the stored alerts hold."""
    return sum(a["count"] for a in alerts if a["codes"] == [code])


class Watch:
    def __init__(self, engine: Engine, **settings: Any) -> None:
        self.harness = Harness(engine, AlertSettings(group_wait_s=0.0), deliver=False)
        self.clock = [T0]
        self.health = HealthAlerts(self.harness.sink, lambda: MetricsConfig(**settings),
                                   wall=lambda: self.clock[0])

    def at(self, moment: float) -> None:
        self.clock[0] = moment

    def count(self, code: str) -> int:
        self.harness.tick(self.clock[0])
        return findings(self.harness.alerts(), code)


def test_a_silent_source_is_alerted_once_per_silence(engine: Engine) -> None:
    watch = Watch(engine, source_silent_s=60)
    sources = {"file:/var/log/ott.jsonl": SourceCounts(lines=5, last_line_at=T0)}
    for moment, expected in ((T0 + 30, 0), (T0 + 61, 1), (T0 + 120, 1), (T0 + 600, 1)):
        watch.at(moment)
        watch.health.check_sources(sources, started_at=T0 - 100)
        assert watch.count(SOURCE_SILENT) == expected, moment
    sources["file:/var/log/ott.jsonl"].last_line_at = T0 + 601  # it speaks again
    watch.at(T0 + 602)
    watch.health.check_sources(sources, started_at=T0 - 100)
    watch.at(T0 + 700)
    watch.health.check_sources(sources, started_at=T0 - 100)
    assert watch.count(SOURCE_SILENT) == 2
    [alert] = [a for a in watch.harness.alerts() if a["codes"] == [SOURCE_SILENT]]
    assert "file:/var/log/ott.jsonl" in alert["title"] and alert["severity"] == "high"


def test_before_any_line_every_source_counts_from_the_start_and_0_is_off(
        engine: Engine) -> None:
    watch = Watch(engine, source_silent_s=60)
    watch.at(T0 + 61)
    watch.health.check_sources({}, started_at=T0)
    assert watch.count(SOURCE_SILENT) == 1
    off = Watch(engine, source_silent_s=0, outbox_backlog=0)
    off.at(T0 + 10 ** 6)
    off.health.check_sources({}, started_at=T0)
    off.health.check_backlog(10 ** 6)
    off.harness.tick(off.clock[0])
    assert watch.count(SOURCE_SILENT) == 1, "nothing more with both checks off"
    assert findings(watch.harness.alerts(), OUTBOX_BACKLOG) == 0


def test_an_outbox_backlog_is_alerted_once_until_it_drains(engine: Engine) -> None:
    watch = Watch(engine, outbox_backlog=100)
    for backlog, expected in ((100, 0), (101, 1), (5000, 1), (3, 1), (250, 2)):
        watch.health.check_backlog(backlog)
        assert watch.count(OUTBOX_BACKLOG) == expected, backlog


def test_a_failed_retrain_is_alerted_once_until_one_succeeds(engine: Engine) -> None:
    watch = Watch(engine)
    outcome: list[BaseException | None] = [RuntimeError("child process died")]

    def trainer(names: list[str], **_: Any) -> list[dict[str, Any]]:
        if outcome[0] is not None:
            raise outcome[0]
        return [{"name": n, "message": "trained"} for n in names]

    watched = WatchedTrainer(trainer, watch.health)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            watched(["ensemble"], now=T0)
    assert watch.count(RETRAIN_FAILED) == 1
    outcome[0] = None
    assert watched(["ensemble"], now=T0) == [{"name": "ensemble", "message": "trained"}]
    outcome[0] = OSError("disk full")
    with pytest.raises(OSError):
        watched(["ensemble"], now=T0)
    assert watch.count(RETRAIN_FAILED) == 2


def test_a_running_agent_alerts_a_silent_source_and_a_backlog_once(
        tmp_path: Path, agent_process: Callable[..., AgentProcess],
        open_db: type[Database]) -> None:
    _, lines = merged_lines(background=200)
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    refused = find_free_port()  # nothing listens: every delivery waits to be retried
    config = tmp_path / "agent.toml"
    config.write_text(
        "[metrics]\nheartbeat_s = 0.5\nsource_silent_s = 2\noutbox_backlog = 3\n\n"
        f'[geo]\ncity_db = "{FIXTURES / "data" / "GeoLite2-City.mmdb"}"\n\n'
        f'[alerts]\nurls = ["chat=json://ottwatch:pw@127.0.0.1:{refused}/chat"]\n'
        "retry_initial_s = 3600\n", encoding="utf-8")
    db = open_db(tmp_path / "agent.db")
    agent = agent_process(str(log), "--db", str(db.path), config=config)

    def counted(code: str) -> int:
        rows = db.rows("SELECT codes, count FROM alerts")
        return sum(n for codes, n in rows if json.loads(codes) == [code])

    agent.wait_for(lambda: counted(SOURCE_SILENT) == 1, what="the silent source alerted")
    agent.wait_for(lambda: counted(OUTBOX_BACKLOG) == 1, what="the backlog alerted")
    time.sleep(3)  # six more checks, the silence and the backlog still on
    assert (counted(SOURCE_SILENT), counted(OUTBOX_BACKLOG)) == (1, 1)
    with open(log, "ab") as out:
        out.write(lines[-1].replace(b'"evt-', b'"evt-again-') + b"\n")
    agent.wait_for(lambda: counted(SOURCE_SILENT) == 2, what="the second silence alerted")
    assert agent.stop() == 0, agent.stderr()
