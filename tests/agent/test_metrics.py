"""`[metrics] listen`: a running agent serves Prometheus text at /metrics; parsed with
the Prometheus client's own parser, its figures are what the database holds."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fixtures.scenarios import merged_lines
from tests.alerts.conftest import Receiver
from tests.conftest import AgentProcess, Database, Samples, find_free_port, scrape

FIXTURES = Path(__file__).parents[2] / "fixtures"
DUE = ("pending", "retrying", "digest")

def by(samples: Samples, name: str, *labels: str) -> dict[tuple[str, ...], int]:
    return {tuple(dict(key)[label] for label in labels): int(value)
            for key, value in samples.get(name, {}).items()}


def database_figures(db: Database) -> dict[str, Any]:
    alerts: Counter[tuple[str, str]] = Counter()
    for severity, codes in db.rows("SELECT severity, codes FROM alerts"):
        alerts[(severity, (json.loads(codes) or [""])[0])] += 1
    return {
        "stored": db.count("events"),
        "quarantined": dict(db.rows("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason")),
        "alerts": dict(alerts),
        "notifications": {(c, s): n for c, s, n in db.rows(
            "SELECT channel, state, COUNT(*) FROM deliveries "
            "WHERE state IN ('sent', 'failed') GROUP BY channel, state")},
        "backlog": db.rows("SELECT COUNT(*) FROM deliveries WHERE state IN (?, ?, ?)", DUE)[0][0],
        "timers": dict(db.rows("SELECT regulation, COUNT(*) FROM timers "
                               "WHERE state IN ('open', 'warned', 'overdue') GROUP BY regulation")),
    }


def scraped_figures(samples: Samples, source: str) -> dict[str, Any]:
    return {
        "stored": by(samples, "ottwatch_events_stored_total", "source").get((source,), 0),
        "quarantined": {reason: n for (src, reason), n in by(
            samples, "ottwatch_quarantined_total", "source", "reason").items() if src == source},
        "alerts": by(samples, "ottwatch_alerts_total", "severity", "code"),
        "notifications": {key: n for key, n in by(
            samples, "ottwatch_notifications_total", "channel", "outcome").items()
            if key[1] != "retrying"},
        "backlog": int(samples["ottwatch_outbox_backlog"][()]),
        "timers": {r: n for (r,), n in by(samples, "ottwatch_open_timers", "regulation").items()},
    }


def settled(db: Database) -> bool:
    """Every outbox row sent or given up: the figures no longer move."""
    states = {s for (s,) in db.rows("SELECT DISTINCT state FROM deliveries")}
    return bool(states) and not states & set(DUE)


def test_metrics_on_a_running_agent_match_the_database(
        tmp_path: Path, agent_process: Callable[..., AgentProcess], open_db: type[Database],
        free_port: int) -> None:
    _, lines = merged_lines(background=600, bad_ratio=0.03)
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    receiver = Receiver()
    refused = find_free_port()  # nothing listens: its deliveries fail
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[metrics]\nlisten = "127.0.0.1:{free_port}"\nheartbeat_s = 0.5\n\n'
        f'[geo]\ncity_db = "{FIXTURES / "data" / "GeoLite2-City.mmdb"}"\n'
        f'anonymizer_lists = ["{FIXTURES / "anonymizers.txt"}"]\n\n'
        f'[alerts]\nurls = ["chat={receiver.url("chat")}", '
        f'"email=json://ottwatch:pw@127.0.0.1:{refused}/email"]\n'
        'retry_initial_s = 0.1\nretry_max_s = 0.2\ndelivery_expiry_s = 0.5\n'
        'send_timeout_s = 5\n', encoding="utf-8")
    db = open_db(tmp_path / "agent.db")
    agent = agent_process(str(log), "--db", str(db.path), config=config)
    agent.wait_for(lambda: db.checkpoint(log) == (log.stat().st_ino, log.stat().st_size),
                   what="the whole log read and checkpointed")
    agent.wait_for(lambda: settled(db), what="every notification sent or failed")
    source = f"file:{log}"

    # Figures from the database move while the agent works (a timer falls due, a retry
    # is given up): read both sides until they agree, then check what they agree on.
    last: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def agree() -> bool:
        pair = (scraped_figures(scrape(free_port), source), database_figures(db))
        last[:] = [pair]
        return pair[0] == pair[1]

    try:
        agent.wait_for(agree, timeout=30, what="/metrics to agree with the database")
    except AssertionError:
        scraped, stored = last[0]
        raise AssertionError(f"/metrics: {scraped}\ndatabase: {stored}") from None
    scraped, stored = last[0]
    assert scraped["stored"] + sum(scraped["quarantined"].values()) == len(lines)
    assert len(scraped["quarantined"]) >= 3, "the bad lines fall into several reasons"
    assert scraped["alerts"] and scraped["timers"], "alerts and deadline timers were opened"
    states = {state for _, state in scraped["notifications"]}
    assert states == {"sent", "failed"}, scraped["notifications"]

    samples = scrape(free_port)
    assert by(samples, "ottwatch_lines_read_total", "source") == {(source,): len(lines)}
    for stage, events in by(samples, "ottwatch_stage_events_total", "stage").items():
        assert events == scraped["stored"], f"stage {stage} saw {events} events"
    assert samples["ottwatch_batch_latency_seconds_count"][()] >= 1
    newest = db.rows("SELECT MAX(ts) FROM events")[0][0]
    assert abs(samples["ottwatch_lag_seconds"][()] - (time.time() - newest)) < 60
    assert samples["ottwatch_database_up"][()] == 1

    # Models: the active version and the last retrain are read at scrape time.
    with sqlite3.connect(db.path) as conn:
        conn.execute("INSERT INTO models (name, version, status, trained_at, samples) "
                     "VALUES ('ensemble', 3, 'active', 1796000000.5, 100)")
    samples = scrape(free_port)
    assert samples["ottwatch_model_version"] == {(("model", "ensemble"),): 3}
    assert samples["ottwatch_last_retrain_timestamp_seconds"][()] == 1796000000.5

    # No user and no address in any label.
    users = {u for (u,) in db.rows("SELECT DISTINCT user_id FROM events")}
    addresses = {a for (a,) in db.rows("SELECT DISTINCT ip_address FROM events")}
    values = {value for series in samples.values() for key in series for _, value in key}
    assert not values & (users | addresses), values & (users | addresses)
    assert agent.stop() == 0, agent.stderr()


def test_the_endpoint_is_off_when_listen_is_empty_and_a_taken_port_is_refused(
        tmp_path: Path, agent_process: Callable[..., AgentProcess], open_db: type[Database],
        free_port: int) -> None:
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"")
    db = open_db(tmp_path / "agent.db")
    config = tmp_path / "agent.toml"
    config.write_text(f'[metrics]\nlisten = "127.0.0.1:{free_port}"\n', encoding="utf-8")
    serving = agent_process(str(log), "--db", str(db.path), config=config)
    serving.wait_for(lambda: "ottwatch_lines_read" in _text(free_port), what="/metrics")

    second = agent_process(str(log), "--db", str(tmp_path / "second.db"), config=config)
    assert second.proc.wait(timeout=60) == 1
    assert f"[metrics] listen = '127.0.0.1:{free_port}'" in second.stderr()
    assert serving.stop() == 0, serving.stderr()

    quiet = agent_process(str(log), "--db", str(db.path))  # an empty config: no [metrics]
    quiet.wait_for(lambda: db.rows("SELECT pid FROM heartbeat") == [(quiet.pid,)],
                   what="the agent's heartbeat")
    assert _text(free_port) == "", "nothing listens without [metrics] listen"
    assert quiet.stop() == 0


def _text(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.ConnectError:
        return ""
