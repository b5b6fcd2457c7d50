"""Outcome counts for `AdaptiveScorer.learn`, read from the database.

An assessed event is a confirmed violation when its latest label is
`violation`, or when it was blocked and nobody labelled it `benign` (a false
positive). Regions come from the events, segments from `user_state` (the
user's segment now, the closest the database keeps to the segment then).
"""

from __future__ import annotations

from sqlalchemy import Engine, case, func, select

from ottwatch.scoring import AdaptiveScorer, ThresholdState
from ottwatch.vocabulary import DAY_S
from storage.tables import AssessmentRow, EventRow, LabelRow, UserStateRow

ASSESSMENTS = AssessmentRow.__table__
EVENTS = EventRow.__table__
LABELS = LabelRow.__table__
USER_STATE = UserStateRow.__table__


def outcome_counts(engine: Engine, *, since: float, until: float | None = None
                   ) -> dict[tuple[str | None, str | None, bool], int]:
    """(region, segment, was_violation) -> assessed events with `since <= ts < until`."""
    newest = (select(func.max(LABELS.c.id).label("id"))
              .group_by(LABELS.c.event_id).subquery("newest"))
    label = (select(LABELS.c.event_id, LABELS.c.label)
             .join(newest, LABELS.c.id == newest.c.id).subquery("label"))
    violation = case(
        (label.c.label == "violation", 1),
        (label.c.label == "benign", 0),
        (ASSESSMENTS.c.decision == "block", 1),
        else_=0,
    ).label("violation")
    query = (
        select(EVENTS.c.region, USER_STATE.c.segment, violation, func.count().label("n"))
        .select_from(ASSESSMENTS)
        .join(EVENTS, EVENTS.c.event_id == ASSESSMENTS.c.event_id)
        .outerjoin(USER_STATE, USER_STATE.c.user_id == ASSESSMENTS.c.user_id)
        .outerjoin(label, label.c.event_id == ASSESSMENTS.c.event_id)
        .where(ASSESSMENTS.c.ts >= since)
        .group_by(EVENTS.c.region, USER_STATE.c.segment, violation)
    )
    if until is not None:
        query = query.where(ASSESSMENTS.c.ts < until)
    counts: dict[tuple[str | None, str | None, bool], int] = {}
    with engine.connect() as conn:
        for region, segment, was_violation, n in conn.execute(query):
            key = (region, segment, bool(was_violation))
            counts[key] = counts.get(key, 0) + n
    return counts


def relearn(engine: Engine, scorer: AdaptiveScorer, *, now: float,
            window_days: float = 90.0) -> ThresholdState:
    """Relearn the scorer's thresholds from the last `window_days` of outcomes; the
    scorer is left `dirty` so its snapshot is stored with the next batch."""
    counts = outcome_counts(engine, since=now - window_days * DAY_S, until=now)
    return scorer.learn(counts, now=now)
