"""The anomaly ensemble: scikit-learn's IsolationForest and LocalOutlierFactor
(novelty=True), each score normalised to 0..1 by its rank among the training
scores, combined by a rule: `both` above the cut, or their `mean` above it.

Scoring is batch-at-a-time and cheap enough for the ingest path: the forest is
evaluated tree by tree on the whole matrix with `Tree.apply` and precomputed
path lengths (the same arithmetic as `IsolationForest.score_samples`, without
its per-call overhead), and LOF, the costly one, only for the rows whose forest
score could still make the rule fire (its k-NN search is one matrix product).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from ottwatch.learning.drift import Baseline
from ottwatch.learning.features import FEATURE_VERSION, FEATURES

QUANTILES = 2001  # resolution of the rank normalisation
SCALE_FLOOR = 0.1  # a near-constant column must not dominate LOF distances


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean unsuccessful-search depth of a binary search tree of n keys."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class ForestScorer:
    """IsolationForest anomaly scores 2^(-E[h(x)] / c(max_samples)), in (0, 1]:
    higher is more anomalous (`-IsolationForest.score_samples`)."""

    def __init__(self, forest: IsolationForest) -> None:
        self.trees = [estimator.tree_ for estimator in forest.estimators_]
        self.path = [_path_lengths(tree) for tree in self.trees]
        self.denominator = len(self.trees) * float(average_path_length(
            np.array([forest.max_samples_]))[0])

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        depth = np.zeros(len(X))
        for tree, path in zip(self.trees, self.path, strict=True):
            depth += path[tree.apply(X)]
        if self.denominator == 0:
            return np.ones(len(X))
        return np.exp2(-depth / self.denominator)


def _path_lengths(tree: object) -> np.ndarray:
    """Per node: its depth plus c(samples in it), the path length charged at a leaf."""
    left = tree.children_left  # type: ignore[attr-defined]
    right = tree.children_right  # type: ignore[attr-defined]
    depth = np.zeros(len(left))
    for node in range(len(left)):  # children always have higher ids than their parent
        if left[node] >= 0:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return depth + average_path_length(tree.n_node_samples)  # type: ignore[attr-defined]


class LofScorer:
    """Local outlier factors of new rows against the fitted ones (`-score_samples`
    of `LocalOutlierFactor(novelty=True)`): about 1 inside the data, larger outside.
    The neighbour search runs in float32 (standardised features: distances agree with
    float64 to about 1e-6, at half the cost of the distance matrix and its partition)."""

    def __init__(self, lof: LocalOutlierFactor, fitted: np.ndarray) -> None:
        self.k = lof.n_neighbors_
        self.fit_X = np.asarray(fitted, dtype=np.float32)
        self.fit_sq = np.einsum("ij,ij->i", self.fit_X, self.fit_X)
        # What `fit` computed (k-distance and reachability density of each fitted row);
        # recomputed through the public API should a scikit-learn release rename them.
        distances = getattr(lof, "_distances_fit_X_", None)
        lrd = getattr(lof, "_lrd", None)
        if distances is None or lrd is None:
            distances, neighbours = lof.kneighbors()
            lrd = 1.0 / (np.mean(np.maximum(distances, distances[neighbours, -1]), axis=1)
                         + 1e-10)
        self.kdist = np.asarray(distances)[:, -1]
        self.lrd = np.asarray(lrd)

    def score(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.empty(0)
        dtype = self.fit_X.dtype  # float64 in models stored before the search was float32
        Q = np.asarray(X, dtype=dtype)
        squared = (np.einsum("ij,ij->i", Q, Q)[:, None] + self.fit_sq[None, :]
                   - dtype.type(2.0) * (Q @ self.fit_X.T))
        k = self.k
        neighbours = np.argpartition(squared, k - 1, axis=1)[:, :k]
        distances = np.sqrt(np.maximum(
            np.take_along_axis(squared, neighbours, axis=1).astype(np.float64), 0.0))
        reach = np.maximum(distances, self.kdist[neighbours])
        lrd = 1.0 / (np.mean(reach, axis=1) + 1e-10)
        return np.mean(self.lrd[neighbours], axis=1) / lrd


@dataclass(slots=True)
class EnsembleScores:
    forest: np.ndarray  # normalised 0..1, every row
    lof: np.ndarray  # normalised 0..1; NaN where the rule could not fire anyway
    combined: np.ndarray  # the rule's score (min or mean); NaN where LOF was skipped
    flagged: np.ndarray  # bool
    forest_raw: np.ndarray  # IsolationForest anomaly score, for drift checks


class Ensemble:
    """Fitted scorers, their training score distributions and the drift baseline."""

    def __init__(self, forest: IsolationForest, lof: LocalOutlierFactor, *, mean: np.ndarray,
                 scale: np.ndarray, lof_fitted: np.ndarray, forest_train: np.ndarray,
                 samples: int, baseline: Baseline) -> None:
        self.feature_version = FEATURE_VERSION
        self.features = FEATURES
        self.forest = forest
        self.lof = lof
        self.mean = mean
        self.scale = scale
        self.samples = samples
        self.baseline = baseline
        self.forest_scorer = ForestScorer(forest)
        self.lof_scorer = LofScorer(lof, lof_fitted)
        self.forest_quantiles = _quantiles(forest_train)
        self.lof_quantiles = _quantiles(-lof.negative_outlier_factor_)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale

    def score(self, X: np.ndarray, *, combine: str = "mean", cut: float = 0.98,
              full: bool = False) -> EnsembleScores:
        """Scores of a batch; LOF is computed only where the rule could still fire,
        unless `full` (evaluation)."""
        raw = self.forest_scorer.score(X)
        forest = _rank(self.forest_quantiles, raw)
        floor = cut if combine == "both" else 2.0 * cut - 1.0
        candidates = np.arange(len(X)) if full else np.flatnonzero(forest >= floor)
        lof = np.full(len(X), np.nan)
        if len(candidates):
            lof_raw = self.lof_scorer.score(self.standardise(X[candidates]))
            lof[candidates] = _rank(self.lof_quantiles, lof_raw)
        combined = np.minimum(forest, lof) if combine == "both" else (forest + lof) / 2.0
        flagged = np.nan_to_num(combined, nan=0.0) >= cut
        return EnsembleScores(forest, lof, combined, flagged, raw)


def _quantiles(values: np.ndarray) -> np.ndarray:
    return np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0.0, 1.0, QUANTILES))


def _rank(quantiles: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The share of training scores at or below each value, 0..1."""
    return np.searchsorted(quantiles, values, side="right") / len(quantiles)


def fit_ensemble(X: np.ndarray, *, trees: int = 100, neighbours: int = 20,
                 lof_max_samples: int = 5_000, seed: int = 7) -> Ensemble:
    """Fit on rows believed normal (known violations already left out)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    if n < 2 * neighbours:
        raise ValueError(f"{n} rows are too few to fit the ensemble")
    rng = np.random.default_rng(seed)
    forest = IsolationForest(n_estimators=trees, max_samples=min(256, n), max_features=1.0,
                             random_state=seed, n_jobs=1).fit(X)
    forest_train = ForestScorer(forest).score(X)
    mean = X.mean(axis=0, dtype=np.float64)
    scale = np.maximum(X.std(axis=0, dtype=np.float64), SCALE_FLOOR)
    pick = np.sort(rng.choice(n, lof_max_samples, replace=False)) if n > lof_max_samples \
        else np.arange(n)
    fitted = (X[pick] - mean) / scale
    lof = LocalOutlierFactor(n_neighbors=min(neighbours, len(pick) - 1), novelty=True,
                             n_jobs=1).fit(fitted)
    return Ensemble(forest, lof, mean=mean, scale=scale, lof_fitted=fitted,
                    forest_train=forest_train, samples=n,
                    baseline=Baseline.fit(X, forest_train, seed=seed))
