"""`[scoring.learning]` in the config: the learning loop's knobs and their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator

from ottwatch.detector_mode import DetectorMode
from ottwatch.learning.schedule import CronSchedule


class LearningSettings(DetectorMode):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = True
    seed: int = 7

    # Features: per-user memory (LRU) and the training reservoir.
    max_users: int = Field(100_000, ge=1)
    devices_per_user: int = Field(8, ge=1, le=256)  # devices and IPs remembered per user
    recent_window_s: float = Field(3600.0, gt=0)  # decay time of the recent-events count
    reservoir_rows: int = Field(200_000, ge=100)
    reservoir_snapshot_s: float = Field(600.0, ge=0)  # batch time between reservoir packs

    # Anomaly ensemble (IsolationForest + LocalOutlierFactor).
    min_samples: int = Field(1000, ge=10)  # cold start: rules only below this
    combine: Literal["both", "mean"] = "mean"
    anomaly_cut: float = Field(0.98, gt=0, lt=1)  # on scores normalised to 0..1 by rank
    anomaly_weight: float = Field(20.0, ge=0, le=100)
    forest_trees: int = Field(100, ge=10, le=1000)
    lof_neighbors: int = Field(20, ge=2, le=200)
    lof_max_samples: int = Field(5_000, ge=100)  # LOF cost per candidate row grows with it

    # Violation predictor (supervised).
    likely_threshold: float = Field(0.7, gt=0, lt=1)
    # Alone, a likely violation reaches the scorer's base review threshold (50); an
    # anomaly alone does not, it adds to other weak signals.
    likely_weight: float = Field(50.0, ge=0, le=100)
    min_positives: int = Field(10, ge=2)
    max_negatives: int = Field(100_000, ge=100)

    # Training set, held-out split and promotion.
    train_window_days: float = Field(30.0, gt=0)
    max_train_events: int = Field(200_000, ge=100)
    test_fraction: float = Field(0.25, gt=0, lt=1)
    eval_max_negatives: int = Field(5_000, ge=100)
    # BLAS/OpenMP threads for training: one leaves the other core to ingest.
    train_threads: int = Field(1, ge=1, le=64)

    # Retrain triggers.
    retrain_new_labels: int = Field(100, ge=1)
    retrain_cron: str = "0 2 * * *"
    retrain_timezone: str = "UTC"
    check_interval_s: float = Field(60.0, gt=0)

    # Drift against the training baseline.
    drift_psi_threshold: float = Field(0.2, gt=0)
    # KS statistic on the scores that also counts as drift; unset, the test is only
    # reported (scores move with the hours a window covers).
    drift_ks_threshold: float | None = Field(None, gt=0, le=1)
    drift_interval_s: float = Field(3600.0, gt=0)
    drift_window_rows: int = Field(50_000, ge=100)
    drift_min_rows: int = Field(2_000, ge=10)

    @field_validator("retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        CronSchedule.parse(value)
        return value

    @field_validator("retrain_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @classmethod
    def from_scoring(cls, scoring: Mapping[str, Any]) -> LearningSettings:
        return cls.model_validate(scoring.get("learning", {}))
