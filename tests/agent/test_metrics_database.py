"""The figures /metrics reads from the database at scrape time, on a real SQLite file:
the outbox backlog counts what the sender will take, alerts count from the agent's
start, and a database that cannot be read says so instead of failing the scrape."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from agent.stats import AgentStats
from ottwatch.metrics import AgentMetrics
from storage import open_database
from storage.tables import AlertRow, DeliveryRow, TimerRow

T = 1_796_000_000.0


def samples(metrics: AgentMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def add_alert(engine: Engine, alert_id: str, severity: str, codes: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(AlertRow.__table__.insert().values(
            alert_id=alert_id, group_key=alert_id, created_at=T, updated_at=T,
            severity=severity, codes=codes, title="t", body="b"))


def test_backlog_notifications_timers_and_alerts_since_start(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    add_alert(engine, "al-before", "critical", ["geo.impossible_travel"])
    states = ["pending", "retrying", "digest", "sent", "sent", "failed"]
    with engine.begin() as conn:
        conn.execute(DeliveryRow.__table__.insert(), [
            {"alert_id": "al-before", "channel": "chat", "state": state,
             "next_attempt_at": T, "expires_at": T, "created_at": T} for state in states])
        conn.execute(TimerRow.__table__.insert(), [
            {"key": f"dsar:{i}", "kind": "dsar", "request_id": f"r{i}", "user_id": "u",
             "regulation": regulation, "opened_at": T, "warn_at": T, "deadline": T,
             "state": state, "event_id": f"e{i}"}
            for i, (regulation, state) in enumerate([("GDPR", "open"), ("GDPR", "overdue"),
                                                     ("CCPA", "warned"), ("CCPA", "closed")])])
    metrics = AgentMetrics(AgentStats, engine)
    add_alert(engine, "al-1", "high", ["input.attack_pattern", "velocity.access_spike"])
    add_alert(engine, "al-2", "high", ["input.attack_pattern"])

    found = samples(metrics)
    assert found["ottwatch_outbox_backlog"] == {(): 3}
    assert found["ottwatch_notifications"] == {
        (("channel", "chat"), ("state", state)): states.count(state) for state in set(states)}
    assert found["ottwatch_open_timers"] == {(("regulation", "GDPR"),): 2,
                                             (("regulation", "CCPA"),): 1}
    # Counted from the start, by the first code; not twice on the next scrape.
    alerts = {(("code", "input.attack_pattern"), ("severity", "high")): 2}
    assert found["ottwatch_alerts_total"] == alerts
    assert samples(metrics)["ottwatch_alerts_total"] == alerts
    assert found["ottwatch_database_up"] == {(): 1}


def test_a_database_that_cannot_be_read_gives_database_up_0(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    metrics = AgentMetrics(AgentStats, engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE deliveries"))
    found = samples(metrics)
    assert found["ottwatch_database_up"] == {(): 0}
    assert "ottwatch_outbox_backlog" not in found
