"""Retraining, off the ingest path: build the training set from the database,
fit, store the new version, and promote it only if it is not worse than the
active one on the same held-out split.

The training window ends at the newest stored event (so replayed logs train
too). The ensemble learns "normal" from the stage's reservoir when one is given
(the exact features the stage computed, sampled over its whole life) or else
from the replayed window; known violations and held-out events are left out.
The predictor learns from the replayed window's outcomes. Training uses
`train_threads` BLAS/OpenMP threads (one by default: the other core ingests).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine
from threadpoolctl import threadpool_limits

from ottwatch.learning import registry
from ottwatch.learning.dataset import (
    VIOLATION,
    TrainingSet,
    known_violations,
    load_training_set,
)
from ottwatch.learning.ensemble import Ensemble, fit_ensemble
from ottwatch.learning.metrics import classification_metrics, held_out
from ottwatch.learning.predictor import Predictor, fit_predictor
from ottwatch.learning.reservoir import Sample
from ottwatch.learning.settings import LearningSettings
from ottwatch.pipeline import Stage

MODEL_NAMES = registry.MODEL_NAMES
# The metric a candidate must not be worse on: ranking quality for the ensemble
# (its cut is a setting), operating quality at the threshold for the predictor.
PRIMARY_METRIC = {"ensemble": "roc_auc", "predictor": "f1"}
PROMOTED, CANDIDATE, SKIPPED = "promoted", "candidate", "skipped"


@dataclass
class RetrainResult:
    name: str
    status: str  # promoted | candidate (kept, not promoted) | skipped (nothing trained)
    message: str
    version: int | None = None
    samples: int = 0
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    active_version: int | None = None
    active_metrics: dict[str, Any] | None = None
    replay_seconds: float = 0.0  # building the training set from the database

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromotionResult:
    name: str
    version: int
    promoted: bool
    message: str
    metrics: dict[str, Any]
    active_version: int | None
    active_metrics: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(name: str, model: Ensemble | Predictor, data: TrainingSet,
             settings: LearningSettings) -> dict[str, Any]:
    """Metrics of `model` on the held-out split of `data`."""
    index = data.evaluation_index(settings.eval_max_negatives)
    X = data.matrix[index]
    y = data.labels[index] == VIOLATION
    if name == "ensemble":
        assert isinstance(model, Ensemble)
        scores = model.score(X, combine=settings.combine, cut=settings.anomaly_cut,
                             full=True).combined
        threshold = settings.anomaly_cut
    else:
        assert isinstance(model, Predictor)
        scores = model.likelihood(X)
        threshold = settings.likely_threshold
    return classification_metrics(y, scores, threshold)


def not_worse(name: str, candidate: dict[str, Any], active: dict[str, Any] | None
              ) -> tuple[bool, str]:
    key = PRIMARY_METRIC[name]
    if active is None:
        return True, "no comparable active model"
    mine, theirs = candidate.get(key), active.get(key)
    if theirs is None or mine is None:
        return True, f"no {key} on this split (no held-out confirmed violations)"
    if mine >= theirs:
        return True, f"{key} {mine:.4f} >= active {theirs:.4f} on the same held-out split"
    return False, f"{key} {mine:.4f} < active {theirs:.4f} on the same held-out split"


def _active_metrics(engine: Engine, name: str, data: TrainingSet,
                    settings: LearningSettings) -> tuple[int | None, dict[str, Any] | None]:
    try:
        found = registry.load_active(engine, name)
    except registry.RegistryError:  # built on another feature version: not comparable
        return registry.active_versions(engine).get(name), None
    if found is None:
        return None, None
    version, model = found
    return version, evaluate(name, model, data, settings)


def _normal_rows(data: TrainingSet, sample: Sample | None, violations: set[str],
                 settings: LearningSettings) -> tuple[np.ndarray, str]:
    if sample is not None and len(sample) >= settings.min_samples:
        ids = sample.event_ids.tolist()
        keep = ~held_out(ids, settings.test_fraction)
        keep &= np.fromiter((e not in violations for e in ids), dtype=bool, count=len(ids))
        return sample.rows.take(keep).matrix(), "reservoir"
    keep = ~data.held_out & (data.labels != VIOLATION)
    return data.matrix[keep], "replay"


def _fit(name: str, data: TrainingSet, settings: LearningSettings, sample: Sample | None,
         violations: set[str]) -> tuple[Ensemble | Predictor | None, int, str, dict[str, Any]]:
    """(model or None, training rows, message, training facts)."""
    if name == "ensemble":
        X, source = _normal_rows(data, sample, violations, settings)
        if len(X) < settings.min_samples:
            return None, len(X), (f"cold start: {len(X)} normal samples, the ensemble needs "
                                  f"{settings.min_samples}; rules only until then"), {}
        model: Ensemble | Predictor = fit_ensemble(
            X, trees=settings.forest_trees, neighbours=settings.lof_neighbors,
            lof_max_samples=settings.lof_max_samples, seed=settings.seed)
        return model, len(X), f"trained on {len(X)} normal rows ({source})", {"source": source}
    train = np.flatnonzero(~data.held_out)
    y = (data.labels[train] == VIOLATION).astype(np.int8)
    positives = int(y.sum())
    if positives < settings.min_positives:
        return None, len(train), (f"{positives} confirmed violations to learn from, the "
                                  f"predictor needs {settings.min_positives}"), {}
    negatives = np.flatnonzero(y == 0)
    if len(negatives) > settings.max_negatives:
        rng = np.random.default_rng(settings.seed)
        drop = rng.choice(negatives, len(negatives) - settings.max_negatives, replace=False)
        keep = np.ones(len(train), dtype=bool)
        keep[drop] = False
        train, y = train[keep], y[keep]
    model = fit_predictor(data.matrix[train], y, seed=settings.seed)
    return model, len(train), (f"trained on {len(train)} rows, {positives} confirmed "
                               f"violations"), {"positives": positives}


def retrain(engine: Engine, name: str, *, now: float, settings: LearningSettings | None = None,
            context: Sequence[Stage] = (), sample: Sample | None = None,
            data: TrainingSet | None = None, actor: str = registry.SYSTEM_ACTOR
            ) -> RetrainResult:
    """Train `name` ("ensemble" or "predictor") now, store it, promote it if it is not
    worse than the active version on the same held-out split."""
    settings = settings or LearningSettings()
    if name not in MODEL_NAMES:
        raise registry.RegistryError(f"model name is one of {', '.join(MODEL_NAMES)}")
    started = time.perf_counter()
    replay_seconds = 0.0
    if data is None:
        data = load_training_set(engine, settings=settings, context=context)
        replay_seconds = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
    violations = known_violations(engine) if name == "ensemble" and sample is not None \
        else set()
    with threadpool_limits(limits=settings.train_threads):
        model, rows, message, facts = _fit(name, data, settings, sample, violations)
        if model is None:
            return RetrainResult(name, SKIPPED, message, samples=rows,
                                 seconds=round(time.perf_counter() - started, 2),
                                 replay_seconds=replay_seconds)
        metrics = evaluate(name, model, data, settings)
        active_version, active_metrics = _active_metrics(engine, name, data, settings)
    seconds = round(time.perf_counter() - started, 2)
    stored = {**metrics, "training": {**facts, "rows": rows, "window": [data.since, data.until],
                                      "events": len(data), "seconds": seconds}}
    version = registry.save(engine, name, model, trained_at=now, samples=rows, metrics=stored)
    ok, why = not_worse(name, metrics, active_metrics)
    if ok:
        registry.activate(engine, name, version, now=now, actor=actor,
                          detail={"reason": why, "metrics": metrics})
        status, message = PROMOTED, f"{message}; promoted: {why}"
    else:
        status, message = CANDIDATE, f"{message}; kept as a candidate, not promoted: {why}"
    return RetrainResult(name, status, message, version, rows, seconds, metrics,
                         active_version, active_metrics, replay_seconds)


def retrain_all(engine: Engine, names: Sequence[str] = MODEL_NAMES, *, now: float,
                settings: LearningSettings | None = None, context: Sequence[Stage] = (),
                sample: Sample | None = None, actor: str = registry.SYSTEM_ACTOR
                ) -> list[RetrainResult]:
    """Retrain several models on one replay of the training window."""
    settings = settings or LearningSettings()
    started = time.perf_counter()
    data = load_training_set(engine, settings=settings, context=context)
    replay_seconds = round(time.perf_counter() - started, 2)
    results = [retrain(engine, name, now=now, settings=settings, sample=sample, data=data,
                       actor=actor) for name in names]
    for result in results:
        result.replay_seconds = replay_seconds
    return results


def promote(engine: Engine, name: str, version: int, *, now: float,
            settings: LearningSettings | None = None, context: Sequence[Stage] = (),
            data: TrainingSet | None = None, actor: str = registry.SYSTEM_ACTOR
            ) -> PromotionResult:
    """Make `version` active if it is not worse than the active version on the same
    held-out split of the current training window; refuse otherwise."""
    settings = settings or LearningSettings()
    candidate = registry.load(engine, name, version)
    if data is None:
        data = load_training_set(engine, settings=settings, context=context)
    with threadpool_limits(limits=settings.train_threads):
        metrics = evaluate(name, candidate, data, settings)
        active_version, active_metrics = _active_metrics(engine, name, data, settings)
    if active_version == version:
        return PromotionResult(name, version, False, f"{name} v{version} is already active",
                               metrics, active_version, active_metrics)
    ok, why = not_worse(name, metrics, active_metrics)
    if ok:
        registry.activate(engine, name, version, now=now, actor=actor,
                          detail={"reason": why, "metrics": metrics})
        return PromotionResult(name, version, True, f"{name} v{version} promoted: {why}",
                               metrics, active_version, active_metrics)
    return PromotionResult(name, version, False, f"refused: {name} v{version} is worse than "
                           f"active v{active_version}: {why}", metrics, active_version,
                           active_metrics)
