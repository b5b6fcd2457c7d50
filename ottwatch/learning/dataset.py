"""The training set from the database: stored events replayed in time order
through the same feature extractor the stage uses, with the outcomes known now.

Each replayed batch carries the reasons its assessments recorded; `context`
stages (fresh geo and segment stages from the config, see
`ottwatch.learning.context`) rebuild the columns the extractor reads, and any
reason they add is dropped again, so the rows match what the stage computed.

Outcomes: an event's latest operator label wins (`violation` 1, `benign` 0); an
unlabelled event blocked by a rule (its top reason not a learning one) is a
confirmed violation (1); everything else is unlabelled (-1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine, and_, func, or_, select

from ottwatch.events import Event
from ottwatch.learning.features import LEARNING_CODES, FeatureExtractor, FeatureRows
from ottwatch.learning.metrics import held_out, stable_order
from ottwatch.learning.settings import LearningSettings
from ottwatch.pipeline import Batch, Reason, Stage
from ottwatch.vocabulary import DAY_S
from storage.tables import AssessmentRow, EventRow, LabelRow

EVENTS = EventRow.__table__
ASSESSMENTS = AssessmentRow.__table__
LABELS = LabelRow.__table__
PAGE = 5000
VIOLATION, BENIGN, UNLABELLED = 1, 0, -1
EVENT_COLUMNS = ("event_id", "ts", "timestamp", "user_id", "event_type", "device_id",
                 "ip_address", "region", "is_eu", "has_consent", "subscription_plan",
                 "content_id", "session_id", "payment_fingerprint", "bytes", "error_code",
                 "request_id")


@dataclass
class TrainingSet:
    rows: FeatureRows
    event_ids: np.ndarray  # object (str)
    ts: np.ndarray
    labels: np.ndarray  # int8: VIOLATION, BENIGN, UNLABELLED
    test_fraction: float
    since: float
    until: float
    _matrix: np.ndarray | None = field(default=None, repr=False)
    _held_out: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.event_ids)

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.rows.matrix()
        return self._matrix

    @property
    def held_out(self) -> np.ndarray:
        if self._held_out is None:
            self._held_out = held_out(self.event_ids.tolist(), self.test_fraction)
        return self._held_out

    @property
    def positives(self) -> np.ndarray:
        return self.labels == VIOLATION

    def evaluation_index(self, max_negatives: int) -> np.ndarray:
        """Held-out rows to evaluate on: every positive, and at most `max_negatives`
        others, picked by a fixed hash order (the same rows for every model)."""
        held = np.flatnonzero(self.held_out)
        positive = held[self.labels[held] == VIOLATION]
        negative = held[self.labels[held] != VIOLATION]
        if len(negative) > max_negatives:
            order = stable_order(self.event_ids[negative].tolist())
            negative = np.sort(negative[order[:max_negatives]])
        return np.sort(np.concatenate([positive, negative]))


def outcome_labels(engine: Engine) -> dict[str, str]:
    """Every labelled event's latest label."""
    newest = select(func.max(LABELS.c.id)).group_by(LABELS.c.event_id)
    with engine.connect() as conn:
        return dict(conn.execute(select(LABELS.c.event_id, LABELS.c.label)
                                 .where(LABELS.c.id.in_(newest))).all())


def known_violations(engine: Engine, since: float | None = None) -> set[str]:
    """Event ids confirmed as violations (labels, and rule blocks not labelled benign)."""
    labels = outcome_labels(engine)
    query = select(ASSESSMENTS.c.event_id, ASSESSMENTS.c.top_code).where(
        ASSESSMENTS.c.decision != "allow", ASSESSMENTS.c.decision == "block")
    if since is not None:
        query = query.where(ASSESSMENTS.c.ts >= since)
    with engine.connect() as conn:
        blocked = {e for e, top in conn.execute(query).all() if top not in LEARNING_CODES}
    confirmed = {e for e, label in labels.items() if label == "violation"}
    return (blocked - {e for e, label in labels.items() if label == "benign"}) | confirmed


def training_window(engine: Engine, settings: LearningSettings, until: float | None = None
                    ) -> tuple[float, float]:
    """(since, until): up to the newest stored event (event time: replayed logs train
    too), `train_window_days` back or less, so that it holds at most `max_train_events`
    events."""
    with engine.connect() as conn:
        if until is None:
            until = conn.execute(select(func.max(EVENTS.c.ts))).scalar() or 0.0
        cutoff = conn.execute(select(EVENTS.c.ts).where(EVENTS.c.ts <= until)
                              .order_by(EVENTS.c.ts.desc())
                              .offset(settings.max_train_events - 1).limit(1)).scalar()
    since = until - settings.train_window_days * DAY_S
    return (since if cutoff is None else max(since, cutoff)), until


def stored_batches(engine: Engine, since: float, until: float, *, user_id: str | None = None,
                   page: int = PAGE) -> Iterator[tuple[list[Event], list[list[Reason]],
                                                       list[str | None], list[str | None]]]:
    """Stored events with `since <= ts <= until` in time order, a page at a time, with
    their assessments' reasons, decisions and top codes."""
    columns = [EVENTS.c[name] for name in EVENT_COLUMNS]
    query = (select(EVENTS.c.id, *columns, ASSESSMENTS.c.decision, ASSESSMENTS.c.top_code,
                    ASSESSMENTS.c.reasons)
             .select_from(EVENTS.outerjoin(ASSESSMENTS,
                                           ASSESSMENTS.c.event_id == EVENTS.c.event_id))
             .where(EVENTS.c.ts >= since, EVENTS.c.ts <= until)
             .order_by(EVENTS.c.ts, EVENTS.c.id).limit(page))
    if user_id is not None:
        query = query.where(EVENTS.c.user_id == user_id)
    last: tuple[float, int] | None = None
    with engine.connect() as conn:
        while True:
            step = query if last is None else query.where(or_(
                EVENTS.c.ts > last[0], and_(EVENTS.c.ts == last[0], EVENTS.c.id > last[1])))
            rows = conn.execute(step).all()
            if not rows:
                return
            events, reasons, decisions, tops = [], [], [], []
            for row in rows:
                events.append(Event(*row[1:1 + len(EVENT_COLUMNS)]))
                stored = row[-1] or ()
                reasons.append([Reason(r["code"], float(r["weight"]), r.get("detail", ""))
                                for r in stored])
                decisions.append(row[-3])
                tops.append(row[-2])
            yield events, reasons, decisions, tops
            last = (rows[-1].ts, rows[-1].id)


def replay_rows(extractor: FeatureExtractor, events: list[Event], reasons: list[list[Reason]],
                context: Sequence[Stage]) -> FeatureRows:
    """One stored batch through the context stages and the extractor."""
    batch = Batch(events=events, now=events[-1].ts, reasons=[list(r) for r in reasons])
    for stage in context:
        stage.process(batch)
    batch.reasons = reasons
    return extractor.transform_batch(batch)


def load_training_set(engine: Engine, *, settings: LearningSettings,
                      context: Sequence[Stage] = (), until: float | None = None
                      ) -> TrainingSet:
    """The window ending at `until` (default: the newest stored event)."""
    since, until = training_window(engine, settings, until)
    labels = outcome_labels(engine)
    extractor = FeatureExtractor(max_users=settings.max_users,
                                 devices_per_user=settings.devices_per_user,
                                 recent_window_s=settings.recent_window_s)
    parts: list[FeatureRows] = []
    ids: list[str] = []
    times: list[float] = []
    outcomes: list[int] = []
    for events, reasons, decisions, tops in stored_batches(engine, since, until):
        parts.append(replay_rows(extractor, events, reasons, context))
        for event, decision, top in zip(events, decisions, tops, strict=True):
            ids.append(event.event_id)
            times.append(event.ts)
            outcomes.append(_outcome(labels.get(event.event_id), decision, top))
    event_ids = np.empty(len(ids), dtype=object)
    event_ids[:] = ids
    return TrainingSet(FeatureRows.concat(parts), event_ids, np.asarray(times),
                       np.asarray(outcomes, dtype=np.int8), settings.test_fraction, since,
                       until)


def _outcome(label: str | None, decision: str | None, top: str | None) -> int:
    if label == "violation":
        return VIOLATION
    if label == "benign":
        return BENIGN
    if decision == "block" and top not in LEARNING_CODES:
        return VIOLATION
    return UNLABELLED
