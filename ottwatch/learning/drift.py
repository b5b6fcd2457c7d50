"""Drift against a model's training baseline: the population stability index
(PSI) per feature and a two-sample Kolmogorov-Smirnov test on the model's scores.

PSI = sum over bins of (recent - expected) * ln(recent / expected), bins cut at
the baseline's deciles; above 0.2 is the usual "the population has shifted".
Time-of-day columns and the per-user event count are left out (see
`features.DRIFT_EXEMPT`). Drift becomes a `Finding` (code `anomaly.model`)
for the alert system and is recorded in the model's registry row.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import ks_2samp

from ottwatch.learning.features import ANOMALY_CODE, DRIFT_EXEMPT, FEATURES
from ottwatch.pipeline import Finding

BINS = 10
EPSILON = 1e-4  # proportion floor: an empty bin must not make PSI infinite
SCORE_SAMPLE = 5_000


@dataclass(slots=True)
class Baseline:
    """Per-feature bin edges and proportions, and a sample of scores, at training."""

    features: tuple[str, ...]
    edges: list[np.ndarray]
    expected: list[np.ndarray]
    scores: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, scores: np.ndarray, *, seed: int = 7,
            features: tuple[str, ...] = FEATURES) -> Baseline:
        edges, expected = [], []
        for column in range(X.shape[1]):
            values = X[:, column]
            cut = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1]))
            edges.append(cut)
            expected.append(_proportions(values, cut))
        rng = np.random.default_rng(seed)
        if len(scores) > SCORE_SAMPLE:
            scores = rng.choice(scores, SCORE_SAMPLE, replace=False)
        return cls(features, edges, expected, np.asarray(scores, dtype=np.float64))

    def psi(self, X: np.ndarray) -> dict[str, float]:
        out = {}
        for column, name in enumerate(self.features):
            if name in DRIFT_EXEMPT:
                continue
            recent = _proportions(X[:, column], self.edges[column])
            out[name] = psi(self.expected[column], recent)
        return out


def _proportions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected, EPSILON)
    a = np.maximum(actual, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(slots=True)
class DriftReport:
    model: str
    version: int
    checked_at: float
    rows: int
    psi: dict[str, float]
    ks_statistic: float | None
    ks_pvalue: float | None
    psi_threshold: float
    ks_threshold: float | None  # None: the KS test is reported, it does not flag drift

    @property
    def drifted_features(self) -> list[str]:
        return sorted((n for n, v in self.psi.items() if v > self.psi_threshold),
                      key=lambda n: -self.psi[n])

    @property
    def scores_drifted(self) -> bool:
        return self.ks_threshold is not None and self.ks_statistic is not None \
            and self.ks_statistic > self.ks_threshold and (self.ks_pvalue or 0.0) < 0.01

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_features) or self.scores_drifted

    @property
    def max_psi(self) -> float:
        return max(self.psi.values(), default=0.0)

    def summary(self) -> str:
        parts = [f"{name} PSI {self.psi[name]:.2f}" for name in self.drifted_features[:5]]
        if self.scores_drifted:
            parts.append(f"scores KS {self.ks_statistic:.2f} (p={self.ks_pvalue:.1e})")
        return ", ".join(parts) or f"max PSI {self.max_psi:.2f}"

    def scores_text(self) -> str:
        if self.ks_statistic is None:
            return "no scores compared"
        return f"scores KS {self.ks_statistic:.2f} (p={self.ks_pvalue:.1e})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at, "rows": self.rows, "drifted": self.drifted,
            "max_psi": round(self.max_psi, 4), "drifted_features": self.drifted_features,
            "psi": {k: round(v, 4) for k, v in self.psi.items()},
            "ks_statistic": None if self.ks_statistic is None else round(self.ks_statistic, 4),
            "ks_pvalue": self.ks_pvalue, "psi_threshold": self.psi_threshold,
            "ks_threshold": self.ks_threshold,
        }


def check(model: str, version: int, baseline: Baseline, X: np.ndarray,
          scores: np.ndarray | None, *, now: float, psi_threshold: float = 0.2,
          ks_threshold: float | None = None) -> DriftReport:
    statistic = pvalue = None
    if scores is not None and len(scores) and len(baseline.scores):
        result = ks_2samp(baseline.scores, scores)
        statistic, pvalue = float(result.statistic), float(result.pvalue)
    return DriftReport(model, version, now, len(X), baseline.psi(X), statistic, pvalue,
                       psi_threshold, ks_threshold)


def drift_finding(reports: list[DriftReport], now: float) -> Finding | None:
    """One finding for the models that drifted (none when no model did)."""
    drifted = [r for r in reports if r.drifted]
    if not drifted:
        return None
    names = ", ".join(f"{r.model} v{r.version}" for r in drifted)
    detail = "; ".join(f"{r.model} v{r.version} over {r.rows} recent events: {r.summary()}; "
                       f"{r.scores_text()} (PSI threshold {r.psi_threshold:g})"
                       for r in drifted)
    return Finding(code=ANOMALY_CODE, severity="medium", ts=now,
                   title=f"Model drift: {names} ({drifted[0].summary()})",
                   detail=detail + ". Retrain (`ottwatch retrain`) or check the input.")


@dataclass
class DriftWindow:
    """The most recent rows the models scored (bounded), for drift checks."""

    limit: int
    rows: deque[np.ndarray] = field(default_factory=deque)
    scores: dict[str, deque[np.ndarray]] = field(default_factory=dict)
    count: int = 0

    def add(self, X: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        self.rows.append(X)
        for name, values in scores.items():
            self.scores.setdefault(name, deque()).append(values)
        self.count += len(X)
        while self.rows and self.count - len(self.rows[0]) >= self.limit:
            self.count -= len(self.rows.popleft())
            for values in self.scores.values():
                if values:
                    values.popleft()

    def matrix(self) -> np.ndarray:
        return np.concatenate(list(self.rows)) if self.rows else np.empty((0, len(FEATURES)))

    def values(self, name: str) -> np.ndarray | None:
        chunks = self.scores.get(name)
        return np.concatenate(list(chunks)) if chunks else None

    def clear(self) -> None:
        self.rows.clear()
        self.scores.clear()
        self.count = 0
