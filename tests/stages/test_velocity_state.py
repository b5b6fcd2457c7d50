"""The velocity stage across a restart: who is established, and the access baselines."""

from __future__ import annotations

import orjson

from ottwatch.pipeline import Pipeline, StatefulStage
from ottwatch.stages.spikes import SpikeScale
from ottwatch.stages.velocity import TAKEOVER, VelocitySettings, VelocityStage

from .conftest import T0, codes

DAY = 86400.0


def restarted(stage: VelocityStage, settings: VelocitySettings | None = None) -> VelocityStage:
    """A new stage restored from what the pipeline would store for this one."""
    [row] = Pipeline([stage]).save_state(T0).upserts["stage_state"]
    assert row["name"] == "velocity"
    after = VelocityStage(settings)
    after.restore(row["state"])
    return after


def takeover_day(make_event, run_stage, stage: VelocityStage) -> list[str]:
    events = [make_event("login", ts=T0, device_id="laptop-evil"),
              make_event("password_change", ts=T0 + 600, device_id="laptop-evil")]
    return codes(run_stage(stage, events))[1]


def test_it_is_a_stateful_stage():
    assert isinstance(VelocityStage(), StatefulStage)


def test_an_established_account_stays_established_after_a_restart(make_event, run_stage):
    stage = VelocityStage()
    run_stage(stage, [make_event("login", ts=T0 - 3 * DAY, device_id="phone-1", region="DE")])
    assert takeover_day(make_event, run_stage, restarted(stage)) == [TAKEOVER]
    assert takeover_day(make_event, run_stage, VelocityStage()) == []  # without the state


def test_access_baselines_survive_a_restart(make_event, run_stage):
    stage = VelocityStage()
    busy = [make_event("access", ts=T0 - DAY + hour * 3600 + k, user_id="sync")
            for hour in range(0, 20) for k in range(20)]
    run_stage(stage, busy)
    after = restarted(stage)
    before_windows = stage.users.get("sync").windows
    assert [(w.baseline, w.seen) for w in after.users.get("sync").windows] == \
        [(w.baseline, w.seen) for w in before_windows]


def test_baselines_of_other_scales_are_not_loaded(make_event, run_stage):
    stage = VelocityStage()
    run_stage(stage, [make_event("play", ts=T0 - DAY + k * 60) for k in range(10)])
    settings = VelocitySettings(spike_scales=[SpikeScale(window_s=300, min_count=10)])
    after = restarted(stage, settings)
    user = after.users.get("u1")
    assert user.first_seen == T0 - DAY and [w.seen for w in user.windows] == [0]


def test_a_snapshot_of_an_unknown_version_is_ignored():
    stage = VelocityStage()
    stage.restore(orjson.dumps({"version": 99, "users": [["u1"]]}))
    assert len(stage.users) == 0


def test_a_snapshot_is_asked_for_at_most_every_snapshot_every_s(make_event):
    stage = VelocityStage(VelocitySettings(snapshot_every_s=60))
    pipeline = Pipeline([stage], persist_every_s=0)
    assert "stage_state" in pipeline.run([make_event("play", ts=T0)], now=T0).upserts
    assert "stage_state" not in pipeline.run([make_event("play", ts=T0 + 30)],
                                             now=T0 + 30).upserts
    assert "stage_state" in pipeline.run([make_event("play", ts=T0 + 61)], now=T0 + 61).upserts
    assert "stage_state" not in pipeline.run([], now=T0 + 200).upserts  # nothing seen
