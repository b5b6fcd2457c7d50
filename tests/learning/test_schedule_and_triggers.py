"""Retrain triggers: the cron schedule, enough new confirmed outcomes, and models
promoted elsewhere reaching the running stage."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from learning_streams import World
from sqlalchemy import Engine

from ottwatch.learning import registry
from ottwatch.learning.runtime import LearningRuntime
from ottwatch.learning.schedule import CronError, CronSchedule
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from storage.operator import add_label


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_daily_at_two() -> None:
    daily = CronSchedule.parse("0 2 * * *")
    assert daily.next_after(at("2026-11-01T01:59:00+00:00")) == at("2026-11-01T02:00:00+00:00")
    assert daily.next_after(at("2026-11-01T02:00:00+00:00")) == at("2026-11-02T02:00:00+00:00")
    assert daily.next_after(at("2026-11-01T02:00:00+00:00"), "Europe/Berlin") == \
        at("2026-11-02T02:00:00+01:00")


@pytest.mark.parametrize(("text", "after", "expected"), [
    ("*/15 * * * *", "2026-11-01T10:07:30+00:00", "2026-11-01T10:15:00+00:00"),
    ("30 9 * * mon-fri", "2026-11-06T10:00:00+00:00", "2026-11-09T09:30:00+00:00"),
    ("0 0 1 jan *", "2026-11-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
    ("0 0 29 2 *", "2026-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
    ("0 12 1 * 0", "2026-11-02T00:00:00+00:00", "2026-11-08T12:00:00+00:00"),  # 1st or Sunday
    ("@hourly", "2026-11-01T10:00:00+00:00", "2026-11-01T11:00:00+00:00"),
    ("0 6,18 * * 7", "2026-11-01T07:00:00+00:00", "2026-11-01T18:00:00+00:00"),
    # crontab(5): with one day field starting with `*`, both must match (a Monday with
    # an odd date), not either (1 December 2026 is a Tuesday)
    ("0 2 */2 * 1", "2026-12-01T00:00:00+00:00", "2026-12-07T02:00:00+00:00"),
    ("0 2 * * mon", "2026-12-01T00:00:00+00:00", "2026-12-07T02:00:00+00:00"),
])
def test_cron_fields(text: str, after: str, expected: str) -> None:
    assert datetime.fromtimestamp(CronSchedule.parse(text).next_after(at(after)), UTC) == \
        datetime.fromisoformat(expected)


@pytest.mark.parametrize("text", ["0 2 * *", "61 * * * *", "* * * * mond", "*/0 * * * *",
                                  "5-1 * * * *", "0 0 31 2 *"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(CronError):
        CronSchedule.parse(text).next_after(0.0)


def test_settings_validate_the_schedule_and_zone() -> None:
    assert LearningSettings.from_scoring({}).retrain_cron == "0 2 * * *"
    with pytest.raises(ValueError, match="Wrong number of fields"):
        LearningSettings.from_scoring({"learning": {"retrain_cron": "daily"}})
    with pytest.raises(ValueError, match="unknown time zone"):
        LearningSettings(retrain_timezone="Mars/Olympus")


def test_triggers_labels_schedule_and_models_promoted_elsewhere(world_db: Engine,
                                                                world: World) -> None:
    now = [time.time()]  # labels are stamped with the wall clock
    settings = LearningSettings(retrain_new_labels=20)
    stage = LearningStage(settings)
    runtime = LearningRuntime(world_db, stage, clock=lambda: now[0])
    next_two = datetime.fromtimestamp(runtime.next_scheduled, UTC)
    assert (next_two.hour, next_two.minute) == (2, 0)
    assert 0 < runtime.next_scheduled - now[0] <= 86_400
    assert runtime.due(now[0]) is None

    for event_id in sorted(world.train.planted)[:19]:
        add_label(world_db, event_id, "violation", who="analyst")
    assert runtime.due(now[0]) is None  # 19 < 20
    add_label(world_db, sorted(world.train.planted)[19], "violation", who="analyst")
    assert runtime.due(now[0]) == "20 new confirmed outcomes (>= 20)"

    now[0] = time.time()
    result = runtime.tick()
    assert result["retrained"].startswith("20 new")
    assert [r["status"] for r in result["results"]] == ["promoted", "promoted"]
    assert stage.versions == {"ensemble": 1, "predictor": 1}
    assert stage.ensemble is not None and stage.predictor is not None
    assert runtime.due(now[0]) is None  # nothing new since

    # Another process (the CLI) promotes a version: the next tick hands it to the stage.
    version = registry.save(world_db, "predictor", stage.predictor, trained_at=now[0],
                            samples=1, metrics={})
    registry.activate(world_db, "predictor", version, now=now[0], actor="alice")
    assert runtime.tick()["retrained"] is None
    assert stage.versions["predictor"] == version

    now[0] = runtime.next_scheduled
    assert runtime.due(now[0]) == "schedule '0 2 * * *'"
    assert runtime.next_scheduled == now[0] + 86_400
