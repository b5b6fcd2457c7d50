"""The figures /metrics reads from the database at scrape time, on a real SQLite file:
the outbox backlog counts what the sender will take, alerts count from the agent's
start, and a database that cannot be read says so instead of failing the scrape."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from agent.sources.limits import SocketStats
from agent.stats import AgentStats
from ottwatch.alerts.sender import DeliveryTally
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


def test_backlog_timers_and_alerts_since_start(tmp_path: Path) -> None:
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


def test_notifications_and_socket_cuts_are_the_counters_the_agent_keeps(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    tally = DeliveryTally({("chat", "sent"): 5, ("chat", "retrying"): 2, ("mail", "failed"): 1})
    sockets = SocketStats(accepted=9, active=2, refused_peer_limit=3, cut_slow=4)
    found = samples(AgentMetrics(AgentStats, engine, deliveries=tally, sockets=sockets))
    assert found["ottwatch_notifications_total"] == {
        (("channel", "chat"), ("outcome", "sent")): 5,
        (("channel", "chat"), ("outcome", "retrying")): 2,
        (("channel", "mail"), ("outcome", "failed")): 1}
    tally[("chat", "sent")] += 1  # read when scraped, not copied at the start
    found = samples(AgentMetrics(AgentStats, engine, deliveries=tally, sockets=sockets))
    assert found["ottwatch_notifications_total"][(("channel", "chat"), ("outcome", "sent"))] == 6
    assert found["ottwatch_socket_connections_accepted_total"] == {(): 9}
    assert found["ottwatch_socket_connections_active"] == {(): 2}
    assert found["ottwatch_socket_refused_total"] == {
        (("reason", "full"),): 0, (("reason", "peer_limit"),): 3}
    assert found["ottwatch_socket_cut_total"][(("reason", "slow"),)] == 4
    assert sum(found["ottwatch_socket_cut_total"].values()) == 4
