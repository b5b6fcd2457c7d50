"""The anomaly ensemble: planted outliers are flagged, ordinary traffic is not,
and the fast batch scorers compute exactly what scikit-learn computes."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest
from learning_streams import PlaceGeo, World, run_stages

from fixtures.places import PLACES
from ottwatch.events import Event, parse_line
from ottwatch.learning.ensemble import fit_ensemble
from ottwatch.learning.features import ANOMALY_CODE, FeatureExtractor, FeatureRows
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage


def features(extractor: FeatureExtractor, events: list[Event]) -> np.ndarray:
    return FeatureRows.concat([extractor.transform_batch(b)
                               for b in run_stages([PlaceGeo()], events)]).matrix()


def outliers(world: World, count: int = 100) -> list[Event]:
    """Established users suddenly far from home on a device and IP never seen, pulling
    hundreds of gigabytes with an error."""
    rng = random.Random(5)
    at = world.held_out.events()[-1].timestamp
    out = []
    for k, user in enumerate(world.generator.users[200:200 + count]):
        away = rng.choice([p for p in PLACES if p.country != user.place.country])
        block = away.cidr.split(".0.0/")[0]
        record = {"event_id": f"out-{k}", "timestamp": at, "user_id": user.user_id,
                  "event_type": "bulk_download", "device_id": f"dev-odd-{k}",
                  "ip_address": f"{block}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                  "region": user.place.region, "has_consent": True,
                  "bytes": rng.randrange(200, 900) * 10**9, "error_code": "E_PARTIAL"}
        event = parse_line(orjson.dumps(record))
        assert isinstance(event, Event)
        out.append(event)
    return out


@pytest.fixture(scope="module")
def fitted(world: World) -> tuple:
    extractor = FeatureExtractor()
    train = world.train.events()
    X = features(extractor, train)
    normal = np.array([e.event_id not in world.train.planted for e in train])
    ensemble = fit_ensemble(X[normal], seed=7)
    held = world.held_out.events()
    benign = [e for e in held if e.event_id not in world.held_out.planted]
    return ensemble, extractor, features(extractor, benign), features(extractor,
                                                                       outliers(world))


def test_planted_outliers_are_flagged_and_ordinary_traffic_is_not(fitted: tuple) -> None:
    ensemble, _, benign, planted = fitted
    settings = LearningSettings()
    hit = ensemble.score(planted, combine=settings.combine, cut=settings.anomaly_cut).flagged
    false = ensemble.score(benign, combine=settings.combine, cut=settings.anomaly_cut).flagged
    recall, fpr = hit.mean(), false.mean()
    print(f"\nplanted outliers: recall {recall:.3f} ({hit.sum()}/{len(hit)}), "
          f"false-positive rate {fpr:.5f} ({false.sum()}/{len(false)}) at "
          f"{settings.combine} >= {settings.anomaly_cut}")
    assert recall >= 0.9
    assert fpr <= 0.005
    both = ensemble.score(planted, combine="both", cut=0.95).flagged
    assert both.mean() >= 0.9  # the stricter rule agrees at a lower cut


def test_batch_scorers_equal_scikit_learn(fitted: tuple) -> None:
    ensemble, _, benign, planted = fitted
    X = np.vstack([benign[:500], planted])
    assert np.allclose(ensemble.forest_scorer.score(X), -ensemble.forest.score_samples(X))
    Z = ensemble.standardise(X)
    assert np.allclose(ensemble.lof_scorer.score(Z), -ensemble.lof.score_samples(Z))
    for combine in ("mean", "both"):
        full = ensemble.score(X, combine=combine, cut=0.98, full=True)
        assert np.all((full.forest >= 0) & (full.forest <= 1))
        assert np.all((full.lof >= 0) & (full.lof <= 1))
        fast = ensemble.score(X, combine=combine, cut=0.98)
        assert np.isnan(fast.lof).any()  # LOF skipped where the rule cannot fire...
        assert np.array_equal(fast.flagged, full.combined >= 0.98)  # ...changing nothing


def test_the_stage_adds_the_reason_with_the_score(fitted: tuple, world: World) -> None:
    ensemble, _, _, _ = fitted
    stage = LearningStage()
    stage.set_models(ensemble, None, {"ensemble": 3})
    batches = run_stages([PlaceGeo(), stage], [*world.train.events()[:5000],
                                               *outliers(world, 20)])
    reasons = [r for batch in batches for rs in batch.reasons for r in rs
               if r.code == ANOMALY_CODE]
    assert reasons, "the outliers are flagged"
    assert all("anomaly score" in r.detail and "ensemble v3" in r.detail for r in reasons)
    assert all(r.weight == stage.settings.anomaly_weight for r in reasons)
    assert "anomaly ensemble v3" in stage.status


def test_cold_start_is_rules_only_and_says_so() -> None:
    stage = LearningStage(LearningSettings(min_samples=1000))
    assert stage.status.startswith("cold start: rules only until 1000 samples")
    with pytest.raises(ValueError, match="too few"):
        fit_ensemble(np.zeros((10, 68), dtype=np.float32))
