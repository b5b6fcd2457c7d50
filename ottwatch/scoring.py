"""The adaptive scorer: reasons -> a 0..100 score by noisy-OR, against a review
threshold that moves with the hour (UTC), the region and the user's segment.

score = 100 * (1 - prod(1 - w_i / 100)): several weak reasons add up, one
reason of weight w alone scores w, and nothing exceeds 100.

review threshold = clamp(base + night + region + segment, min, max), where
`region` and part of `segment` are learned from outcomes (violation rates,
shrunk towards the global rate) and the rest of `segment` is configured.
block threshold = min(100, review + gap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ottwatch.pipeline import Assessment, Batch, Reason, decision_for, level_for

HOUR_S = 3600
UNKNOWN = "?"
CACHE_LIMIT = 10_000  # (night, region, segment) keys; claimed regions come from input
STATE_VERSION = 1

# (region, segment, was_violation) -> how many assessed events
OutcomeCounts = Mapping[tuple[str | None, str | None, bool], int]


class ScoringSettings(BaseModel):
    """`[scoring]` in the config: the scorer's keys. Its sub-tables (`segments`,
    `learning`, `roi`) are other parts' sections, added to it by the config's schema."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] = Field(default_factory=dict)
    base_threshold: float = Field(50.0, ge=0, le=100)
    min_threshold: float = Field(20.0, ge=0, le=100)
    max_threshold: float = Field(80.0, ge=0, le=100)
    block_gap: float = Field(30.0, ge=0, le=100)
    night_start_hour: int = Field(0, ge=0, le=24)
    night_end_hour: int = Field(6, ge=0, le=24)
    night_delta: float = -10.0
    segment_deltas: dict[str, float] = Field(
        default_factory=lambda: {"suspicious": -15.0, "new": -5.0, "power": 10.0})
    # Learning: a group's violation rate is shrunk towards the global rate as if
    # `learn_prior` more events at the global rate had been seen; a rate twice the
    # global one (or more) moves the threshold by `learn_max_delta`.
    learn_prior: float = Field(200.0, ge=0)
    learn_max_delta: float = Field(15.0, ge=0, le=100)
    learn_segments: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> ScoringSettings:
        if self.min_threshold > self.max_threshold:
            raise ValueError("min_threshold is above max_threshold")
        for code, weight in self.weights.items():
            if not 0 <= weight <= 100:
                raise ValueError(f"weights.{code} must be between 0 and 100")
        return self

    @classmethod
    def from_scoring(cls, scoring: Mapping[str, Any]) -> ScoringSettings:
        """A whole `[scoring]` table, sub-tables included, validated as the config does."""
        from ottwatch.config import section_model

        parsed = section_model("scoring").model_validate(scoring)
        assert isinstance(parsed, ScoringSettings)
        return parsed

    def is_night(self, hour: int) -> bool:
        start, end = self.night_start_hour, self.night_end_hour
        if start <= end:
            return start <= hour < end
        return hour >= start or hour < end


@dataclass
class ThresholdState:
    """What learning found: threshold deltas per region and per segment."""

    region_deltas: dict[str, float] = field(default_factory=dict)
    segment_deltas: dict[str, float] = field(default_factory=dict)
    global_rate: float | None = None
    samples: int = 0
    violations: int = 0
    learned_at: float | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps({"v": STATE_VERSION, "regions": self.region_deltas,
                             "segments": self.segment_deltas, "global_rate": self.global_rate,
                             "samples": self.samples, "violations": self.violations,
                             "learned_at": self.learned_at})

    @classmethod
    def from_bytes(cls, data: bytes) -> ThresholdState:
        raw = orjson.loads(data)
        if raw.get("v") != STATE_VERSION:
            raise ValueError(f"threshold state version {raw.get('v')!r} is not {STATE_VERSION}")
        return cls(region_deltas=dict(raw["regions"]), segment_deltas=dict(raw["segments"]),
                   global_rate=raw["global_rate"], samples=raw["samples"],
                   violations=raw["violations"], learned_at=raw["learned_at"])


def _heaviest_first(reason: Reason) -> float:
    return -reason.weight


def noisy_or(weights: Iterable[float]) -> float:
    """100 * (1 - prod(1 - w/100)), each weight clamped to 0..100."""
    keep = 1.0
    for weight in weights:
        keep *= 1.0 - min(100.0, max(0.0, weight)) / 100.0
    return 100.0 * (1.0 - keep)


def shrunk_deltas(groups: Mapping[str, tuple[int, int]], global_rate: float, prior: float,
                  max_delta: float) -> dict[str, float]:
    """(violations, total) per group -> threshold delta per group.

    A group's rate is shrunk towards `global_rate` with `prior` pseudo-events; its
    relative excess over the global rate, capped at +-100%, scales `max_delta`
    (negative: a riskier group gets a lower, stricter threshold).
    """
    if not 0.0 < global_rate < 1.0:
        return {}
    out = {}
    for key, (violations, total) in groups.items():
        if total <= 0:
            continue
        rate = (violations + prior * global_rate) / (total + prior)
        excess = max(-1.0, min(1.0, (rate - global_rate) / global_rate))
        delta = round(-max_delta * excess, 2)
        if delta:
            out[key] = delta
    return out


class AdaptiveScorer:
    """A `Scorer` with learned thresholds; `dirty`/`snapshot`/`restore` like a
    `StatefulStage` so its `ThresholdState` survives restarts (under `name`)."""

    name: ClassVar[str] = "thresholds"

    def __init__(self, settings: ScoringSettings | None = None,
                 state: ThresholdState | None = None) -> None:
        self.settings = settings or ScoringSettings()
        self.state = state or ThresholdState()
        self.dirty = False
        self._night = tuple(self.settings.is_night(hour) for hour in range(24))
        # (night, region, segment) -> (review, block, level and decision of a score of 0)
        self._cache: dict[tuple[bool, str | None, str | None],
                          tuple[float, float, str, str]] = {}

    # -- thresholds ------------------------------------------------------------
    def thresholds(self, ts: float, region: str | None, segment: str | None
                   ) -> tuple[float, float]:
        """(review, block) thresholds for an event at `ts` in `region` and `segment`."""
        return self._cached(self._night[int(ts // HOUR_S) % 24], region, segment)[:2]

    def _cached(self, night: bool, region: str | None, segment: str | None
                ) -> tuple[float, float, str, str]:
        cache = self._cache  # read before the state: `learn` swaps the state, then the cache
        key = (night, region, segment)
        found = cache.get(key)
        if found is None:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            review, block = self._thresholds(night, region, segment)
            found = cache[key] = (review, block, level_for(0.0, review, block),
                                  decision_for(0.0, review, block))
        return found

    def _thresholds(self, night: bool, region: str | None, segment: str | None
                    ) -> tuple[float, float]:
        s, state = self.settings, self.state
        review = s.base_threshold
        if night:
            review += s.night_delta
        review += state.region_deltas.get(region or UNKNOWN, 0.0)
        if segment is not None:
            review += s.segment_deltas.get(segment, 0.0)
            review += state.segment_deltas.get(segment, 0.0)
        review = round(min(s.max_threshold, max(s.min_threshold, review)), 2)
        return review, round(min(100.0, review + s.block_gap), 2)

    # -- scoring ---------------------------------------------------------------
    def score(self, batch: Batch) -> list[Assessment]:
        overrides = self.settings.weights
        segments = batch.columns.get("segment")
        if segments is None:
            segments = [None] * len(batch.events)
        night_by_hour = self._night
        cache, cached = self._cache, self._cached
        out = []
        append = out.append
        for event, reasons, segment in zip(batch.events, batch.reasons, segments, strict=True):
            ts = event.ts
            key = (night_by_hour[int(ts // HOUR_S) % 24], event.region, segment)
            review, block, level, decision = cache.get(key) or cached(*key)
            if reasons:
                if overrides:
                    reasons = [Reason(r.code, overrides[r.code], r.detail, r.about)
                               if r.code in overrides else r for r in reasons]
                score = round(noisy_or(r.weight for r in reasons), 2)
                if len(reasons) > 1:
                    reasons = sorted(reasons, key=_heaviest_first)
                level = level_for(score, review, block)
                decision = decision_for(score, review, block)
            else:  # most events: nothing fired
                score, reasons = 0.0, []
            append(Assessment(event.event_id, event.user_id, ts, event.timestamp, score, level,
                              decision, review, reasons))
        return out

    # -- learning --------------------------------------------------------------
    def learn(self, outcomes: OutcomeCounts, *, now: float | None = None) -> ThresholdState:
        """Relearn region and segment deltas from (region, segment, was_violation) counts."""
        regions: dict[str, list[int]] = {}
        segments: dict[str, list[int]] = {}
        for (region, segment, was_violation), n in outcomes.items():
            hits = n if was_violation else 0
            for groups, key in ((regions, region), (segments, segment)):
                tally = groups.setdefault(key or UNKNOWN, [0, 0])
                tally[0] += hits
                tally[1] += n
        samples = sum(total for _, total in regions.values())
        violations = sum(hits for hits, _ in regions.values())
        global_rate = violations / samples if samples else None
        s = self.settings
        learned = ThresholdState(samples=samples, violations=violations,
                                 global_rate=global_rate, learned_at=now)
        if global_rate is not None:
            learned.region_deltas = shrunk_deltas(
                {k: (v[0], v[1]) for k, v in regions.items()}, global_rate, s.learn_prior,
                s.learn_max_delta)
            if s.learn_segments:
                learned.segment_deltas = shrunk_deltas(
                    {k: (v[0], v[1]) for k, v in segments.items() if k != UNKNOWN},
                    global_rate, s.learn_prior, s.learn_max_delta)
        self._use(learned)
        self.dirty = True
        return learned

    # -- persistence -----------------------------------------------------------
    def snapshot(self) -> bytes:
        return self.state.to_bytes()

    def restore(self, data: bytes) -> None:
        self._use(ThresholdState.from_bytes(data))
        self.dirty = False

    def _use(self, state: ThresholdState) -> None:
        """Safe while another thread scores: a fresh cache, published after the state."""
        self.state = state
        self._cache = {}

