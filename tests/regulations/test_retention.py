from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from ottwatch.regulations.retention_regions import region_codes
from storage import open_database
from storage.retention import RetentionJob, RetentionSettings, purge
from storage.tables import AlertRow, AssessmentRow, DeliveryRow, EventRow, QuarantineRow

NOW = 1_780_000_000.0
DAY = 86400.0
EVENTS = EventRow.__table__
ASSESSMENTS = AssessmentRow.__table__
QUARANTINE = QuarantineRow.__table__


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_database("sqlite:///" + str(tmp_path / "ottwatch.db"))
    yield engine
    engine.dispose()


def add_event(engine: Engine, event_id: str, age_days: float, region: str | None = "US") -> None:
    ts = NOW - age_days * DAY
    with engine.begin() as conn:
        conn.execute(insert(EVENTS).values(
            event_id=event_id, ts=ts, timestamp="-", user_id="u", event_type="play",
            region=region, ingested_at=ts, source="", source_offset=0))
        conn.execute(insert(ASSESSMENTS).values(
            event_id=event_id, user_id="u", ts=ts, score=0, level="low", decision="allow",
            threshold=40, reasons=[]))


def add_quarantined(engine: Engine, age_days: float) -> None:
    with engine.begin() as conn:
        conn.execute(insert(QUARANTINE).values(
            source="s", source_offset=0, reason="invalid_json", detail="", raw=b"{",
            raw_length=1, received_at=NOW - age_days * DAY))


def event_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(EVENTS.c.event_id)).scalars())


def assessed_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(ASSESSMENTS.c.event_id)).scalars())


def quarantined(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one()


def test_purge_deletes_only_rows_past_retention(engine: Engine) -> None:
    for n in range(7):
        add_event(engine, f"old{n}", 400 + n)
    add_event(engine, "edge", 364.9)
    add_event(engine, "new", 1)
    add_quarantined(engine, 500)
    add_quarantined(engine, 10)
    counts = purge(engine, NOW, 365, chunk_size=3)
    assert counts == {"events": 7, "assessments": 7, "quarantine": 1, "alerts": 0,
                      "deliveries": 0}
    assert event_ids(engine) == assessed_ids(engine) == {"edge", "new"}
    assert quarantined(engine) == 1
    assert set(purge(engine, NOW, 365).values()) == {0}


def test_stricter_retention_per_regulation_and_region(engine: Engine) -> None:
    for event_id, region in [("de", "DE"), ("de_by", "DE-BY"), ("eu", "EU"), ("no", "NO"),
                             ("us", "US"), ("us_ca", "US-CA"), ("gb", "GB"), ("none", None)]:
        add_event(engine, event_id, 40, region)
    add_event(engine, "de_recent", 10, "DE")
    add_quarantined(engine, 40)
    counts = purge(engine, NOW, 365, {"GDPR": 30, "US-CA": 35, "JP": 500}, chunk_size=2,
                   regions_of=region_codes)
    assert counts == {"events": 5, "assessments": 5, "quarantine": 1, "alerts": 0,
                      "deliveries": 0}
    assert event_ids(engine) == assessed_ids(engine) == {"us", "gb", "none", "de_recent"}


def test_orphan_assessments_go_by_their_own_ts(engine: Engine) -> None:
    add_event(engine, "kept", 1)
    with engine.begin() as conn:
        conn.execute(insert(ASSESSMENTS).values(
            event_id="orphan", user_id="u", ts=NOW - 400 * DAY, score=0, level="low",
            decision="allow", threshold=40, reasons=[]))
    assert purge(engine, NOW, 365)["assessments"] == 1
    assert assessed_ids(engine) == {"kept"}


def test_quarantine_keeps_its_own_period_when_set(engine: Engine) -> None:
    add_quarantined(engine, 40)
    add_quarantined(engine, 100)
    assert purge(engine, NOW, 365, {"GDPR": 30}, quarantine_days=90,
                 regions_of=region_codes)["quarantine"] == 1
    assert quarantined(engine) == 1


def test_a_bad_region_key_is_an_error(engine: Engine) -> None:
    with pytest.raises(ValueError, match="neither a regulation id nor a region"):
        purge(engine, NOW, 365, {"not a region": 30}, regions_of=region_codes)


def test_the_job_runs_on_its_interval(engine: Engine) -> None:
    settings = RetentionSettings(per_region_days={"GDPR": 30})
    assert settings.interval_s == 3600.0
    clock = [NOW]
    job = RetentionJob(engine, settings, 365, regions_of=region_codes, clock=lambda: clock[0])
    add_event(engine, "de", 40, "DE")
    assert job.run_if_due() == {"events": 1, "assessments": 1, "quarantine": 0, "alerts": 0,
                                "deliveries": 0}
    clock[0] += 3599
    assert job.run_if_due() is None
    clock[0] += 1
    assert set(job.run_if_due().values()) == {0}
    assert RetentionJob(engine, RetentionSettings(retention_days=30), 365).retention_days == 30


def add_alert(engine: Engine, alert_id: str, updated_days_ago: float,
              deliveries: list[tuple[str, float]]) -> None:
    """An alert created 400 days ago, last updated `updated_days_ago`, with deliveries
    (state, days ago)."""
    with engine.begin() as conn:
        conn.execute(insert(AlertRow.__table__).values(
            alert_id=alert_id, group_key=alert_id, created_at=NOW - 400 * DAY,
            updated_at=NOW - updated_days_ago * DAY, severity="high", codes=["x"],
            user_id="u-1", title="t", body="203.0.113.7"))
        for state, days in deliveries:
            at = NOW - days * DAY
            conn.execute(insert(DeliveryRow.__table__).values(
                alert_id=alert_id, channel="chat", state=state, next_attempt_at=at,
                expires_at=at, created_at=at))


def test_alerts_and_their_deliveries_go_once_not_updated_for_the_period(engine: Engine) -> None:
    add_alert(engine, "old", 40, [("sent", 399), ("failed", 41)])
    add_alert(engine, "long-running", 5, [("sent", 399), ("sent", 5)])  # still updated
    add_alert(engine, "edge", 29.9, [("pending", 29.9)])
    counts = purge(engine, NOW, 30, chunk_size=1)
    assert (counts["alerts"], counts["deliveries"]) == (1, 3)
    with engine.connect() as conn:
        alerts = set(conn.execute(select(AlertRow.__table__.c.alert_id)).scalars())
        left = sorted(conn.execute(select(DeliveryRow.__table__.c.alert_id,
                                          DeliveryRow.__table__.c.state)).all())
    assert alerts == {"long-running", "edge"}
    # A finished delivery older than the period goes even while its alert stays; one
    # the sender may still take stays whatever its age.
    assert left == [("edge", "pending"), ("long-running", "sent")]
    assert set(purge(engine, NOW, 30).values()) == {0}
