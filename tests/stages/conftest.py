"""Hand-built events and a one-call way to run a stage over them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ottwatch.events import Event, ts_to_text
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch, Stage

T0 = 1_793_520_000.0  # 2026-11-01T08:00:00Z

EventFactory = Callable[..., Event]
StageRunner = Callable[..., Batch]


@pytest.fixture
def make_event() -> EventFactory:
    """`make_event("login", ts=T0 + 5, user_id="u2", ip_address="203.0.113.9")`: an
    `Event` with a fresh event_id, user `u1`, time `T0` and no optional fields."""
    numbers = itertools.count(1)

    def build(event_type: str = "play", *, ts: float = T0, user_id: str = "u1",
              **fields: Any) -> Event:
        event_id = fields.pop("event_id", f"evt-{next(numbers):06d}")
        return Event(event_id=event_id, ts=ts, timestamp=ts_to_text(ts), user_id=user_id,
                     event_type=event_type, **fields)

    return build


@pytest.fixture
def run_stage() -> StageRunner:
    """`run_stage(stage, events, geo=[...])`: one batch through `stage.process`."""

    def run(stage: Stage, events: Sequence[Event],
            geo: Sequence[GeoHit | None] | None = None) -> Batch:
        batch = Batch(events=list(events), now=max((e.ts for e in events), default=T0))
        if geo is not None:
            assert len(geo) == len(events), "one geo entry per event"
            batch.columns["geo"] = list(geo)
        stage.process(batch)
        return batch

    return run


def codes(batch: Batch) -> list[list[str]]:
    """The reason codes of each event of the batch."""
    return [[reason.code for reason in reasons] for reasons in batch.reasons]
