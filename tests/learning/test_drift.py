"""Drift: shifted inputs give a PSI above the threshold and a finding (recorded in the
model row); inputs like the training baseline give none."""

from __future__ import annotations

import numpy as np
import pytest
from learning_streams import PlaceGeo, World, run_stages
from sqlalchemy import Engine

from ottwatch.learning import registry
from ottwatch.learning.drift import Baseline, check, drift_finding, psi
from ottwatch.learning.ensemble import fit_ensemble
from ottwatch.learning.features import ANOMALY_CODE, FEATURES, FeatureExtractor, FeatureRows
from ottwatch.learning.runtime import LearningRuntime
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from ottwatch.pipeline import Batch


@pytest.fixture(scope="module")
def matrices(world: World) -> tuple[np.ndarray, np.ndarray]:
    extractor = FeatureExtractor()
    rows = [extractor.transform_batch(b) for b in
            run_stages([PlaceGeo()], [*world.train.events(), *world.held_out.events()])]
    X = FeatureRows.concat(rows).matrix()
    return X[15_000:40_000], X[40_000:]  # past the first days, when every device is new


def shifted(X: np.ndarray) -> np.ndarray:
    """Traffic that moved: everything a download of 100x the volume, consent unknown."""
    out = X.copy()
    out[:, FEATURES.index("bytes_log")] += 2.0
    out[:, FEATURES.index("consent")] = 0.5
    return out


def test_psi_of_a_distribution_with_itself_is_zero() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert psi(np.array([0.9, 0.1]), np.array([0.5, 0.5])) > 0.2


def test_shifted_features_drift_and_unshifted_do_not(matrices: tuple) -> None:
    train, later = matrices
    baseline = Baseline.fit(train, np.zeros(len(train)))
    steady = check("ensemble", 1, baseline, later, None, now=1.0)
    assert not steady.drifted and steady.max_psi < 0.2
    assert drift_finding([steady], now=1.0) is None
    assert "hour_sin" not in steady.psi  # time of day is not compared

    moved = check("ensemble", 1, baseline, shifted(later), None, now=2.0)
    assert moved.drifted
    assert set(moved.drifted_features) >= {"bytes_log", "consent"}
    finding = drift_finding([moved], now=2.0)
    assert finding is not None and finding.code == ANOMALY_CODE
    assert finding.title.startswith("Model drift: ensemble v1 (")
    assert "PSI" in finding.detail and "threshold 0.2" in finding.detail


def test_scores_are_compared_with_a_ks_test(matrices: tuple) -> None:
    train, later = matrices
    rng = np.random.default_rng(1)
    baseline = Baseline.fit(train, rng.normal(0.4, 0.05, 20_000))
    same = check("predictor", 2, baseline, later, rng.normal(0.4, 0.05, 5000), now=1.0,
                 ks_threshold=0.2)
    assert not same.scores_drifted and same.ks_pvalue > 0.01
    higher = check("predictor", 2, baseline, later, rng.normal(0.6, 0.05, 5000), now=1.0,
                   ks_threshold=0.2)
    assert higher.scores_drifted and higher.ks_statistic > 0.9
    assert "scores KS" in drift_finding([higher], now=1.0).title
    reported = check("predictor", 2, baseline, later, rng.normal(0.6, 0.05, 5000), now=1.0)
    assert reported.ks_statistic > 0.9 and not reported.drifted  # by default only reported


def test_the_stage_raises_the_finding_and_the_runtime_records_it(
        matrices: tuple, world: World, world_db: Engine) -> None:
    train, _ = matrices
    ensemble = fit_ensemble(train, seed=7)
    version = registry.save(world_db, "ensemble", ensemble, trained_at=0.0, samples=len(train),
                            metrics={})
    registry.activate(world_db, "ensemble", version, now=0.0)
    settings = LearningSettings(drift_interval_s=600, drift_min_rows=500)
    stage = LearningStage(settings)
    run_stages([PlaceGeo(), stage], world.train.events())  # the users' devices are known
    runtime = LearningRuntime(world_db, stage, clock=lambda: world.now)
    assert runtime.load_models() == {"ensemble": version}

    events = world.held_out.events()
    steady = [f for b in run_stages([PlaceGeo(), stage], events[:3000]) for f in b.findings]
    assert steady == [] and runtime.persist_drift() >= 1
    assert registry.get(world_db, "ensemble", version).drift["drifted"] is False

    findings = []
    for chunk in run_stages([PlaceGeo()], events[3000:9000]):
        for e in chunk.events:
            e.bytes = (e.bytes or 0) + 10**11  # every event now moves 100 GB
            e.has_consent = None
        moved = Batch(events=chunk.events, now=chunk.now, columns=chunk.columns)
        stage.process(moved)
        findings += moved.findings
    assert findings and all(f.title.startswith("Model drift: ensemble v1") for f in findings)
    assert runtime.persist_drift() >= 1
    drift = registry.get(world_db, "ensemble", version).drift
    assert drift["drifted"] and "bytes_log" in drift["drifted_features"]
    assert drift["psi"]["bytes_log"] > settings.drift_psi_threshold
