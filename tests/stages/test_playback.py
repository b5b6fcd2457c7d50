from __future__ import annotations

import pytest
from pydantic import ValidationError

from ottwatch.events import Event
from ottwatch.geo.model import GeoHit
from ottwatch.stages.playback import (
    CODE,
    PlaybackSettings,
    PlaybackStage,
    haversine_km,
)

from .conftest import T0, EventFactory, codes

HOUR = 3600.0
BERLIN = GeoHit("DE", city="Berlin", lat=52.52, lon=13.40, accuracy_km=5)
POTSDAM = GeoHit("DE", city="Potsdam", lat=52.39, lon=13.06, accuracy_km=5)
MADRID = GeoHit("ES", city="Madrid", lat=40.42, lon=-3.70, accuracy_km=5)


@pytest.fixture
def stage() -> PlaybackStage:
    return PlaybackStage()


def play(make_event: EventFactory, device: str, session: str, *, ts: float = T0,
         plan: str = "standard", user_id: str = "u1") -> Event:
    return make_event("play", ts=ts, user_id=user_id, device_id=device, session_id=session,
                      subscription_plan=plan)


def test_household_of_two_devices_within_the_plan_does_not_fire(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1"), play(make_event, "phone", "s2", ts=T0 + 60),
              make_event("pause", ts=T0 + 600, session_id="s1"),
              make_event("seek", ts=T0 + 700, session_id="s2"),
              play(make_event, "tv", "s1", ts=T0 + 800)]
    batch = run_stage(stage, events, geo=[BERLIN, BERLIN, None, None, BERLIN])
    assert codes(batch) == [[]] * 5
    assert stage.open_sessions("u1") == 2


def test_a_third_stream_on_a_standard_plan_fires(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1"), play(make_event, "phone", "s2", ts=T0 + 1),
              play(make_event, "laptop", "s3", ts=T0 + 2)]
    batch = run_stage(stage, events)
    assert codes(batch) == [[], [], [CODE]]
    (reason,) = batch.reasons[2]
    assert reason.detail == "3 streams open on a standard plan (limit 2): tv, phone, laptop"
    assert reason.weight == stage.settings.over_limit_weight


@pytest.mark.parametrize(("plan", "allowed"), [("free", 1), ("basic", 1), ("standard", 2),
                                               ("premium", 4)])
def test_plan_limits(stage, make_event, run_stage, plan, allowed):
    events = [play(make_event, f"d{k}", f"s{k}", ts=T0 + k, plan=plan) for k in range(allowed + 1)]
    fired = [i for i, c in enumerate(codes(run_stage(stage, events))) if c]
    assert fired == [allowed]


def test_unknown_plan_is_treated_as_standard(stage, make_event, run_stage):
    events = [play(make_event, f"d{k}", f"s{k}", ts=T0 + k, plan="family-xl") for k in range(3)]
    batch = run_stage(stage, events)
    assert codes(batch) == [[], [], [CODE]]
    assert "plan 'family-xl' (treated as standard) (limit 2)" in batch.reasons[2][0].detail


def test_plan_is_remembered_from_earlier_plays(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1", plan="free"),
              make_event("play", ts=T0 + 5, device_id="phone", session_id="s2")]
    assert codes(run_stage(stage, events)) == [[], [CODE]]


def test_sessions_closed_by_stop_free_their_slot(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1"), play(make_event, "phone", "s2", ts=T0 + 1),
              make_event("stop", ts=T0 + 60, session_id="s1"),
              play(make_event, "laptop", "s3", ts=T0 + 120)]
    assert codes(run_stage(stage, events)) == [[]] * 4
    assert stage.open_sessions("u1") == 2


def test_stopping_the_last_session_forgets_the_account(stage, make_event, run_stage):
    run_stage(stage, [play(make_event, "tv", "s1"), make_event("stop", ts=T0 + 1, session_id="s1")])
    assert "u1" not in stage.accounts


def test_idle_sessions_expire_after_the_timeout(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1", plan="basic"),
              play(make_event, "phone", "s2", ts=T0 + 4 * HOUR + 1, plan="basic")]
    assert codes(run_stage(stage, events)) == [[], []]
    assert stage.open_sessions("u1") == 1


def test_pause_and_seek_keep_a_session_alive(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1", plan="basic"),
              make_event("pause", ts=T0 + 3 * HOUR, session_id="s1"),
              make_event("seek", ts=T0 + 6 * HOUR, session_id="s1"),
              play(make_event, "phone", "s2", ts=T0 + 9 * HOUR, plan="basic")]
    assert codes(run_stage(stage, events))[3] == [CODE]


def test_a_new_session_from_the_same_device_replaces_its_old_one(stage, make_event, run_stage):
    # The client switched titles without sending `stop` for the first one.
    events = [play(make_event, "tv", "s1", plan="free"),
              play(make_event, "tv", "s2", ts=T0 + 30, plan="free")]
    assert codes(run_stage(stage, events)) == [[], []]
    assert stage.open_sessions("u1") == 1


def test_without_device_replacement_the_old_session_still_counts(make_event, run_stage):
    stage = PlaybackStage(PlaybackSettings(one_session_per_device=False))
    events = [play(make_event, "tv", "s1", plan="free"),
              play(make_event, "tv", "s2", ts=T0 + 30, plan="free")]
    assert codes(run_stage(stage, events)) == [[], [CODE]]


def test_streams_far_apart_fire_even_within_the_limit(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1", plan="premium"),
              play(make_event, "phone", "s2", ts=T0 + 60, plan="premium")]
    batch = run_stage(stage, events, geo=[BERLIN, MADRID])
    assert codes(batch) == [[], [CODE]]
    (reason,) = batch.reasons[1]
    assert reason.detail == "streams open 1,868 km apart at once (Madrid, ES and Berlin, DE)"
    assert reason.weight == stage.settings.far_apart_weight


def test_streams_near_each_other_do_not_fire(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1"), play(make_event, "phone", "s2", ts=T0 + 60)]
    assert codes(run_stage(stage, events, geo=[BERLIN, POTSDAM])) == [[], []]


def test_location_uncertainty_is_given_the_benefit_of_the_doubt(stage, make_event, run_stage):
    vague_berlin = GeoHit("DE", lat=52.52, lon=13.40, accuracy_km=1500)
    events = [play(make_event, "tv", "s1"), play(make_event, "phone", "s2", ts=T0 + 60)]
    assert codes(run_stage(stage, events, geo=[vague_berlin, MADRID])) == [[], []]


def test_far_apart_and_over_the_limit_make_one_reason(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1", plan="free"),
              play(make_event, "phone", "s2", ts=T0 + 60, plan="free")]
    batch = run_stage(stage, events, geo=[BERLIN, MADRID])
    (reason,) = batch.reasons[1]
    assert reason.weight == max(stage.settings.over_limit_weight, stage.settings.far_apart_weight)
    assert "limit 1" in reason.detail and "km apart" in reason.detail


def test_a_stopped_far_away_session_no_longer_counts(stage, make_event, run_stage):
    events = [play(make_event, "tv", "s1"), make_event("stop", ts=T0 + 30, session_id="s1"),
              play(make_event, "phone", "s2", ts=T0 + 60)]
    assert codes(run_stage(stage, events, geo=[BERLIN, None, MADRID])) == [[], [], []]


def test_other_accounts_do_not_count(stage, make_event, run_stage):
    events = [play(make_event, f"d{k}", f"s{k}", ts=T0 + k, plan="free", user_id=f"u{k}")
              for k in range(10)]
    assert codes(run_stage(stage, events)) == [[]] * 10


def test_events_without_a_session_are_ignored(stage, make_event, run_stage):
    events = [make_event("play", device_id="tv"), make_event("play", device_id="phone"),
              make_event("login")]
    assert codes(run_stage(stage, events)) == [[], [], []]
    assert len(stage.accounts) == 0


def test_accounts_and_sessions_stay_bounded(make_event, run_stage):
    settings = PlaybackSettings(max_accounts=50, max_sessions_per_account=3,
                                plan_limits={"standard": 100})
    stage = PlaybackStage(settings)
    events = [play(make_event, "tv", "s", ts=T0 + k, user_id=f"u{k}") for k in range(500)]
    events += [play(make_event, f"d{k}", f"s{k}", ts=T0 + 600 + k, user_id="many")
               for k in range(20)]
    run_stage(stage, events)
    assert len(stage.accounts) == 50
    assert "many" in stage.accounts and "u0" not in stage.accounts
    assert stage.open_sessions("many") == 3


def test_settings_need_a_known_fallback_plan():
    with pytest.raises(ValidationError, match="unknown_plan"):
        PlaybackSettings(unknown_plan="gold")
    with pytest.raises(ValidationError, match="at least 1"):
        PlaybackSettings(plan_limits={"standard": 0})


def test_haversine_distance():
    assert haversine_km(52.52, 13.40, 40.42, -3.70) == pytest.approx(1869, abs=3)
    assert haversine_km(0, 0, 0, 0) == 0
