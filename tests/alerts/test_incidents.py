"""Incidents, not events, reach people: one grouped alert per incident, at the severity
its code deserves whatever the event's score."""

from __future__ import annotations

from sqlalchemy import select

from ottwatch.alerts.incidents import RULES, IncidentRules
from ottwatch.alerts.settings import AlertSettings
from ottwatch.pipeline import Assessment, Reason
from storage.tables import DeliveryRow

from .conftest import T0, Harness, event

DAY = 86_400.0


def record(engine, **settings) -> Harness:
    return Harness(engine, AlertSettings(**settings), deliver=False)


def test_one_strong_reason_reaches_the_severity_its_incident_deserves(engine) -> None:
    """A takeover scores 55 on its own (a medium assessment): the alert is still high."""
    harness = record(engine)
    batch = harness.run([event(1, "victim", score=55, code="account.takeover_pattern")])
    assert batch.assessments[0].level == "medium"
    [alert] = harness.alerts()
    assert (alert["severity"], alert["codes"][0], alert["user_id"]) == (
        "high", "account.takeover_pattern", "victim")
    assert alert["title"] == "[HIGH] account.takeover_pattern — user victim"


def test_a_critical_event_keeps_its_higher_level(engine) -> None:
    harness = record(engine)
    harness.run([event(1, "victim", score=90, code="account.takeover_pattern")])
    [alert] = harness.alerts()
    assert alert["severity"] == "critical"


def test_a_stuffing_run_across_many_accounts_is_one_alert_about_its_address(engine) -> None:
    harness = record(engine)
    attempts = [event(n, f"acct-{n:02d}", ts=T0 + n * 10, score=50, code="auth.failure_burst",
                      ip_address="192.0.2.10") for n in range(30)]
    harness.run(attempts)
    [alert] = harness.alerts()
    assert alert["severity"] == "high" and alert["user_id"] is None
    assert alert["title"] == "[HIGH] auth.failure_burst — address 192.0.2.10"
    assert alert["count"] == 30 and len(alert["event_ids"]) == 30


def test_plan_sharing_is_medium_and_each_account_is_its_own_incident(engine) -> None:
    harness = record(engine)
    harness.run([event(1, "a", score=45, code="stream.concurrency_exceeded"),
                 event(2, "b", score=45, code="stream.concurrency_exceeded"),
                 event(3, "a", ts=T0 + 60, score=45, code="stream.concurrency_exceeded")])
    alerts = sorted(harness.alerts(), key=lambda a: a["user_id"])
    assert [(a["user_id"], a["severity"], a["count"]) for a in alerts] == [
        ("a", "medium", 2), ("b", "medium", 1)]


def test_consent_lapses_are_one_digest_a_day_per_regulation_for_compliance(engine, receiver):
    settings = AlertSettings(urls=[*receiver.entries(), f"compliance={receiver.url('dpo')}"])
    harness = Harness(engine, settings)
    lapses = [event(n, f"u-{n}", ts=T0 + n * 3600, score=35, code="consent.missing",
                    about="GDPR" if n % 3 else "LGPD") for n in range(1, 7)]
    harness.run(lapses[:3])
    harness.run(lapses[3:])
    with engine.connect() as conn:
        assert conn.execute(select(DeliveryRow.__table__)).first() is None  # not before the day ends
    harness.tick(T0 + DAY + 1)
    alerts = {a["regulation"]: a for a in harness.alerts()}
    assert set(alerts) == {"GDPR", "LGPD"}
    assert (alerts["GDPR"]["count"], alerts["LGPD"]["count"]) == (4, 2)
    assert alerts["GDPR"]["title"] == "[MEDIUM] consent.missing — regulation GDPR"
    assert alerts["GDPR"]["user_id"] is None
    harness.sender([T0 + DAY + 1]).send_due_once()
    assert receiver.paths() == {"dpo"}  # the compliance channel, not chat
    assert len(receiver.received("dpo")) == 2

    later = harness.run([event(9, "u-9", ts=T0 + DAY + 100, score=35, code="consent.missing",
                               about="GDPR")])
    assert later.assessments and len(harness.alerts()) == 3  # the next day is a new digest


def test_a_reason_without_an_incident_alerts_only_from_min_level(engine) -> None:
    harness = record(engine)
    harness.run([event(1, "traveller", score=35, code="geo.claimed_region_mismatch"),
                 event(2, "vpn", score=45, code="geo.anonymizer")])
    assert harness.alerts() == []


def test_operators_set_an_incident_severity_or_turn_it_off() -> None:
    def assessed(code: str, weight: float) -> Assessment:
        return Assessment("e", "u", T0, "", weight, "medium", "review", 50.0,
                          [Reason(code, weight, "")])

    rules = IncidentRules({"velocity.access_spike": "high", "geo.impossible_travel": "off",
                           "geo.anonymizer": "low"}, "high")
    assert rules.incident(assessed("velocity.access_spike", 30)).severity == "high"
    assert rules.incident(assessed("geo.impossible_travel", 50)) is None
    anonymizer = rules.incident(assessed("geo.anonymizer", 45))
    assert (anonymizer.severity, anonymizer.subject) == ("low", "user")
    assert set(RULES) <= set(IncidentRules({}, "high").rules)


def test_unknown_incident_severities_are_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AlertSettings(incidents={"geo.anonymizer": "urgent"})
