"""What a windowed or filtered replay keeps. Every event read from the warm-up start on
is scored (detectors need history); before each commit, the batch is trimmed to the
events inside the window that match the filter, their assessments, and the alerts
raised inside the window. State (stage snapshots, users, timers, rings) is kept
whole: it is what the window's detections stand on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ottwatch.forensics.filters import EventFilter
from ottwatch.forensics.window import Window
from ottwatch.pipeline import Batch
from ottwatch.vocabulary import DAY_S

DEFAULT_WARM_S = 7 * DAY_S
NOBODY = frozenset({""})  # a ring not (yet) found: no account matches


@dataclass(slots=True)
class ScopeCounts:
    warmed: int = 0  # scored before the window, not stored
    outside: int = 0  # in the window but not matching the filter
    after: int = 0  # read past the window's end (the last chunk), not stored
    alerts_dropped: int = 0


@dataclass(slots=True)
class ReplayScope:
    window: Window
    only: EventFilter = field(default_factory=EventFilter)
    warm_s: float = DEFAULT_WARM_S
    ring_id: str | None = None
    counts: ScopeCounts = field(default_factory=ScopeCounts)
    # --ring: the ring's members as the replay finds them, asked at each batch (an
    # account's events count from when it is tied into the ring).
    ring_members: Callable[[], frozenset[str]] | None = None
    _kept: set[str] = field(default_factory=set)  # with a filter: the events stored so far

    @property
    def warm_from(self) -> float:
        return self.window.since - self.warm_s

    def trim(self, batch: Batch) -> None:
        if self.ring_members is not None:
            self.only = replace(self.only, ring_members=self.ring_members() or NOBODY)
        assessed = {a.event_id: a for a in batch.assessments}
        kept = []
        for event in batch.events:
            if event.ts < self.window.since:
                self.counts.warmed += 1
            elif event.ts >= self.window.until:
                self.counts.after += 1
            elif not self.only.matches(event, assessed.get(event.event_id)):
                self.counts.outside += 1
            else:
                kept.append(event)
        if not self.only.empty:
            self._kept.update(e.event_id for e in kept)
        if len(kept) != len(batch.events):
            ids = {e.event_id for e in kept}
            batch.events = kept
            batch.assessments = [a for a in batch.assessments if a.event_id in ids]
        alerts = batch.upserts.get("alerts")
        if alerts:
            inside = [row for row in alerts if self._alert_inside(row, batch)]
            self.counts.alerts_dropped += len(alerts) - len(inside)
            batch.upserts["alerts"] = inside
            deliveries = batch.upserts.get("deliveries")
            if deliveries:
                kept_ids = {row["alert_id"] for row in inside}
                batch.upserts["deliveries"] = [d for d in deliveries
                                               if d["alert_id"] in kept_ids]

    def _alert_inside(self, row: dict[str, object], batch: Batch) -> bool:
        at = row.get("updated_at")
        when = float(at) if isinstance(at, int | float) else batch.now
        if not self.window.contains(when):
            return False
        if self.only.empty:
            return True
        user = row.get("user_id")
        if user is not None and (user in self.only.users or user in self.only.ring_members):
            return True
        evidence = row.get("event_ids")
        return isinstance(evidence, list) and any(e in self._kept for e in evidence)
