"""`replay --compare B.toml`: a second pipeline, built from config B, scores every
batch the replay reads (one read of the input) and is compared with what config A
stored. B stores nothing and sends nothing; a windowed or filtered replay compares
what the window and filter keep, for both."""

from __future__ import annotations

from dataclasses import replace

from agent.replay_scope import ReplayScope
from ottwatch.config import Config
from ottwatch.events import Event
from ottwatch.forensics.compare import Comparison
from ottwatch.pipeline import Batch
from ottwatch.pipeline_build import build_pipeline


class SecondOpinion:
    def __init__(self, config: Config, scope: ReplayScope | None = None) -> None:
        self.pipeline = build_pipeline(config)
        if (alerts := self.pipeline.handles.alerts) is not None:
            alerts.event_time = True
            alerts.deliver = False
        self.scope = None if scope is None else replace(
            scope, counts=type(scope.counts)(), _kept=set())
        if self.scope is not None and self.scope.ring_id is not None:
            rings, ring_id = self.pipeline.handles.rings, self.scope.ring_id
            self.scope.ring_members = (lambda: rings.members(ring_id)) if rings else None
        self.comparison = Comparison()

    def watch(self, events: list[Event], now: float, stored: Batch) -> None:
        batch = self.pipeline.run(events, now) if events else self.pipeline.tick(now)
        if self.scope is not None:
            self.scope.trim(batch)
        self.comparison.observe(stored.assessments,
                                {a.event_id: a for a in batch.assessments})
        self.comparison.observe_alerts(stored.upserts.get("alerts", ()),
                                       batch.upserts.get("alerts", ()))

    def finish(self) -> Comparison:
        self.comparison.finish()
        return self.comparison
