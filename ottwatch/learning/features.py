"""The one feature extractor that training and scoring share.

`FeatureExtractor.transform` turns a micro-batch into compact `FeatureRows`
(numeric columns, an event-type index, a segment index and a bit set of the
rule reasons already fired), updating bounded per-user state (usual place,
known devices and IPs, recent event rate) as it goes; `FeatureRows.matrix()`
expands them into the model matrix whose columns are `FEATURES`.

Per event the extractor does a few dict and list operations; everything else
(time of day, one-hot columns, distances, logarithms) is vectorised per batch.
A change to `FEATURES` or to how a column is computed bumps `FEATURE_VERSION`:
models trained on another version are not loaded.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ottwatch.events import EVENT_TYPES, Event
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch, Reason
from ottwatch.stages.segments import SEGMENTS
from ottwatch.vocabulary import DAY_S

FEATURE_VERSION = 1

NUMERIC = (
    "hour_sin", "hour_cos", "weekday",  # local time when the user's usual place is known
    "error", "consent",  # consent: 1 given, 0 not given, 0.5 unknown
    "geo_known", "geo_km_log",  # log10(1 + km from the user's usual place)
    "device_new", "ip_new",  # not among the user's remembered devices / IPs
    "recent_events_log",  # log10(1 + the user's event count decaying over the window)
    "bytes_log", "reason_weight", "reason_count",  # rule reasons: weight sum / 100, count
)
TYPE_VOCAB = (*sorted(EVENT_TYPES), "other")
SEGMENT_VOCAB = SEGMENTS
# Rule reasons an event can carry when the learning stage sees it (the learning
# stage's own codes are left out: a model must not learn from its own output).
RULE_CODES = (
    "input.attack_pattern", "geo.claimed_region_mismatch", "geo.anonymizer",
    "geo.impossible_travel", "auth.failure_burst", "account.takeover_pattern",
    "stream.concurrency_exceeded", "data.bulk_export", "velocity.access_spike",
    "consent.missing", "regulation.dsar_overdue", "regulation.deletion_overdue",
    "regulation.breach_notification_late", "ring.member",
)
ANOMALY_CODE = "anomaly.model"
PREDICTION_CODE = "prediction.violation_likely"
LEARNING_CODES = frozenset({ANOMALY_CODE, PREDICTION_CODE})

FEATURES: tuple[str, ...] = (
    *NUMERIC,
    *(f"type={t}" for t in TYPE_VOCAB),
    *(f"segment={s}" for s in SEGMENT_VOCAB),
    *(f"reason={c}" for c in RULE_CODES),
)
N_NUMERIC = len(NUMERIC)
TYPE_START = N_NUMERIC
SEGMENT_START = TYPE_START + len(TYPE_VOCAB)
REASON_START = SEGMENT_START + len(SEGMENT_VOCAB)
N_FEATURES = len(FEATURES)
# Columns drift checks leave out: a recent window of hours never covers the
# baseline's times of day and weekdays.
DRIFT_EXEMPT = frozenset({"hour_sin", "hour_cos", "weekday"})

TYPE_INDEX = {name: i for i, name in enumerate(TYPE_VOCAB)}
OTHER_TYPE = TYPE_INDEX["other"]
SEGMENT_INDEX = {name: i for i, name in enumerate(SEGMENT_VOCAB)}
REASON_BIT = {code: 1 << i for i, code in enumerate(RULE_CODES)}
CONSENT_EVENTS = {"consent_granted": True, "consent_withdrawn": False}
USUAL_PLACE_MEMORY = 20  # the usual place is a running mean over about this many sightings
EARTH_KM = 6371.0088
_LOG10 = 1.0 / math.log(10.0)

# Per-user state, a list for speed: [last_ts, rate, lat, lon, located, consent, devices,
# ips].
LAST, RATE, LAT, LON, LOCATED, CONSENT, DEVICES, IPS = range(8)


@dataclass(slots=True)
class FeatureRows:
    """Compact feature rows: what the reservoir keeps and `matrix()` expands."""

    numeric: np.ndarray  # float32 (n, N_NUMERIC)
    types: np.ndarray  # uint8 index into TYPE_VOCAB
    segments: np.ndarray  # int8 index into SEGMENT_VOCAB, -1 unknown
    reasons: np.ndarray  # uint32 bit set over RULE_CODES

    def __len__(self) -> int:
        return len(self.types)

    def matrix(self) -> np.ndarray:
        """The model matrix (float32, C order), columns as `FEATURES`."""
        n = len(self.types)
        out = np.zeros((n, N_FEATURES), dtype=np.float32)
        out[:, :N_NUMERIC] = self.numeric
        rows = np.arange(n)
        out[rows, TYPE_START + self.types.astype(np.intp)] = 1.0
        known = self.segments >= 0
        out[rows[known], SEGMENT_START + self.segments[known].astype(np.intp)] = 1.0
        if self.reasons.any():
            bits = (self.reasons[:, None] >> np.arange(len(RULE_CODES), dtype=np.uint32)) & 1
            out[:, REASON_START:] = bits
        return out

    def take(self, index: np.ndarray | slice) -> FeatureRows:
        return FeatureRows(self.numeric[index], self.types[index], self.segments[index],
                           self.reasons[index])

    @classmethod
    def empty(cls, n: int = 0) -> FeatureRows:
        return cls(np.zeros((n, N_NUMERIC), np.float32), np.zeros(n, np.uint8),
                   np.full(n, -1, np.int8), np.zeros(n, np.uint32))

    @classmethod
    def concat(cls, parts: Sequence[FeatureRows]) -> FeatureRows:
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.numeric for p in parts]),
                   np.concatenate([p.types for p in parts]),
                   np.concatenate([p.segments for p in parts]),
                   np.concatenate([p.reasons for p in parts]))


def reason_bits(reasons: Sequence[Reason]) -> tuple[int, float, int]:
    """(bit set of known rule codes, summed rule weight, rule reason count)."""
    bits = 0
    weight = 0.0
    count = 0
    for reason in reasons:
        code = reason.code
        if code in LEARNING_CODES:
            continue
        bits |= REASON_BIT.get(code, 0)
        weight += reason.weight
        count += 1
    return bits, weight, count


class FeatureExtractor:
    """Events -> `FeatureRows`, remembering per user (LRU, `max_users`) the usual
    place, the last `devices_per_user` devices and IPs, and a recent-event rate
    decaying over `recent_window_s`."""

    def __init__(self, *, max_users: int = 100_000, devices_per_user: int = 8,
                 recent_window_s: float = 3600.0) -> None:
        self.max_users = max_users
        self.devices_per_user = devices_per_user
        self.recent_window_s = recent_window_s
        self.users: OrderedDict[str, list[Any]] = OrderedDict()

    def transform_batch(self, batch: Batch) -> FeatureRows:
        return self.transform(batch.events, batch.reasons, batch.columns.get("geo"),
                              batch.columns.get("segment"))

    def transform(self, events: Sequence[Event], reasons: Sequence[Sequence[Reason]],
                  geo: Sequence[GeoHit | None] | None = None,
                  segments: Sequence[str] | None = None) -> FeatureRows:
        n = len(events)
        if n == 0:
            return FeatureRows.empty()
        users = self.users
        move = users.move_to_end
        keep = self.devices_per_user
        inv_window = 1.0 / self.recent_window_s
        exp = math.exp
        ts_col: list[float] = []
        offset_col: list[float] = []
        error_col: list[float] = []
        consent_col: list[float] = []
        device_col: list[float] = []
        ip_col: list[float] = []
        recent_col: list[float] = []
        bytes_col: list[float] = []
        types: list[int] = []
        bits_col: list[int] = []
        weight_col: list[float] = []
        count_col: list[int] = []
        located: list[tuple[int, float, float, float, float]] = []
        type_index = TYPE_INDEX
        other = OTHER_TYPE
        for i, event in enumerate(events):
            user_id = event.user_id
            ts = event.ts
            state = users.get(user_id)
            if state is None:
                state = [ts, 0.0, 0.0, 0.0, 0, None, [], []]
                users[user_id] = state
            else:
                move(user_id)
            gap = ts - state[LAST]
            rate = state[RATE] * exp(-gap * inv_window) + 1.0 if gap > 0 else state[RATE] + 1.0
            state[RATE] = rate
            if gap > 0:
                state[LAST] = ts
            recent_col.append(rate)
            ts_col.append(ts)
            offset_col.append(round(state[LON] / 15.0) * 3600.0 if state[LOCATED] else 0.0)

            device_col.append(_novel(state[DEVICES], event.device_id, keep))
            ip_col.append(_novel(state[IPS], event.ip_address, keep))

            event_type = event.event_type
            consent = CONSENT_EVENTS.get(event_type, event.has_consent)
            if consent is None:
                consent = state[CONSENT]
            else:
                state[CONSENT] = consent
            consent_col.append(0.5 if consent is None else (1.0 if consent else 0.0))
            error_col.append(0.0 if event.error_code is None else 1.0)
            volume = event.bytes
            bytes_col.append(0.0 if volume is None else float(volume))
            types.append(type_index.get(event_type, other))

            fired = reasons[i]
            if fired:
                bits, weight, count = reason_bits(fired)
                bits_col.append(bits)
                weight_col.append(weight)
                count_col.append(count)
            else:
                bits_col.append(0)
                weight_col.append(0.0)
                count_col.append(0)

            if geo is not None:
                hit = geo[i]
                if hit is not None and hit.lat is not None and hit.lon is not None \
                        and hit.anonymizer is None:  # an exit node's place is not the user's
                    sightings = state[LOCATED]
                    if sightings:
                        located.append((i, hit.lat, hit.lon, state[LAT], state[LON]))
                        step = 1.0 / min(sightings + 1, USUAL_PLACE_MEMORY)
                        state[LAT] += (hit.lat - state[LAT]) * step
                        state[LON] += (hit.lon - state[LON]) * step
                    else:
                        state[LAT], state[LON] = hit.lat, hit.lon
                    state[LOCATED] = sightings + 1
        while len(users) > self.max_users:
            users.popitem(last=False)

        local = np.asarray(ts_col) + np.asarray(offset_col)
        angle = (local % DAY_S) * (2.0 * math.pi / DAY_S)
        geo_known = np.zeros(n)
        geo_km_log = np.zeros(n)
        if located:
            at = np.asarray(located)
            rows = at[:, 0].astype(np.intp)
            geo_known[rows] = 1.0
            geo_km_log[rows] = np.log1p(haversine_km(at[:, 1], at[:, 2], at[:, 3], at[:, 4])
                                        ) * _LOG10
        columns = {
            "hour_sin": np.sin(angle), "hour_cos": np.cos(angle),
            "weekday": (np.floor(local / DAY_S) + 3.0) % 7.0,  # 1970-01-01: a Thursday
            "error": error_col, "consent": consent_col,
            "geo_known": geo_known, "geo_km_log": geo_km_log,
            "device_new": device_col, "ip_new": ip_col,
            "recent_events_log": np.log1p(np.asarray(recent_col)) * _LOG10,
            "bytes_log": np.log1p(np.asarray(bytes_col)) * _LOG10,
            "reason_weight": np.minimum(np.asarray(weight_col), 100.0) / 100.0,
            "reason_count": count_col,
        }
        numeric = np.empty((n, N_NUMERIC), dtype=np.float32)
        for index, name in enumerate(NUMERIC):
            numeric[:, index] = columns[name]
        return FeatureRows(numeric, np.asarray(types, dtype=np.uint8),
                           _segment_indexes(segments, n), np.asarray(bits_col, dtype=np.uint32))

    # -- state ------------------------------------------------------------------------
    def load(self, items: list[list[Any]]) -> None:
        """State as `list(self.users.items())` gave it (through JSON)."""
        self.users = OrderedDict((user_id, state) for user_id, state in items)
        while len(self.users) > self.max_users:
            self.users.popitem(last=False)


def _novel(known: list[str], value: str | None, keep: int) -> float:
    """1.0 when `value` is not among the remembered values (which it then joins)."""
    if value is None:
        return 0.0
    if value in known:
        if known[-1] != value:
            known.remove(value)
            known.append(value)
        return 0.0
    known.append(value)
    if len(known) > keep:
        del known[0]
    return 1.0


def _segment_indexes(segments: Sequence[str] | None, n: int) -> np.ndarray:
    if segments is None:
        return np.full(n, -1, np.int8)
    index = SEGMENT_INDEX
    return np.fromiter((index.get(s, -1) for s in segments), dtype=np.int8, count=n)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
                 ) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
