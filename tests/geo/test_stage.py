from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from ottwatch.config import GeoConfig
from ottwatch.events import Event
from ottwatch.geo.anonymizers import AnonymizerSet
from ottwatch.geo.lookup import GeoLookup
from ottwatch.geo.model import GeoHit
from ottwatch.geo.stage import (
    ANONYMIZER,
    IMPOSSIBLE_TRAVEL,
    MISMATCH,
    GeoSettings,
    GeoStage,
)
from ottwatch.pipeline import Batch, Pipeline, Reason, StatefulStage

from .helpers import (
    AMSTERDAM,
    DB_VPN,
    FRANKFURT,
    FRANKFURT_HOSTING,
    LISTED_TOR,
    LISTED_VPN_V6_CIDR,
    LONDON,
    LOS_ANGELES,
    NEW_YORK,
    PARIS,
    SEOUL,
    UNKNOWN_PUBLIC,
    event,
)


@pytest.fixture
def stage(geo_lookup: GeoLookup, anonymizers: AnonymizerSet) -> GeoStage:
    return GeoStage(geo_lookup, anonymizers)


def run(stage: GeoStage, *events: Event, now: float | None = None) -> Batch:
    batch = Batch(events=list(events), now=now if now is not None else events[-1].ts)
    stage.process(batch)
    return batch


def codes(batch: Batch) -> list[list[str]]:
    return [[reason.code for reason in reasons] for reasons in batch.reasons]


def only(batch: Batch, code: str) -> Reason:
    found = [r for reasons in batch.reasons for r in reasons if r.code == code]
    assert len(found) == 1, batch.reasons
    return found[0]


def test_is_a_stateful_stage_named_geo(stage: GeoStage) -> None:
    assert stage.name == "geo"
    assert isinstance(stage, StatefulStage)


def test_mismatch_fires_for_a_de_claim_from_a_us_ip(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES, "DE"))
    reason = only(batch, MISMATCH)
    assert reason.weight == 25.0
    assert reason.detail == "claimed region DE, IP located in Los Angeles, US"


@pytest.mark.parametrize(("ip", "region"), [
    (PARIS, "EU"),  # an EU claim is satisfied by any EU/EEA country
    (AMSTERDAM, "EU"),
    (LONDON, "UK"),  # UK is GB
    (LONDON, "GB"),
    (LOS_ANGELES, "US-CA"),
    (LOS_ANGELES, "US-NY"),  # the subdivision is not compared, only the country
])
def test_matching_claims_do_not_fire(stage: GeoStage, ip: str, region: str) -> None:
    assert codes(run(stage, event(ip, region))) == [[]]


def test_eu_claim_from_outside_the_eu_fires(stage: GeoStage) -> None:
    assert codes(run(stage, event(NEW_YORK, "EU"))) == [[MISMATCH]]
    assert codes(run(stage, event(LONDON, "EU", user="u2"))) == [[MISMATCH]]  # GB left


@pytest.mark.parametrize(("ip", "region"), [
    (UNKNOWN_PUBLIC, "DE"),  # IP country unknown
    (LOS_ANGELES, None),  # no claim
    ("10.0.0.7", "DE"),  # private: no location
    (None, "DE"),  # no IP at all
])
def test_no_mismatch_when_either_side_is_unknown(stage: GeoStage, ip: str | None,
                                                 region: str | None) -> None:
    assert codes(run(stage, event(ip, region))) == [[]]


def test_geo_column_is_parallel_to_the_events(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES), event(None), event("192.168.0.4"),
                event(UNKNOWN_PUBLIC), event(LISTED_TOR))
    column = batch.columns["geo"]
    assert len(column) == 5
    assert isinstance(column[0], GeoHit) and column[0].city == "Los Angeles"
    assert column[1:4] == [None, None, None]
    assert column[4] == GeoHit(country=None, anonymizer="tor", anonymizer_source="anonymizers.txt")


def test_private_ip_gives_no_location_and_no_flag(tmp_path: Path,
                                                  geo_lookup: GeoLookup) -> None:
    listed = tmp_path / "tor.txt"
    listed.write_text("10.0.0.0/8\n")
    stage = GeoStage(geo_lookup, AnonymizerSet([listed]))
    batch = run(stage, event("10.0.0.7", "DE"))
    assert batch.columns["geo"] == [None]
    assert codes(batch) == [[]]


def test_anonymizer_list_hits_v4_and_v6(stage: GeoStage) -> None:
    batch = run(stage, event(LISTED_TOR), event(LISTED_VPN_V6_CIDR, user="u2"))
    assert codes(batch) == [[ANONYMIZER], [ANONYMIZER]]
    tor, vpn = batch.reasons[0][0], batch.reasons[1][0]
    assert tor.weight == 35.0
    assert tor.detail == "Tor exit node per anonymizers.txt"
    assert vpn.detail == "VPN exit per anonymizers.txt"


def test_anonymous_ip_database_flags(stage: GeoStage) -> None:
    batch = run(stage, event(DB_VPN), event(FRANKFURT_HOSTING, "DE", user="u2"))
    assert codes(batch) == [[ANONYMIZER], [ANONYMIZER]]
    assert batch.reasons[0][0].detail == "VPN exit per GeoIP2-Anonymous-IP.mmdb"
    assert batch.reasons[1][0].detail == "hosting provider per GeoIP2-Anonymous-IP.mmdb"
    hosting = batch.columns["geo"][1]
    assert hosting.city == "Frankfurt" and hosting.anonymizer == "hosting"


def test_list_and_database_together_name_both(tmp_path: Path, geo_lookup: GeoLookup) -> None:
    listed = tmp_path / "tor.txt"
    listed.write_text(f"{FRANKFURT_HOSTING}\n")
    batch = run(GeoStage(geo_lookup, AnonymizerSet([listed])), event(FRANKFURT_HOSTING))
    hit = batch.columns["geo"][0]
    assert hit.anonymizer == "tor"  # the more telling kind
    assert hit.anonymizer_source == "tor.txt, GeoIP2-Anonymous-IP.mmdb"


def test_anonymizer_weight_per_kind(geo_lookup: GeoLookup, anonymizers: AnonymizerSet) -> None:
    settings = GeoSettings(anonymizer_kind_weights={"hosting": 10.0})
    stage = GeoStage(geo_lookup, anonymizers, settings)
    batch = run(stage, event(FRANKFURT_HOSTING), event(LISTED_TOR, user="u2"))
    assert [r[0].weight for r in batch.reasons] == [10.0, 35.0]


def test_stage_picks_up_a_changed_list_by_batch_time(geo_lookup: GeoLookup,
                                                     anonymizer_file: Path) -> None:
    stage = GeoStage(geo_lookup, AnonymizerSet([anonymizer_file], check_every_s=5.0))
    first = event("192.0.2.99", minutes=0)
    assert codes(run(stage, first)) == [[]]
    anonymizer_file.write_text("vpn 192.0.2.99\n")
    stat = anonymizer_file.stat()
    os.utime(anonymizer_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))
    assert codes(run(stage, event("192.0.2.99", minutes=0), now=first.ts + 1)) == [[]]
    later = run(stage, event("192.0.2.99", minutes=1), now=first.ts + 60)
    assert codes(later) == [[ANONYMIZER]]
    assert later.reasons[0][0].detail == "VPN exit per anonymizers.txt"


def test_impossible_travel_los_angeles_to_frankfurt_in_30_minutes(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES, minutes=0), event(FRANKFURT, minutes=30))
    assert codes(batch) == [[], [IMPOSSIBLE_TRAVEL]]
    reason = batch.reasons[1][0]
    assert reason.weight == 60.0
    assert reason.detail.startswith("Los Angeles, US -> Frankfurt, DE: 9,3")
    assert "in 30 min" in reason.detail and "limit 1,000 km/h" in reason.detail


def test_travel_is_checked_across_batches(stage: GeoStage) -> None:
    assert codes(run(stage, event(LOS_ANGELES, minutes=0))) == [[]]
    assert codes(run(stage, event(FRANKFURT, minutes=30))) == [[IMPOSSIBLE_TRAVEL]]


def test_an_eleven_hour_flight_seoul_to_frankfurt_does_not_fire(stage: GeoStage) -> None:
    batch = run(stage, event(SEOUL, minutes=0), event(FRANKFURT, minutes=11 * 60))
    assert codes(batch) == [[], []]


def test_short_hops_below_min_travel_do_not_fire(stage: GeoStage) -> None:
    batch = run(stage, event(LONDON, minutes=0), event(PARIS, minutes=5))
    assert codes(batch) == [[], []]  # 344 km in 5 minutes, but under min_travel_km


def test_min_travel_and_speed_come_from_settings(geo_lookup: GeoLookup) -> None:
    settings = GeoSettings.from_geo_config(GeoConfig(min_travel_km=100, max_speed_kmh=900))
    assert (settings.min_travel_km, settings.max_speed_kmh) == (100, 900)
    stage = GeoStage(geo_lookup, AnonymizerSet(), settings)
    batch = run(stage, event(LONDON, minutes=0), event(PARIS, minutes=5))
    assert codes(batch) == [[], [IMPOSSIBLE_TRAVEL]]


def test_two_places_at_the_same_time(stage: GeoStage) -> None:
    batch = run(stage, event(NEW_YORK, minutes=0), event(SEOUL, minutes=0))
    assert "at the same time" in only(batch, IMPOSSIBLE_TRAVEL).detail


def test_travel_is_per_user(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES, user="a", minutes=0),
                event(FRANKFURT, user="b", minutes=1), event(LOS_ANGELES, user="a", minutes=2),
                event(FRANKFURT, user="b", minutes=3))
    assert codes(batch) == [[], [], [], []]


def test_anonymizer_exits_take_no_part_in_travel(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES, minutes=0), event(FRANKFURT_HOSTING, minutes=10),
                event(LOS_ANGELES, minutes=20))
    assert codes(batch) == [[], [ANONYMIZER], []]


def test_out_of_order_event_is_checked_but_not_remembered(stage: GeoStage) -> None:
    batch = run(stage, event(LOS_ANGELES, minutes=60), event(FRANKFURT, minutes=50),
                event(LOS_ANGELES, minutes=70))
    assert codes(batch) == [[], [IMPOSSIBLE_TRAVEL], []]


def test_remembered_users_are_lru_bounded(geo_lookup: GeoLookup) -> None:
    stage = GeoStage(geo_lookup, AnonymizerSet(), GeoSettings(max_users=2))
    run(stage, event(LOS_ANGELES, user="a"), event(LOS_ANGELES, user="b", minutes=1),
        event(LOS_ANGELES, user="a", minutes=2), event(LOS_ANGELES, user="c", minutes=3))
    assert list(stage.travel.users) == ["a", "c"]  # b was the least recently seen
    batch = run(stage, event(FRANKFURT, user="b", minutes=4))
    assert codes(batch) == [[]]  # b was forgotten: nothing to compare with


def test_state_survives_a_restart(geo_lookup: GeoLookup, anonymizers: AnonymizerSet) -> None:
    before = GeoStage(geo_lookup, anonymizers)
    run(before, event(LOS_ANGELES, minutes=0))
    assert before.dirty
    after = GeoStage(geo_lookup, anonymizers)
    after.restore(before.snapshot())
    assert codes(run(after, event(FRANKFURT, minutes=30))) == [[IMPOSSIBLE_TRAVEL]]


def test_restore_rejects_an_unknown_snapshot_version(stage: GeoStage) -> None:
    with pytest.raises(ValueError, match="version"):
        stage.restore(b'{"version": 99, "users": []}')


def test_snapshot_is_asked_for_at_most_every_snapshot_every_s(
        geo_lookup: GeoLookup, anonymizers: AnonymizerSet) -> None:
    stage = GeoStage(geo_lookup, anonymizers, GeoSettings(snapshot_every_s=60))
    pipeline = Pipeline([stage], persist_every_s=0)
    first = pipeline.run([event(LOS_ANGELES, minutes=0)], now=0.0)
    assert [row["name"] for row in first.upserts["stage_state"]] == ["geo"]
    assert "stage_state" not in pipeline.run([event(LOS_ANGELES, minutes=1)], now=30.0).upserts
    assert "stage_state" in pipeline.run([event(LOS_ANGELES, minutes=2)], now=61.0).upserts
    assert "stage_state" not in pipeline.run([event(None)], now=200.0).upserts  # no travel


def test_pipeline_scores_geo_reasons(stage: GeoStage) -> None:
    batch = Pipeline([stage]).run([event(LOS_ANGELES, "US", minutes=0),
                                   event(FRANKFURT, "US", minutes=30)], now=0.0)
    last = batch.assessments[1]
    assert {r.code for r in last.reasons} == {MISMATCH, IMPOSSIBLE_TRAVEL}
    assert last.score == 85.0


def test_no_database_mode_still_flags_listed_anonymizers(anonymizers: AnonymizerSet) -> None:
    stage = GeoStage(GeoLookup(), anonymizers)
    assert stage.status().startswith("geo checks off: no city database")
    batch = run(stage, event(LOS_ANGELES, "DE", minutes=0), event(FRANKFURT, minutes=30),
                event(LISTED_TOR, minutes=31))
    assert batch.columns["geo"][:2] == [None, None]
    assert codes(batch) == [[], [], [ANONYMIZER]]


def test_stage_with_nothing_configured_runs() -> None:
    batch = run(GeoStage(), event(LOS_ANGELES, "DE"))
    assert batch.columns["geo"] == [None] and codes(batch) == [[]]


def test_settings_validate() -> None:
    with pytest.raises(ValidationError):
        GeoSettings(mismatch_weight=-1)
    with pytest.raises(ValidationError):
        GeoSettings(anonymizer_kind_weights={"spy": 10})
    with pytest.raises(ValidationError):
        GeoSettings(unknown_setting=1)
    defaults = GeoSettings()
    assert (defaults.mismatch_weight, defaults.anonymizer_weight,
            defaults.impossible_travel_weight) == (25.0, 35.0, 60.0)
