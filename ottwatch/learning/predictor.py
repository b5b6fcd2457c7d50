"""The violation predictor: gradient-boosted trees (scikit-learn's
HistGradientBoostingClassifier) on the shared features, trained on confirmed
outcomes.

Positives are confirmed violations (operator labels, and rule blocks nobody
labelled benign); negatives are benign labels and the unlabelled rest. Classes
are weighted to balance: a few dozen confirmed cases then outweigh their
unlabelled lookalikes (which are mostly violations nobody looked at yet), so
the likelihood reads "how much this event looks like the confirmed violations".
Its precision at the threshold on held-out data is in the model's metrics.

Also here: the regulation most at risk for a user, from the regulation reasons
of the user's recent events, else from the user's region.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ottwatch.learning.drift import Baseline
from ottwatch.learning.features import FEATURE_VERSION, FEATURES

REGULATION_CODES = ("consent.missing", "regulation.dsar_overdue",
                    "regulation.deletion_overdue", "regulation.breach_notification_late")
_REGULATION_ID = re.compile(r"\b[A-Z][A-Z0-9_]{1,31}\b")


class Predictor:
    def __init__(self, model: HistGradientBoostingClassifier, *, samples: int, positives: int,
                 baseline: Baseline) -> None:
        self.feature_version = FEATURE_VERSION
        self.features = FEATURES
        self.model = model
        self.samples = samples
        self.positives = positives
        self.baseline = baseline

    def likelihood(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.empty(0)
        return self.model.predict_proba(X)[:, 1]


def fit_predictor(X: np.ndarray, y: np.ndarray, *, seed: int = 7) -> Predictor:
    """`y` is 1 for a confirmed violation, 0 otherwise."""
    positives = int(y.sum())
    if positives < 2 or positives == len(y):
        raise ValueError(f"need both classes to train ({positives} of {len(y)} positive)")
    model = HistGradientBoostingClassifier(
        learning_rate=0.2, max_iter=100, max_leaf_nodes=15, min_samples_leaf=10,
        l2_regularization=1.0, class_weight="balanced", early_stopping=len(y) >= 2000,
        validation_fraction=0.15, n_iter_no_change=10, random_state=seed)
    model.fit(X, y)
    predictor = Predictor(model, samples=len(y), positives=positives,
                          baseline=Baseline.fit(X, np.empty(0), seed=seed))
    predictor.baseline = Baseline.fit(X, predictor.likelihood(X), seed=seed)
    return predictor


@dataclass(frozen=True, slots=True)
class RegulationRisk:
    regulation: str | None
    source: str  # "reasons", "region" or "none"
    why: str


def regulation_at_risk(reasons: Iterable[tuple[str, str]], region: str | None,
                       known: Sequence[str], by_region: Sequence[str]) -> RegulationRisk:
    """The regulation named most often by the regulation reasons (code, detail) of a
    user's recent events; without any, the first regulation of the user's region."""
    named: Counter[str] = Counter()
    known_ids = set(known)
    for code, detail in reasons:
        if code in REGULATION_CODES:
            named.update({m for m in _REGULATION_ID.findall(detail) if m in known_ids})
    if named:
        regulation, count = named.most_common(1)[0]
        return RegulationRisk(regulation, "reasons",
                              f"named by {count} regulation reason(s) in recent events")
    if by_region:
        return RegulationRisk(by_region[0], "region",
                              f"no regulation reason in recent events; region {region}")
    return RegulationRisk(None, "none", f"no regulation reason in recent events and no "
                                        f"regulation mapped to region {region or 'unknown'}")
