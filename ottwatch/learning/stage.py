"""The learning stage: features for every event, the active anomaly ensemble and
violation predictor applied to the whole batch, the training reservoir, and
periodic drift checks.

Runs after the rule stages (it reads their reasons, `geo` and `segment`). It
does no I/O: the runtime loads models from the registry and hands them over
with `set_models`, and records the drift reports the stage leaves in
`drift_reports`. Its snapshot (per-user feature state and the reservoir,
compressed numpy) is stored as often as the pipeline stores snapshots.
"""

from __future__ import annotations

import io
import json
import math
import threading
import zlib
from functools import cache
from typing import ClassVar

import numpy as np
import orjson
from threadpoolctl import ThreadpoolController

from ottwatch.learning.drift import DriftReport, DriftWindow, check, drift_finding
from ottwatch.learning.ensemble import Ensemble
from ottwatch.learning.features import (
    ANOMALY_CODE,
    FEATURE_VERSION,
    FEATURES,
    PREDICTION_CODE,
    FeatureExtractor,
)
from ottwatch.learning.predictor import Predictor
from ottwatch.learning.reservoir import Reservoir, Sample
from ottwatch.learning.settings import LearningSettings
from ottwatch.pipeline import Batch

SNAPSHOT_VERSION = 1


@cache
def _thread_pools() -> ThreadpoolController:
    """Scoring runs on the ingest thread with one BLAS/OpenMP thread: a batch is too
    small to gain from more, and the other core belongs to the writer."""
    return ThreadpoolController()


class LearningStage:
    name: ClassVar[str] = "learning"

    def __init__(self, settings: LearningSettings | None = None) -> None:
        self.settings = settings or LearningSettings()
        s = self.settings
        self.extractor = FeatureExtractor(max_users=s.max_users,
                                          devices_per_user=s.devices_per_user,
                                          recent_window_s=s.recent_window_s)
        self.reservoir = Reservoir(s.reservoir_rows, seed=s.seed)
        self.ensemble: Ensemble | None = None
        self.predictor: Predictor | None = None
        self.versions: dict[str, int] = {}
        self.window = DriftWindow(s.drift_window_rows)
        self.drift_reports: list[DriftReport] = []
        self.dirty = False
        self._lock = threading.Lock()
        self._drift_at: float | None = None
        self._models_changed = False
        self._now = -math.inf
        self._reservoir_blob: bytes | None = None
        self._reservoir_at = -math.inf
        self._reservoir_seen = 0

    # -- models -----------------------------------------------------------------------
    def set_models(self, ensemble: Ensemble | None, predictor: Predictor | None,
                   versions: dict[str, int] | None = None) -> None:
        """Swap in the active models (from any thread); a model built on another
        feature version is refused."""
        for model in (ensemble, predictor):
            if model is not None and model.feature_version != FEATURE_VERSION:
                raise ValueError(f"model built on feature version {model.feature_version}, "
                                 f"this ottwatch computes version {FEATURE_VERSION}")
        with self._lock:
            self.ensemble, self.predictor = ensemble, predictor
            self.versions = dict(versions or {})
            self._models_changed = True

    @property
    def status(self) -> str:
        s = self.settings
        if self.ensemble is None or self.ensemble.samples < s.min_samples:
            have = self.ensemble.samples if self.ensemble is not None else self.reservoir.seen
            anomaly = (f"cold start: rules only until {s.min_samples} samples "
                       f"({have} so far)")
        else:
            anomaly = (f"anomaly ensemble v{self.versions.get('ensemble', '?')} "
                       f"({self.ensemble.samples} samples, {s.combine} >= {s.anomaly_cut:g})")
        if self.predictor is None:
            prediction = "no violation predictor yet (needs confirmed violations)"
        else:
            prediction = (f"violation predictor v{self.versions.get('predictor', '?')} "
                          f"({self.predictor.positives} confirmed violations, "
                          f"threshold {s.likely_threshold:g})")
        return f"{anomaly}; {prediction}"

    # -- scoring ----------------------------------------------------------------------
    def process(self, batch: Batch) -> None:
        if not batch.events:
            return
        rows = self.extractor.transform_batch(batch)
        X = rows.matrix()
        batch.columns["features"] = X
        with self._lock:
            self.reservoir.add(rows, [e.event_id for e in batch.events])
            ensemble, predictor = self.ensemble, self.predictor
            if self._models_changed:  # the drift window belongs to the ingest thread
                self._models_changed = False
                self.window.clear()
                self._drift_at = None
        scores: dict[str, np.ndarray] = {}
        if ensemble is not None or predictor is not None:
            with _thread_pools().limit(limits=1):
                self._score(batch, X, ensemble, predictor, scores)
        if scores:
            self.window.add(X, scores)
            self._check_drift(batch, ensemble, predictor)
        self._now = batch.now
        self.dirty = True  # the pipeline decides how often a snapshot is stored

    def _score(self, batch: Batch, X: np.ndarray, ensemble: Ensemble | None,
               predictor: Predictor | None, scores: dict[str, np.ndarray]) -> None:
        s = self.settings
        if ensemble is not None and ensemble.samples >= s.min_samples:
            result = ensemble.score(X, combine=s.combine, cut=s.anomaly_cut)
            scores["ensemble"] = result.forest_raw
            batch.columns["anomaly"] = result.combined
            version = self.versions.get("ensemble", "?")
            for i in np.flatnonzero(result.flagged).tolist():
                batch.add(i, ANOMALY_CODE, s.anomaly_weight,
                          f"anomaly score {result.combined[i]:.3f} (IsolationForest "
                          f"{result.forest[i]:.3f}, LOF {result.lof[i]:.3f}; {s.combine} "
                          f">= {s.anomaly_cut:g}; ensemble v{version})")
        if predictor is not None:
            likelihood = predictor.likelihood(X)
            scores["predictor"] = likelihood
            batch.columns["likelihood"] = likelihood
            version = self.versions.get("predictor", "?")
            for i in np.flatnonzero(likelihood >= s.likely_threshold).tolist():
                batch.add(i, PREDICTION_CODE, s.likely_weight,
                          f"violation likelihood {likelihood[i]:.2f} >= "
                          f"{s.likely_threshold:g} (predictor v{version})")

    def _check_drift(self, batch: Batch, ensemble: Ensemble | None,
                     predictor: Predictor | None) -> None:
        s = self.settings
        if self._drift_at is None:
            self._drift_at = batch.now
        if batch.now - self._drift_at < s.drift_interval_s or self.window.count < s.drift_min_rows:
            return
        self._drift_at = batch.now
        X = self.window.matrix()
        reports = []
        for name, model in (("ensemble", ensemble), ("predictor", predictor)):
            if model is None or name not in self.window.scores:
                continue
            reports.append(check(name, self.versions.get(name, 0), model.baseline, X,
                                 self.window.values(name), now=batch.now,
                                 psi_threshold=s.drift_psi_threshold,
                                 ks_threshold=s.drift_ks_threshold))
        with self._lock:
            self.drift_reports.extend(reports)
        finding = drift_finding(reports, batch.now)
        if finding is not None:
            batch.findings.append(finding)

    def take_drift_reports(self) -> list[DriftReport]:
        with self._lock:
            reports, self.drift_reports = self.drift_reports, []
        return reports

    def sample_rows(self) -> Sample:
        """The training reservoir: a uniform sample of the feature rows seen."""
        with self._lock:
            return self.reservoir.sample()

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Per-user state as of now; the reservoir as of its last packing, repacked
        every `reservoir_snapshot_s` of batch time (a few minutes of replacements lost
        in a crash leave it a uniform sample of what it had seen), and whenever the rows
        seen have doubled since (early on, the sample changes fastest)."""
        if self._reservoir_blob is None or \
                self._now - self._reservoir_at >= self.settings.reservoir_snapshot_s or \
                self.reservoir.seen >= 2 * self._reservoir_seen:
            self._reservoir_seen = self.reservoir.seen
            self._reservoir_blob = self._pack_reservoir()
            self._reservoir_at = self._now
        users = zlib.compress(orjson.dumps(list(self.extractor.users.items())), 1)
        meta = {"v": SNAPSHOT_VERSION, "features": FEATURE_VERSION}
        buffer = io.BytesIO()
        np.savez(buffer, meta=_bytes(json.dumps(meta).encode()), users=_bytes(users),
                 reservoir=_bytes(self._reservoir_blob))
        return buffer.getvalue()

    def repack(self) -> None:
        """The next snapshot packs the reservoir as it is (a clean shutdown)."""
        self._reservoir_blob = None

    def _pack_reservoir(self) -> bytes:
        with self._lock:
            reservoir = self.reservoir
            meta = {"seen": reservoir.seen, "rng": reservoir.rng.bit_generator.state,
                    "n_features": len(FEATURES)}
            buffer = io.BytesIO()
            np.savez(buffer, meta=_bytes(json.dumps(meta).encode()),
                     ids=_bytes(orjson.dumps(reservoir.event_ids())), **reservoir.arrays())
        return zlib.compress(buffer.getvalue(), 1)

    def restore(self, data: bytes) -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes())
            if meta.get("v") != SNAPSHOT_VERSION:
                raise ValueError(f"learning snapshot version {meta.get('v')!r} is not "
                                 f"{SNAPSHOT_VERSION}")
            self.extractor.load(orjson.loads(zlib.decompress(archive["users"].tobytes())))
            packed = archive["reservoir"].tobytes()
        if meta.get("features") == FEATURE_VERSION:  # else: sample again from scratch
            with np.load(io.BytesIO(zlib.decompress(packed)), allow_pickle=False) as part:
                state = json.loads(part["meta"].tobytes())
                arrays = {name: part[name] for name in
                          ("numeric", "types", "segments", "reasons")}
                self.reservoir.load(arrays, orjson.loads(part["ids"].tobytes()),
                                    int(state["seen"]))
                self.reservoir.rng.bit_generator.state = state["rng"]
            self._reservoir_blob = packed
            self._reservoir_seen = self.reservoir.seen
        self.dirty = False


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)
