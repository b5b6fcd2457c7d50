"""Helpers for the scoring tests: events at chosen times, and a real SQLite file
filled through `storage.writer.BatchWriter` (the agent's own write path)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from ottwatch.events import Event, ts_to_text
from ottwatch.pipeline import Assessment, Reason
from storage.tables import LabelRow
from storage.writer import BatchWriter

DAY = 86_400.0
# 2026-11-02 12:00 UTC: midday, far from the night window.
NOON = datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp()


def make_event(event_id: str, user_id: str = "u1", ts: float = NOON, event_type: str = "play",
               **fields: Any) -> Event:
    return Event(event_id=event_id, ts=ts, timestamp=ts_to_text(ts), user_id=user_id,
                 event_type=event_type, **fields)


def assessment_for(event: Event, reasons: Sequence[tuple[str, float, str]], *,
                   score: float | None = None, decision: str = "allow", level: str = "low",
                   threshold: float = 50.0) -> Assessment:
    found = [Reason(*r) for r in reasons]
    return Assessment(event_id=event.event_id, user_id=event.user_id, ts=event.ts,
                      timestamp=event.timestamp,
                      score=score if score is not None else max((r.weight for r in found),
                                                                default=0.0),
                      level=level, decision=decision, threshold=threshold, reasons=found)


@dataclass
class Filled:
    path: Path
    engine: Engine
    writer: BatchWriter
    now: float = NOON
    labels: list[dict[str, Any]] = field(default_factory=list)

    def write(self, events: Sequence[Event], assessments: Sequence[Assessment] = (),
              upserts: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.writer.write(events=events, quarantined=[], assessments=assessments, positions=[],
                          now=self.now, upserts=upserts)

    def label(self, event_id: str, label: str, note: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(LabelRow.__table__).values(
                event_id=event_id, label=label, note=note, created_by="analyst",
                created_at=self.now))
