"""The shared feature extractor and the training reservoir."""

from __future__ import annotations

import numpy as np
import orjson
from learning_streams import PlaceGeo, World, run_stages

from ottwatch.events import Event, parse_line, ts_to_text
from ottwatch.geo.model import GeoHit
from ottwatch.learning.features import (
    FEATURE_VERSION,
    FEATURES,
    N_FEATURES,
    RULE_CODES,
    FeatureExtractor,
    FeatureRows,
)
from ottwatch.learning.reservoir import Reservoir
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from ottwatch.pipeline import Batch, Reason

T0 = 1_793_491_200.0  # 2026-11-01T00:00:00Z, a Sunday


def event(n: int, *, at: float, user: str = "u1", kind: str = "play", **fields: object
          ) -> Event:
    record = {"event_id": f"e{n}", "timestamp": ts_to_text(at), "user_id": user,
              "event_type": kind, **fields}
    parsed = parse_line(orjson.dumps(record))
    assert isinstance(parsed, Event), parsed
    return parsed


def column(X: np.ndarray, name: str) -> np.ndarray:
    return X[:, FEATURES.index(name)]


def test_the_feature_list_is_fixed_named_and_versioned() -> None:
    assert FEATURE_VERSION == 1
    assert len(FEATURES) == N_FEATURES == len(set(FEATURES)) == 68
    assert FEATURES[:3] == ("hour_sin", "hour_cos", "weekday")
    assert "type=data_export" in FEATURES and "type=other" in FEATURES
    assert "segment=suspicious" in FEATURES
    assert [f"reason={c}" for c in RULE_CODES] == list(FEATURES[-len(RULE_CODES):])
    assert not any("anomaly.model" in f or "prediction" in f for f in FEATURES)


def test_novelty_time_consent_bytes_reasons_and_segment() -> None:
    events = [
        event(1, at=T0 + 3 * 3600, device_id="d1", ip_address="10.0.0.1", has_consent=True),
        event(2, at=T0 + 3 * 3600 + 60, device_id="d1", ip_address="10.0.0.1"),
        event(3, at=T0 + 3 * 3600 + 120, device_id="d2", ip_address="10.0.0.2",
              kind="data_export", bytes=10**6, error_code="E1"),
        event(4, at=T0 + 3 * 3600 + 180, kind="consent_withdrawn"),
        event(5, at=T0 + 3 * 3600 + 240, kind="mystery"),
    ]
    fired = [Reason("consent.missing", 40.0, "x"), Reason("anomaly.model", 20, "y")]
    reasons = [[], [], fired, [], []]
    X = FeatureExtractor().transform(events, reasons, segments=["new"] * 5).matrix()
    assert X.shape == (5, N_FEATURES) and X.dtype == np.float32
    assert column(X, "device_new").tolist() == [1, 0, 1, 0, 0]
    assert column(X, "ip_new").tolist() == [1, 0, 1, 0, 0]
    assert np.allclose(column(X, "hour_sin")[0], np.sin(2 * np.pi * 3 / 24), atol=1e-6)
    assert column(X, "weekday")[0] == 6  # Sunday (Monday is 0)
    assert column(X, "consent").tolist() == [1, 1, 1, 0, 0]  # remembered until withdrawn
    assert round(float(column(X, "bytes_log")[2]), 4) == 6.0 and column(X, "error")[2] == 1
    assert column(X, "type=data_export")[2] == 1 and column(X, "type=other")[4] == 1
    assert column(X, "reason=consent.missing")[2] == 1
    # the model's own reason does not count
    assert round(float(column(X, "reason_weight")[2]), 4) == 0.4
    assert column(X, "reason_count")[2] == 1
    assert column(X, "segment=new").tolist() == [1] * 5
    assert np.all(np.diff(column(X, "recent_events_log")) > 0)


def test_distance_from_the_usual_place_and_local_time_from_geo() -> None:
    tokyo = GeoHit(country="JP", lat=35.68, lon=139.69)
    london = GeoHit(country="GB", lat=51.51, lon=-0.13)
    events = [event(k, at=T0 + k * 600, ip_address="1.1.1.1") for k in range(4)]
    batch = Batch(events=events, now=T0)
    batch.columns["geo"] = [tokyo, tokyo, london, None]
    X = FeatureExtractor().transform_batch(batch).matrix()
    assert column(X, "geo_known").tolist() == [0, 1, 1, 0]
    km = 10 ** column(X, "geo_km_log") - 1
    assert km[1] < 1 and 9000 < km[2] < 9800  # Tokyo -> London
    # once the user's usual place (Tokyo, UTC+9) is known, hours are local
    hour = (np.degrees(np.arctan2(column(X, "hour_sin"), column(X, "hour_cos"))) / 15) % 24
    assert round(float(hour[0]), 2) == 0.0 and round(float(hour[1]), 2) == 9.17


def test_per_user_state_is_bounded() -> None:
    extractor = FeatureExtractor(max_users=3, devices_per_user=2)
    events = [event(k, at=T0 + k, user=f"u{k}", device_id="d") for k in range(10)]
    extractor.transform(events, [[]] * 10)
    assert list(extractor.users) == ["u7", "u8", "u9"]
    one = [event(k, at=T0 + k, device_id=f"d{k % 3}") for k in range(6)]
    X = extractor.transform(one, [[]] * 6).matrix()
    assert column(X, "device_new").tolist() == [1, 1, 1, 1, 1, 1]  # remembers only two


def test_the_reservoir_is_bounded_and_uniform() -> None:
    reservoir = Reservoir(1000, seed=1)
    for start in range(0, 20_000, 500):
        rows = FeatureRows.empty(500)
        rows.numeric[:, 0] = np.arange(start, start + 500)
        reservoir.add(rows, [f"e{i}" for i in range(start, start + 500)])
    sample = reservoir.sample()
    assert len(sample) == 1000 and sample.seen == 20_000
    kept = sample.rows.numeric[:, 0]
    assert len(set(kept.tolist())) == 1000
    assert sample.event_ids.tolist() == [f"e{int(v)}" for v in kept]
    halves = np.histogram(kept, bins=4, range=(0, 20_000))[0]
    assert halves.min() > 180  # about 250 from each quarter of the stream


def test_stage_snapshot_restores_user_state_and_reservoir(world: World) -> None:
    stage = LearningStage()
    run_stages([PlaceGeo(), stage], world.train.events()[:3000])
    data = stage.snapshot()
    assert len(data) < 1_000_000
    again = LearningStage()
    again.restore(data)
    assert again.extractor.users == stage.extractor.users
    before, after = stage.sample_rows(), again.sample_rows()
    assert after.seen == before.seen == 3000
    assert after.event_ids.tolist() == before.event_ids.tolist()
    assert np.array_equal(after.rows.matrix(), before.rows.matrix())
    more = world.train.events()[3000:4000]
    a = run_stages([PlaceGeo(), stage], more)[0].columns["features"]
    b = run_stages([PlaceGeo(), again], more)[0].columns["features"]
    assert np.array_equal(a, b)  # a restart computes the same features


def test_the_reservoir_is_repacked_only_every_interval(world: World) -> None:
    stage = LearningStage(LearningSettings(reservoir_snapshot_s=1e9))
    events = world.train.events()
    run_stages([PlaceGeo(), stage], events[:2000])
    stage.snapshot()
    run_stages([PlaceGeo(), stage], events[2000:3000])
    later = LearningStage()
    later.restore(stage.snapshot())
    assert later.sample_rows().seen == 2000  # the reservoir as packed first
    assert later.extractor.users == stage.extractor.users  # users as of now


def test_the_reservoir_is_repacked_once_the_rows_seen_have_doubled(world: World) -> None:
    stage = LearningStage(LearningSettings(reservoir_snapshot_s=1e9))
    events = world.train.events()
    run_stages([PlaceGeo(), stage], events[:1000])
    stage.snapshot()
    run_stages([PlaceGeo(), stage], events[1000:2000])
    later = LearningStage()
    later.restore(stage.snapshot())
    assert later.sample_rows().seen == 2000


def test_a_clean_shutdown_stores_the_reservoir_as_it_is(world: World) -> None:
    from ottwatch.pipeline import Pipeline

    stage = LearningStage(LearningSettings(reservoir_snapshot_s=1e9))
    pipeline = Pipeline([PlaceGeo(), stage])
    events = world.train.events()
    run_stages([PlaceGeo(), stage], events[:2000])
    stage.snapshot()
    run_stages([PlaceGeo(), stage], events[2000:3000])
    final = pipeline.save_state(now=events[2999].ts)
    [state] = [row["state"] for row in final.upserts["stage_state"]
               if row["name"] == LearningStage.name]
    later = LearningStage()
    later.restore(state)
    assert later.sample_rows().seen == 3000
    assert later.sample_rows().event_ids.tolist() == stage.sample_rows().event_ids.tolist()
