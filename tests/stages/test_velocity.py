from __future__ import annotations

import pytest
from pydantic import ValidationError

from ottwatch.events import Event
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch, Reason
from ottwatch.stages.lru import LruMap
from ottwatch.stages.velocity import (
    ACCESS_SPIKE,
    BULK_EXPORT,
    FAILURE_BURST,
    TAKEOVER,
    LogHistogram,
    SpikeScale,
    VelocitySettings,
    VelocityStage,
)

from .conftest import T0, EventFactory, codes

MB = 1_000_000
GB = 1_000_000_000
ATTACKER_IP = "203.0.113.9"
DAY = 86400.0


@pytest.fixture
def stage() -> VelocityStage:
    return VelocityStage()


def reasons_with(batch: Batch, code: str) -> list[tuple[int, Reason]]:
    return [(i, r) for i, reasons in enumerate(batch.reasons) for r in reasons if r.code == code]


# auth.failure_burst


def test_user_failure_burst_fires_from_the_fifth_failure(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0 + 10 * i, ip_address=f"198.51.100.{i}")
              for i in range(6)]
    batch = run_stage(stage, events)
    fired = [i for i, _ in reasons_with(batch, FAILURE_BURST)]
    assert fired == [4, 5]
    assert batch.reasons[4][0].detail == "5 failed logins in 300 s for this user"
    assert batch.reasons[4][0].weight == stage.settings.user_failure_weight


def test_login_with_auth_failed_counts_as_a_failure(stage, make_event, run_stage):
    events = [make_event("login", ts=T0 + i, error_code="AUTH_FAILED") for i in range(5)]
    assert FAILURE_BURST in codes(run_stage(stage, events))[4]


def test_failures_spread_wider_than_the_window_do_not_fire(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0 + 100 * i) for i in range(10)]
    assert reasons_with(run_stage(stage, events), FAILURE_BURST) == []


def test_a_few_typos_then_success_do_not_fire(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0), make_event("login_failed", ts=T0 + 5),
              make_event("login", ts=T0 + 9)]
    assert codes(run_stage(stage, events)) == [[], [], []]


def test_success_right_after_a_burst_fires_once(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0 + i) for i in range(6)]
    events += [make_event("login", ts=T0 + 20), make_event("login", ts=T0 + 30)]
    batch = run_stage(stage, events)
    assert FAILURE_BURST in codes(batch)[6]
    assert "login succeeded after 6 failed logins" in batch.reasons[6][-1].detail
    assert codes(batch)[7] == []


def test_credential_stuffing_across_users_from_one_ip(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0 + i, user_id=f"victim-{i}",
                         ip_address=ATTACKER_IP) for i in range(12)]
    batch = run_stage(stage, events)
    fired = [i for i, _ in reasons_with(batch, FAILURE_BURST)]
    assert fired == [9, 10, 11]  # from the 10th distinct user
    detail = batch.reasons[9][0].detail
    assert detail == f"10 failed logins in 300 s from {ATTACKER_IP} across 10 users"
    assert batch.reasons[9][0].weight == stage.settings.ip_failure_weight


def test_many_failures_from_one_ip_for_two_users(stage, make_event, run_stage):
    settings = VelocitySettings(user_failure_threshold=100)
    stage = VelocityStage(settings)
    events = [make_event("login_failed", ts=T0 + i, user_id=f"u{i % 2}", ip_address=ATTACKER_IP)
              for i in range(20)]
    batch = run_stage(stage, events)
    assert [i for i, _ in reasons_with(batch, FAILURE_BURST)] == [19]
    assert "20 failed logins in 300 s from 203.0.113.9 across 2 users" in batch.reasons[19][0].detail


def test_failures_from_many_ips_for_many_users_do_not_fire(stage, make_event, run_stage):
    events = [make_event("login_failed", ts=T0 + i, user_id=f"u{i}", ip_address=f"198.51.100.{i}")
              for i in range(50)]
    assert reasons_with(run_stage(stage, events), FAILURE_BURST) == []


# velocity.access_spike


def steady(make_event: EventFactory, user_id: str, start: float, minutes: float,
           per_minute: float, event_type: str = "play") -> list[Event]:
    step = 60.0 / per_minute
    return [make_event(event_type, ts=start + k * step, user_id=user_id, session_id="s1")
            for k in range(int(minutes * per_minute))]


def ordinary_days(make_event: EventFactory, user_id: str, end: float, days: int) -> list[Event]:
    """An evening session a day (a login, a title played with pauses and seeks, a stop):
    9 events over 80 minutes, ending a day or more before `end`."""
    events = []
    for day in range(days, 0, -1):
        start = end - day * DAY
        events += [make_event(kind, ts=start + k * 600, user_id=user_id, session_id=f"s{day}")
                   for k, kind in enumerate(("login", "play", "pause", "play", "seek", "pause",
                                             "play", "seek", "stop"))]
    return events


def test_a_binge_watching_day_never_spikes(stage, make_event, run_stage):
    """Twelve titles back to back, an event every 2.5 minutes: 288 events in a day."""
    events = ordinary_days(make_event, "u1", T0, days=14)
    events += steady(make_event, "u1", T0, minutes=12 * 60, per_minute=0.4)
    assert reasons_with(run_stage(stage, events), ACCESS_SPIKE) == []


def test_a_scraper_at_six_a_minute_for_an_hour_fires_from_ten_minutes_in(stage, make_event,
                                                                         run_stage):
    history = ordinary_days(make_event, "u1", T0, days=14)
    scrape = steady(make_event, "u1", T0, minutes=60, per_minute=6, event_type="search")
    batch = run_stage(stage, history + scrape)
    fired = [i - len(history) for i, _ in reasons_with(batch, ACCESS_SPIKE)]
    assert fired and min(fired) >= 30  # not in the first five minutes
    first_minute = scrape[min(fired)].ts - T0
    assert first_minute <= 600  # from ten minutes in at the latest
    after_ten = [i for i, e in enumerate(scrape) if e.ts - T0 >= 600]
    assert set(after_ten) <= set(fired)  # and until the end of the hour
    detail = dict(reasons_with(batch, ACCESS_SPIKE))[min(fired) + len(history)].detail
    assert "events in the last 10 min" in detail


def test_a_minute_burst_far_above_the_users_baseline_fires(stage, make_event, run_stage):
    history = steady(make_event, "u1", T0, minutes=30, per_minute=1)
    burst_start = T0 + 31 * 60
    burst = [make_event("data_access", ts=burst_start + k * 0.5) for k in range(80)]
    batch = run_stage(stage, history + burst)
    fired = reasons_with(batch, ACCESS_SPIKE)
    assert fired and all(i >= len(history) for i, _ in fired)
    first_index, first = fired[0]
    assert first_index - len(history) + 1 == stage.settings.spike_scales[0].min_count
    assert first.detail == "30 events in the last 60 s, 30.0x this user's usual 1.0 per 60 s"


def test_a_new_user_with_few_events_does_not_fire(stage, make_event, run_stage):
    events = [make_event("search", ts=T0 + k, user_id="newcomer") for k in range(20)]
    assert reasons_with(run_stage(stage, events), ACCESS_SPIKE) == []


def test_a_new_user_is_judged_by_the_populations_usual(stage, make_event, run_stage):
    """Everyone here makes 8 requests in a minute now and then: a newcomer's 40 in a
    minute is their usual times five, not a spike; 41 is."""
    population = [make_event("access", ts=T0 - DAY + n * 600 + burst * 3600 + k,
                             user_id=f"p{n}") for n in range(50) for burst in range(3)
                  for k in range(8)]
    bot = [make_event("search", ts=T0 + k, user_id="bot") for k in range(45)]
    batch = run_stage(stage, [*sorted(population, key=lambda e: e.ts), *bot])
    fired = [i - len(population) for i, _ in reasons_with(batch, ACCESS_SPIKE)]
    assert fired == list(range(40, 45))
    assert batch.reasons[len(population) + 40][0].detail == (
        "41 events in the last 60 s, 5.1x the population's usual 8.0 per 60 s "
        "(this user's: none yet)")


def test_a_lasting_higher_rate_is_learned(stage, make_event, run_stage):
    """A sync client: 35 requests within a minute every two hours, for four days (420 a
    day, under the day scale's floor: that scale learns in days, see spikes.py)."""
    events = [make_event("access", ts=T0 + hour * 3600 + k, user_id="sync")
              for hour in range(0, 96, 2) for k in range(35)]
    fired = {int((events[i].ts - T0) // 3600)
             for i, _ in reasons_with(run_stage(stage, events), ACCESS_SPIKE)}
    assert fired and max(fired) < 24  # the first day's bursts only


def test_the_single_window_settings_are_refused_with_what_replaced_them():
    with pytest.raises(ValidationError, match="spike_scales"):
        VelocitySettings(spike_window_s=60, spike_min_count=30)


def test_spike_scales_are_settings(make_event, run_stage):
    settings = VelocitySettings(spike_scales=[SpikeScale(window_s=300, min_count=10)])
    stage = VelocityStage(settings)
    events = steady(make_event, "u1", T0, minutes=5, per_minute=3)
    fired = reasons_with(run_stage(stage, events), ACCESS_SPIKE)
    assert fired and fired[0][0] == 9
    assert fired[0][1].detail.startswith("10 events in the last 5 min")


# data.bulk_export


def test_a_normal_200_mb_download_never_fires(stage, make_event, run_stage):
    events = [make_event("download", ts=T0 + k, bytes=200 * MB) for k in range(5)]
    events += [make_event("download", ts=T0 + 100, user_id="other", bytes=200 * MB)]
    assert reasons_with(run_stage(stage, events), BULK_EXPORT) == []


def test_an_export_far_above_the_users_history_fires(stage, make_event, run_stage):
    history = [make_event("download", ts=T0 + k, bytes=100 * MB) for k in range(3)]
    big = make_event("data_export", ts=T0 + 60, bytes=4 * GB)
    batch = run_stage(stage, [*history, big])
    (index, reason), = reasons_with(batch, BULK_EXPORT)
    assert index == 3
    assert reason.detail == "export of 4.0 GB: 40x this user's largest before (100.0 MB)"
    assert reason.weight == stage.settings.export_weight


def test_below_the_floor_never_fires_even_far_above_history(stage, make_event, run_stage):
    history = [make_event("download", ts=T0 + k, bytes=1 * MB) for k in range(3)]
    big = make_event("bulk_download", ts=T0 + 60, bytes=900 * MB)
    assert reasons_with(run_stage(stage, [*history, big]), BULK_EXPORT) == []


def test_an_export_far_above_the_population_fires_for_a_user_without_history(stage,
                                                                             make_event,
                                                                             run_stage):
    population = [make_event("download", ts=T0 + k, user_id=f"p{k}", bytes=(100 + k) * MB)
                  for k in range(400)]
    outlier = make_event("export", ts=T0 + 500, user_id="newcomer", bytes=3 * GB)
    batch = run_stage(stage, [*population, outlier])
    (index, reason), = reasons_with(batch, BULK_EXPORT)
    assert index == 400
    assert "the 99th percentile of all exports" in reason.detail


def test_an_export_over_the_absolute_limit_fires_with_no_history(stage, make_event, run_stage):
    batch = run_stage(stage, [make_event("data_export", bytes=60 * GB)])
    (_, reason), = reasons_with(batch, BULK_EXPORT)
    assert "absolute limit of 50.0 GB" in reason.detail


def test_an_ordinary_film_after_a_few_small_ones_does_not_fire(stage, make_event, run_stage):
    # everyone's downloads: 50 MB to 2 GB, as titles vary
    population = [make_event("download", ts=T0 + k, user_id=f"p{k}", bytes=(50 + 6 * k) * MB)
                  for k in range(300)]
    mine = [make_event("download", ts=T0 + 400 + k, bytes=size)
            for k, size in enumerate([100 * MB, 150 * MB, 80 * MB, 1500 * MB])]
    assert reasons_with(run_stage(stage, [*population, *mine]), BULK_EXPORT) == []


def test_a_first_large_export_fires_before_the_population_is_known(stage, make_event,
                                                                   run_stage):
    batch = run_stage(stage, [make_event("data_export", bytes=20 * GB)])
    (_, reason), = reasons_with(batch, BULK_EXPORT)
    assert reason.detail == "export of 20.0 GB: over 10.0 GB while fewer than 200 exports are known"


def test_a_user_who_always_exports_big_files_does_not_fire(stage, make_event, run_stage):
    events = [make_event("export", ts=T0 + k, bytes=(3 + k % 2) * GB) for k in range(10)]
    assert reasons_with(run_stage(stage, events), BULK_EXPORT) == []


# account.takeover_pattern


def test_new_device_then_password_change_fires(stage, make_event, run_stage):
    events = [
        make_event("login", ts=T0 - 2 * DAY, device_id="phone-1"),
        make_event("play", ts=T0 + 3600, device_id="phone-1"),
        make_event("login", ts=T0 + 7200, device_id="laptop-evil"),
        make_event("password_change", ts=T0 + 7200 + 600, device_id="laptop-evil"),
    ]
    batch = run_stage(stage, events)
    assert codes(batch)[3] == [TAKEOVER]
    assert batch.reasons[3][0].detail == "password_change 10 min after new device laptop-evil"
    assert batch.reasons[3][0].weight == stage.settings.takeover_weight


def test_change_from_a_known_device_does_not_fire(stage, make_event, run_stage):
    events = [make_event("login", ts=T0, device_id="phone-1", region="DE"),
              make_event("email_change", ts=T0 + 60, device_id="phone-1", region="DE")]
    assert reasons_with(run_stage(stage, events), TAKEOVER) == []


def test_change_long_after_the_new_device_does_not_fire(stage, make_event, run_stage):
    events = [make_event("login", ts=T0, device_id="phone-1"),
              make_event("login", ts=T0 + 60, device_id="tablet-2"),
              make_event("payment_added", ts=T0 + 60 + 7200, device_id="tablet-2")]
    assert reasons_with(run_stage(stage, events), TAKEOVER) == []


def test_a_brand_new_user_changing_settings_does_not_fire(stage, make_event, run_stage):
    events = [make_event("signup", ts=T0, device_id="phone-1", region="US-CA"),
              make_event("payment_added", ts=T0 + 30, device_id="phone-1", region="US-CA")]
    assert reasons_with(run_stage(stage, events), TAKEOVER) == []


def test_a_new_accounts_first_day_never_fires(stage, make_event, run_stage):
    """Everything is new on a fresh account: signed up on the laptop, card added on the
    phone minutes later, the TV that evening and a new e-mail address from it."""
    events = [make_event("signup", ts=T0, device_id="laptop", region="DE"),
              make_event("trial_start", ts=T0 + 60, device_id="laptop", region="DE"),
              make_event("payment_added", ts=T0 + 240, device_id="phone", region="DE"),
              make_event("login", ts=T0 + 6 * 3600, device_id="tv", region="DE"),
              make_event("email_change", ts=T0 + 6 * 3600 + 60, device_id="tv", region="DE")]
    geo = [GeoHit("DE"), GeoHit("DE"), GeoHit("FR"), GeoHit("DE"), GeoHit("DE")]
    assert reasons_with(run_stage(stage, events, geo=geo), TAKEOVER) == []


def test_the_account_age_that_counts_as_established_is_a_setting(make_event, run_stage):
    stage = VelocityStage(VelocitySettings(takeover_min_account_age_s=600))
    events = [make_event("signup", ts=T0, device_id="laptop"),
              make_event("login", ts=T0 + 900, device_id="phone"),
              make_event("password_change", ts=T0 + 960, device_id="phone")]
    assert codes(run_stage(stage, events))[2] == [TAKEOVER]


def test_failed_logins_from_a_new_device_are_no_novelty(stage, make_event, run_stage):
    """Credential stuffing against an established account: the attacker's failed
    attempts teach nothing, so the owner's own password change minutes later is fine."""
    events = [make_event("login", ts=T0 - 2 * DAY, device_id="phone-1", region="DE"),
              make_event("login", ts=T0, device_id="bot-7", region="DE", error_code="AUTH_FAILED",
                         ip_address=ATTACKER_IP),
              make_event("password_change", ts=T0 + 600, device_id="phone-1", region="DE")]
    geo = [GeoHit("DE"), GeoHit("RU"), GeoHit("DE")]
    batch = run_stage(stage, events, geo=geo)
    assert reasons_with(batch, TAKEOVER) == []
    assert "bot-7" not in stage.users.get("u1").devices


def test_a_login_from_a_stuffing_address_is_news_even_on_an_unknown_account(stage, make_event,
                                                                          run_stage):
    """The victim was never seen before the attack: no device is new to an account with no
    history, but the address that just failed logins across ten accounts is."""
    stuffing = [make_event("login", ts=T0 + 6 * k, user_id=f"victim-{k}",
                           error_code="AUTH_FAILED", ip_address=ATTACKER_IP,
                           device_id=f"bot-{k}") for k in range(200)]  # a 20-minute run
    # victim-3 falls early in the run, before the address is seen bursting
    taken = [make_event("login", ts=T0 + 20, user_id="victim-3", ip_address=ATTACKER_IP,
                        device_id="bot-x"),
             make_event("password_change", ts=T0 + 20 + 1200, user_id="victim-3",
                         ip_address=ATTACKER_IP, device_id="bot-x")]
    batch = run_stage(stage, sorted([*stuffing, *taken], key=lambda e: e.ts))
    (index, reason), = reasons_with(batch, TAKEOVER)
    assert batch.events[index].event_type == "password_change"
    assert reason.detail == (f"password_change 20 min after a login from {ATTACKER_IP}, "
                             "which failed logins for 51 accounts around then")


def test_a_login_from_an_address_with_a_few_typos_is_no_news(stage, make_event, run_stage):
    events = [make_event("login", ts=T0 + k, user_id=f"member-{k % 3}", error_code="AUTH_FAILED",
                         ip_address="198.51.100.7") for k in range(4)]
    events += [make_event("login", ts=T0 + 30, user_id="member-1", ip_address="198.51.100.7"),
               make_event("email_change", ts=T0 + 90, user_id="member-1",
                          ip_address="198.51.100.7")]
    assert reasons_with(run_stage(stage, events), TAKEOVER) == []


def test_new_ip_country_from_geo_then_email_change_fires(stage, make_event, run_stage):
    events = [make_event("login", ts=T0 - 2 * DAY, device_id="tv-1", region="US"),
              make_event("login", ts=T0 + 60, device_id="tv-1", region="US"),
              make_event("email_change", ts=T0 + 120, device_id="tv-1", region="US")]
    geo = [GeoHit("US"), GeoHit("BR", city="São Paulo"), GeoHit("BR")]
    batch = run_stage(stage, events, geo=geo)
    assert codes(batch)[2] == [TAKEOVER]
    assert batch.reasons[2][0].detail == "email_change 60 s after new country BR"


def test_claimed_region_is_the_fallback_without_geo(stage, make_event, run_stage):
    events = [make_event("login", ts=T0 - 2 * DAY, region="US-NY"),
              make_event("login", ts=T0 + 60, region="US-CA"),  # same country
              make_event("login", ts=T0 + 120, region="RO"),
              make_event("payment_added", ts=T0 + 180, region="RO")]
    batch = run_stage(stage, events, geo=[None] * 4)
    assert codes(batch)[3] == [TAKEOVER]
    assert "after new country RO" in batch.reasons[3][0].detail


def test_eu_claim_is_not_a_country(stage, make_event, run_stage):
    events = [make_event("login", ts=T0, region="DE"), make_event("login", ts=T0 + 1, region="EU"),
              make_event("password_change", ts=T0 + 2, region="EU")]
    assert reasons_with(run_stage(stage, events), TAKEOVER) == []


# bounded state


def test_user_and_ip_maps_stay_bounded(make_event, run_stage):
    stage = VelocityStage(VelocitySettings(max_users=100, max_ips=50, max_window_events=8))
    events = [make_event("login_failed", ts=T0 + k, user_id=f"u{k}", ip_address=f"10.0.{k // 250}.{k % 250}",
                         device_id=f"d{k}") for k in range(1000)]
    events += [make_event("login_failed", ts=T0 + 2000 + k, user_id="u-last") for k in range(30)]
    run_stage(stage, events)
    assert len(stage.users) == 100
    assert len(stage.ips) == 50
    assert "u-last" in stage.users and "u0" not in stage.users
    failures = stage.users.get("u-last").failures
    assert failures is not None and len(failures) == 8


def test_known_devices_and_countries_per_user_are_capped(make_event, run_stage):
    stage = VelocityStage(VelocitySettings(max_known_devices=4, max_known_countries=3))
    countries = ["DE", "FR", "IT", "ES", "PT", "NL"]
    events = [make_event("play", ts=T0 + k, device_id=f"d{k}", region=countries[k % 6])
              for k in range(20)]
    run_stage(stage, events)
    user = stage.users.get("u1")
    assert user.devices == ("d16", "d17", "d18", "d19")
    assert len(user.countries) == 3


def test_lru_map_evicts_the_least_recently_used():
    lru: LruMap[str, int] = LruMap(2)
    lru.get_or_create("a", lambda: 1)
    lru.get_or_create("b", lambda: 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.get_or_create("c", lambda: 3)
    assert "b" not in lru and "a" in lru and "c" in lru
    assert len(lru) == 2
    with pytest.raises(ValueError):
        LruMap(0)


def test_log_histogram_quantile_is_within_one_bucket():
    sketch = LogHistogram(refresh_every=1)
    for size in range(1, 1001):
        sketch.add(size * MB)
    q99 = sketch.quantile(0.99)
    assert 990 * MB <= q99 <= 990 * MB * 2 ** (1 / 8)
    assert sketch.total == 1000
