"""Held-out split and classification metrics.

The split is a hash of the event id, so it is the same for every model trained
on any day: a candidate and the active model are compared on the same events,
and an event is never in one model's training set and another's test set.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

HASH_SPACE = 1 << 32


def _hashes(event_ids: Iterable[str], salt: bytes = b"") -> np.ndarray:
    return np.fromiter((zlib.crc32(salt + e.encode()) for e in event_ids), dtype=np.uint64)


def held_out(event_ids: Iterable[str], fraction: float) -> np.ndarray:
    """True for the events of the held-out split (about `fraction` of them)."""
    return _hashes(event_ids) < np.uint64(int(fraction * HASH_SPACE))


def stable_order(event_ids: Iterable[str]) -> np.ndarray:
    """A fixed pseudo-random order of events (to cap a set the same way every time)."""
    return np.argsort(_hashes(event_ids, b"order:"), kind="stable")


def classification_metrics(y: np.ndarray, scores: np.ndarray, threshold: float
                           ) -> dict[str, Any]:
    """Precision, recall, F1 at `threshold`, ROC AUC (None unless both classes are
    present), and the flag rate among negatives (the false-positive rate)."""
    y = np.asarray(y, dtype=bool)
    flagged = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0) >= threshold
    tp = int(np.sum(flagged & y))
    fp = int(np.sum(flagged & ~y))
    fn = int(np.sum(~flagged & y))
    positives, negatives = int(y.sum()), int((~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auc = None
    if positives and negatives:
        auc = float(roc_auc_score(y, np.nan_to_num(scores, nan=0.0)))
    return {
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "roc_auc": None if auc is None else round(auc, 4),
        "fpr": round(fp / negatives, 5) if negatives else None,
        "positives": positives, "negatives": negatives, "true_positives": tp,
        "false_positives": fp, "false_negatives": fn, "threshold": threshold,
    }
