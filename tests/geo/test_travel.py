"""Impossible travel judged against the last trusted place (issue 14)."""

from __future__ import annotations

import orjson
import pytest

from ottwatch.events import Event
from ottwatch.geo.anonymizers import AnonymizerSet
from ottwatch.geo.lookup import GeoLookup
from ottwatch.geo.stage import IMPOSSIBLE_TRAVEL, GeoSettings, GeoStage
from ottwatch.pipeline import Batch, Pipeline

from .helpers import FRANKFURT, LONDON, LOS_ANGELES, SEOUL, event

HOUR = 60.0  # minutes


@pytest.fixture
def stage(geo_lookup: GeoLookup, anonymizers: AnonymizerSet) -> GeoStage:
    return GeoStage(geo_lookup, anonymizers)


def travel(stage: GeoStage, *events: Event) -> list[bool]:
    """Whether each event fired impossible travel (one event a batch, in order)."""
    fired = []
    for one in events:
        batch = Batch(events=[one], now=one.ts)
        stage.process(batch)
        fired.append(any(r.code == IMPOSSIBLE_TRAVEL for r in batch.reasons[0]))
    return fired


def failed_login(ip: str, minutes: float, **fields: object) -> Event:
    return event(ip, minutes=minutes, error_code="AUTH_FAILED", **fields)


def test_a_failed_login_from_far_away_fires_but_does_not_move_the_owner(stage):
    assert travel(stage,
                  event(LOS_ANGELES, minutes=0, event_type="play"),
                  failed_login(FRANKFURT, minutes=10),  # credential stuffing from Frankfurt
                  event(LOS_ANGELES, minutes=15, event_type="play"),  # the owner, at home
                  ) == [False, True, False]


def test_a_login_failed_event_type_is_judged_and_not_learned_either(stage):
    assert travel(stage, event(LOS_ANGELES, minutes=0),
                  event(FRANKFURT, minutes=10, event_type="login_failed"),
                  event(LOS_ANGELES, minutes=12)) == [False, True, False]


def test_a_failed_login_is_not_where_a_user_starts(stage):
    assert travel(stage, failed_login(FRANKFURT, minutes=0),
                  event(LOS_ANGELES, minutes=5)) == [False, False]


def test_after_a_jump_the_next_events_from_the_far_place_fire_too(stage):
    assert travel(stage,
                  event(LOS_ANGELES, minutes=0, event_type="play"),
                  event(FRANKFURT, minutes=30),
                  event(FRANKFURT, minutes=30.7, event_type="play"),  # the play 40 s later
                  event(FRANKFURT, minutes=45, event_type="password_change"),
                  ) == [False, True, True, True]


def test_an_intruders_hour_from_a_far_city_fires_throughout(stage):
    home = [event(LONDON, minutes=m, event_type="play") for m in (0, 60, 120)]
    visit = [event(LOS_ANGELES, minutes=130 + m, event_type=kind) for m, kind in
             ((0, "login"), (20, "password_change"), (25, "email_change"),
              (40, "payment_added"))]
    assert travel(stage, *home, *visit) == [False] * 3 + [True] * 4


def test_an_honest_traveller_never_fires(stage):
    flight = 11 * HOUR  # Seoul to Frankfurt, 8,600 km
    assert travel(stage,
                  event(SEOUL, minutes=0), event(SEOUL, minutes=30, event_type="play"),
                  event(FRANKFURT, minutes=30 + flight),
                  event(FRANKFURT, minutes=31 + flight, event_type="play"),
                  event(FRANKFURT, minutes=3 * 24 * HOUR),
                  event(SEOUL, minutes=3 * 24 * HOUR + flight),
                  ) == [False] * 6


def test_a_far_place_seen_again_and_again_over_half_a_day_becomes_trusted(stage):
    """A second home used while the first one is still in use: impossible at first, then
    both places are the user's (three successful sightings there over 12 hours)."""
    events = []
    for hour in range(0, 16, 2):  # Los Angeles and Frankfurt by turns, an hour apart
        events.append(event(LOS_ANGELES, minutes=hour * HOUR, event_type="play"))
        events.append(event(FRANKFURT, minutes=(hour + 1) * HOUR, event_type="play"))
    fired = travel(stage, *events)
    frankfurt = fired[1::2]
    # Frankfurt at hours 1, 3, ..., 11 fires; at 13 its third sighting is 12 h after the
    # first: trusted, and so is Los Angeles still
    assert frankfurt == [True] * 6 + [False] * 2
    assert fired[::2] == [False] * 8
    assert travel(stage, event(LOS_ANGELES, minutes=17 * HOUR),
                  event(FRANKFURT, minutes=17.5 * HOUR)) == [False, False]


def test_failed_logins_never_vouch_for_a_place(stage):
    events = [event(LOS_ANGELES, minutes=0)]
    events += [failed_login(FRANKFURT, minutes=h * HOUR + 1) for h in range(0, 24, 3)]
    events += [event(LOS_ANGELES, minutes=h * HOUR + 2) for h in range(0, 24, 3)]
    events.sort(key=lambda e: e.ts)
    fired = travel(stage, *events)
    assert [f for f, e in zip(fired, events, strict=True) if e.error_code] == [True] * 8


def test_vouching_is_a_setting(geo_lookup, anonymizers):
    settings = GeoSettings(travel_trust_after_sightings=2, travel_trust_after_s=0)
    stage = GeoStage(geo_lookup, anonymizers, settings)
    assert travel(stage, event(LOS_ANGELES, minutes=0), event(FRANKFURT, minutes=10),
                  event(FRANKFURT, minutes=11), event(FRANKFURT, minutes=12)
                  ) == [False, True, False, False]


def test_a_version_1_snapshot_still_loads(stage):
    spots = [[34.05, -118.24, 20.0, "Los Angeles, US"]]
    old = orjson.dumps({"version": 1, "spots": spots, "users": [["u1", 0, event(
        None, minutes=0).ts]]})
    stage.restore(old)
    assert travel(stage, event(FRANKFURT, minutes=30)) == [True]


def test_the_place_being_vouched_for_survives_a_restart(geo_lookup, anonymizers, stage):
    travel(stage, event(LOS_ANGELES, minutes=0), event(FRANKFURT, minutes=HOUR),
           event(LOS_ANGELES, minutes=4 * HOUR), event(FRANKFURT, minutes=5 * HOUR))
    after = GeoStage(geo_lookup, anonymizers)
    after.restore(stage.snapshot())
    # the third sighting, 12 h after the first: trusted only if the first two were kept
    assert travel(after, event(LOS_ANGELES, minutes=12 * HOUR),
                  event(FRANKFURT, minutes=13 * HOUR)) == [False, False]
    again = GeoStage(geo_lookup, anonymizers)
    again.restore(after.snapshot())
    assert travel(again, event(LOS_ANGELES, minutes=14 * HOUR),
                  event(FRANKFURT, minutes=14.5 * HOUR)) == [False, False]


def test_through_the_pipeline_the_owner_at_home_after_stuffing_scores_nothing(stage):
    stuffing = [failed_login(FRANKFURT, minutes=10 + k / 10, user=f"victim-{k}",
                             device_id=f"bot-{k}") for k in range(3)]
    homes = [event(LOS_ANGELES, minutes=0, user=f"victim-{k}", event_type="play")
             for k in range(3)]
    back = [event(LOS_ANGELES, minutes=20, user=f"victim-{k}", event_type="play")
            for k in range(3)]
    batch = Pipeline([stage]).run([*homes, *stuffing, *back], now=0.0)
    fired = [a.user_id for a in batch.assessments
             if IMPOSSIBLE_TRAVEL in {r.code for r in a.reasons}]
    assert fired == ["victim-0", "victim-1", "victim-2"]  # the failed logins only
    assert all(a.score == 0 for a in batch.assessments[6:])
