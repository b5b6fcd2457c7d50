"""The scoring pipeline: stages that add weighted reasons to a micro-batch of
events, and a scorer that turns reasons into an assessment.

A stage is a pure computation over the batch and its own state: no database,
no network, no clock of its own (`batch.now` is the injected clock's time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from ottwatch.events import Event

if TYPE_CHECKING:
    from ottwatch.alerts.sink import AlertSink
    from ottwatch.learning.stage import LearningStage
    from ottwatch.rings.stage import RingStage
    from ottwatch.scoring import AdaptiveScorer

T = TypeVar("T")

LEVELS = ("low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}


@dataclass(slots=True, frozen=True)
class Reason:
    code: str
    weight: float
    detail: str
    # What the reason is about when it is not the event's user (the regulation a consent
    # lapse falls under): alerts gather incidents by it. Not stored.
    about: str | None = None
    # From a detector in shadow mode: recorded, never scored or alerted on.
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.shadow:
            return {"code": self.code, "weight": round(self.weight, 2), "detail": self.detail,
                    "shadow": True}
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
        acting = [r for r in self.reasons if not r.shadow]
        return max(acting, key=lambda r: r.weight).code if acting else None


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
    # Rows to upsert in the batch's own transaction, by table name (see storage.writer).
    upserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    assessments: list[Assessment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reasons:
            self.reasons = [[] for _ in self.events]

    def add(self, index: int, code: str, weight: float, detail: str,
            about: str | None = None) -> None:
        self.reasons[index].append(Reason(code, weight, detail, about))

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self.upserts.setdefault(table, []).append(row)

    def __len__(self) -> int:
        return len(self.events)


@runtime_checkable
class Stage(Protocol):
    name: ClassVar[str]

    def process(self, batch: Batch) -> None:
        """Add reasons (and findings) for the events of the batch, updating own state."""


@runtime_checkable
class TimedStage(Stage, Protocol):
    def tick(self, batch: Batch) -> None:
        """Add findings that are due at `batch.now` even if no event arrives (deadlines).
        Called after `process` on every batch, and on an empty batch when idle."""


@runtime_checkable
class Stateful(Protocol):
    """State that must survive a restart (a stage's, the scorer's, a sink's). When
    `dirty`, its snapshot is stored in the same transaction as the batch that changed it."""

    name: ClassVar[str]
    dirty: bool

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...


@runtime_checkable
class Repackable(Protocol):
    """A `Stateful` part whose snapshot carries some state as of its last, throttled
    packing; `repack` makes the next snapshot carry all of it as of now."""

    def repack(self) -> None: ...


@runtime_checkable
class StatefulStage(Stage, Stateful, Protocol):
    """A stage with `Stateful` state."""


class Scorer(Protocol):
    def score(self, batch: Batch) -> list[Assessment]: ...


@runtime_checkable
class Sink(Protocol):
    """Runs after scoring, on the assessments and findings of the batch (and of idle
    ticks); what it adds to `batch.upserts` commits with the batch (e.g. alerts)."""

    name: ClassVar[str]

    def consume(self, batch: Batch) -> None: ...


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


@dataclass(frozen=True, slots=True)
class Handles:
    """The parts of a built pipeline that the runtime talks to, by name (the builder
    hands them out; nobody searches the stages and sinks for them). None: not built."""

    scorer: AdaptiveScorer | None = None
    alerts: AlertSink | None = None
    learning: LearningStage | None = None
    rings: RingStage | None = None


PartTimer = Callable[[str, float, int], None]
"""(part name, seconds, events in the batch), once per part per batch."""


class Pipeline:
    def __init__(self, stages: Sequence[Stage] = (), scorer: Scorer | None = None,
                 *, assess: bool = True, sinks: Sequence[Sink] = (),
                 persist_every_s: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 perf_counter: Callable[[], float] = time.perf_counter,
                 handles: Handles | None = None, shadow: Collection[str] = ()) -> None:
        self.stages = list(stages)
        # Stages in shadow mode: their reasons are kept out of the batch the later stages,
        # the scorer and the sinks see, and added to the assessments marked shadow.
        self.shadow = frozenset(shadow)
        # Told each part's seconds and event count per batch (the agent's /metrics);
        # None: nothing is timed.
        self.part_timer: PartTimer | None = None
        self._perf_counter = perf_counter
        self.handles = handles if handles is not None else Handles()
        self.sinks = list(sinks)
        # Snapshots cost time in proportion to the state; however often a stage marks
        # itself dirty, it is saved at most this often (wall time), and at shutdown.
        self.persist_every_s = persist_every_s
        self._monotonic = monotonic
        self._persisted: dict[str, float] = {}
        self._stateful_parts: list[Stateful] = []
        self._stateful_key: tuple[int, ...] = ()
        self.scorer = scorer if scorer is not None else SumScorer()
        self.assess = assess

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def run(self, events: list[Event], now: float) -> Batch:
        """Score a batch; the returned batch carries assessments, findings and upserts."""
        batch = Batch(events=events, now=now)
        shadowed: dict[int, list[Reason]] = {}
        for stage in self.stages:
            if stage.name in self.shadow:
                self._shadowed(stage, batch, shadowed)
            else:
                self._timed(stage.name, stage.process, batch)
        self._tick(batch)
        batch.assessments = self._timed("scorer", self.scorer.score, batch) \
            if events and self.assess else []
        for index, reasons in shadowed.items():
            if index < len(batch.assessments):
                batch.assessments[index].reasons = [*batch.assessments[index].reasons,
                                                    *reasons]
        self._sink(batch)
        self._persist(batch)
        return batch

    def tick(self, now: float) -> Batch:
        """Deadlines and other timed work with no new events."""
        batch = Batch(events=[], now=now)
        self._tick(batch)
        self._sink(batch)
        self._persist(batch)
        return batch

    def _shadowed(self, stage: Stage, batch: Batch, shadowed: dict[int, list[Reason]]) -> None:
        before = [len(reasons) for reasons in batch.reasons]
        self._timed(stage.name, stage.process, batch)
        for index, reasons in enumerate(batch.reasons):
            if len(reasons) > before[index]:
                shadowed.setdefault(index, []).extend(
                    replace(r, shadow=True) for r in reasons[before[index]:])
                del reasons[before[index]:]

    def _sink(self, batch: Batch) -> None:
        for sink in self.sinks:
            self._timed(sink.name, sink.consume, batch)

    def _timed(self, name: str, step: Callable[[Batch], T], batch: Batch) -> T:
        if self.part_timer is None:
            return step(batch)
        started = self._perf_counter()
        try:
            return step(batch)
        finally:
            self.part_timer(name, self._perf_counter() - started, len(batch.events))

    def _tick(self, batch: Batch) -> None:
        for stage in self.stages:
            if isinstance(stage, TimedStage):
                stage.tick(batch)

    def _stateful(self) -> list[Stateful]:
        # isinstance against a runtime protocol inspects every attribute: ask once per
        # line-up of parts
        parts = (*self.stages, self.scorer, *self.sinks)
        key = tuple(map(id, parts))
        if self._stateful_key != key:
            self._stateful_key = key
            self._stateful_parts = [part for part in parts if isinstance(part, Stateful)]
        return self._stateful_parts

    def save_state(self, now: float) -> Batch:
        """A batch carrying every part's snapshot now (a clean shutdown): a stage's own
        throttle may not have marked its latest changes dirty yet."""
        batch = Batch(events=[], now=now)
        for part in self._stateful():
            if isinstance(part, Repackable):
                part.repack()
        self._persist(batch, force=True)
        return batch

    def _persist(self, batch: Batch, *, force: bool = False) -> None:
        wall = self._monotonic()
        for stage in self._stateful():
            if stage.dirty or force:
                last = self._persisted.get(stage.name)
                if not force and last is not None and wall - last < self.persist_every_s:
                    continue
                self._persisted[stage.name] = wall
                batch.upsert("stage_state", {"name": stage.name, "updated_at": batch.now,
                                             "state": stage.snapshot()})
                stage.dirty = False

    def restore(self, states: dict[str, bytes]) -> None:
        for stage in self._stateful():
            if stage.name in states:
                stage.restore(states[stage.name])


def reasons_to_json(reasons: Iterable[Reason]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in reasons]
