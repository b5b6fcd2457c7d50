"""The scoring pipeline: stages that add weighted reasons to a micro-batch of
events, and a scorer that turns reasons into an assessment.

A stage is a pure computation over the batch and its own state: no database,
no network, no clock of its own (`batch.now` is the injected clock's time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from ottwatch.events import Event

LEVELS = ("low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}


@dataclass(slots=True, frozen=True)
class Reason:
    code: str
    weight: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "weight": round(self.weight, 2), "detail": self.detail}


@dataclass(slots=True)
class Assessment:
    event_id: str
    user_id: str
    ts: float
    timestamp: str
    score: float
    level: str
    decision: str
    threshold: float
    reasons: list[Reason]

    @property
    def top_code(self) -> str | None:
        return max(self.reasons, key=lambda r: r.weight).code if self.reasons else None


@dataclass(slots=True)
class Finding:
    """Something a stage found that is not one event's reason: a deadline passed,
    a ring grew, a model drifted. Findings become alerts."""

    code: str
    severity: str
    ts: float
    title: str
    detail: str = ""
    user_id: str | None = None
    ring_id: str | None = None
    request_id: str | None = None
    regulation: str | None = None
    event_ids: list[str] = field(default_factory=list)


@dataclass
class Batch:
    events: list[Event]
    now: float
    reasons: list[list[Reason]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Stage outputs other stages may read (e.g. geo lookups, feature matrices).
    columns: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reasons:
            self.reasons = [[] for _ in self.events]

    def add(self, index: int, code: str, weight: float, detail: str) -> None:
        self.reasons[index].append(Reason(code, weight, detail))

    def __len__(self) -> int:
        return len(self.events)


@runtime_checkable
class Stage(Protocol):
    name: ClassVar[str]

    def process(self, batch: Batch) -> None:
        """Add reasons (and findings) for the events of the batch, updating own state."""


@runtime_checkable
class TimedStage(Stage, Protocol):
    def tick(self, now: float) -> list[Finding]:
        """Findings that are due at `now` even if no event arrives (deadlines)."""


class Scorer(Protocol):
    def score(self, batch: Batch) -> list[Assessment]: ...


class SumScorer:
    """Reasons' weights add up to the score, capped at 100; fixed level cut-points.
    The adaptive scorer of the scoring stages replaces it."""

    def __init__(self, review_at: float = 40.0, block_at: float = 80.0) -> None:
        self.review_at = review_at
        self.block_at = block_at

    def score(self, batch: Batch) -> list[Assessment]:
        out = []
        for event, reasons in zip(batch.events, batch.reasons, strict=True):
            score = min(100.0, sum(r.weight for r in reasons))
            out.append(
                Assessment(
                    event_id=event.event_id,
                    user_id=event.user_id,
                    ts=event.ts,
                    timestamp=event.timestamp,
                    score=round(score, 2),
                    level=level_for(score, self.review_at, self.block_at),
                    decision=decision_for(score, self.review_at, self.block_at),
                    threshold=self.review_at,
                    reasons=sorted(reasons, key=lambda r: -r.weight),
                )
            )
        return out


def level_for(score: float, review_at: float, block_at: float) -> str:
    if score >= block_at:
        return "critical"
    if score >= (review_at + block_at) / 2:
        return "high"
    if score >= review_at:
        return "medium"
    return "low"


def decision_for(score: float, review_at: float, block_at: float) -> str:
    if score >= block_at:
        return "block"
    if score >= review_at:
        return "review"
    return "allow"


@dataclass
class PipelineResult:
    assessments: list[Assessment]
    findings: list[Finding]


class Pipeline:
    def __init__(self, stages: Sequence[Stage] = (), scorer: Scorer | None = None,
                 *, assess: bool = True) -> None:
        self.stages = list(stages)
        self.scorer = scorer if scorer is not None else SumScorer()
        self.assess = assess

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def run(self, events: list[Event], now: float) -> PipelineResult:
        batch = Batch(events=events, now=now)
        for stage in self.stages:
            stage.process(batch)
        findings = batch.findings + self.tick(now)
        assessments = self.scorer.score(batch) if events and self.assess else []
        return PipelineResult(assessments, findings)

    def tick(self, now: float) -> list[Finding]:
        found: list[Finding] = []
        for stage in self.stages:
            if isinstance(stage, TimedStage):
                found.extend(stage.tick(now))
        return found


def reasons_to_json(reasons: Iterable[Reason]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in reasons]
