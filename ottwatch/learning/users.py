"""A user's violation likelihood now: the active predictor over the user's recent
stored events (replayed through the shared feature extractor), and the
regulation most at risk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from ottwatch.learning import registry
from ottwatch.learning.dataset import EVENTS, replay_rows, stored_batches
from ottwatch.learning.features import FeatureExtractor, FeatureRows
from ottwatch.learning.predictor import RegulationRisk, regulation_at_risk
from ottwatch.learning.settings import LearningSettings
from ottwatch.pipeline import Stage
from ottwatch.vocabulary import DAY_S


@dataclass
class UserPrediction:
    user_id: str
    events: int
    likelihood: float | None  # the highest over the recent events; None: no predictor
    event_id: str | None  # the event with that likelihood
    latest: float | None  # the most recent event's likelihood
    threshold: float
    model_version: int | None
    regulation: RegulationRisk
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def regulation_lookup() -> tuple[Sequence[str], Callable[[str | None], list[str]]]:
    """Known regulation ids and region -> regulation ids, from the regulation table."""
    try:
        from ottwatch.regulations.table import default_table
    except ImportError:  # a build without the regulation table: reasons only
        return (), lambda _region: []
    table = default_table()
    return list(table.by_id), lambda region: [r.id for r in table.scope(region, None)]


def predict_user(engine: Engine, user_id: str, *, settings: LearningSettings | None = None,
                 context: Sequence[Stage] = (), window_days: float = 30.0,
                 max_events: int = 500) -> UserPrediction | None:
    """None when the user has no stored events."""
    settings = settings or LearningSettings()
    with engine.connect() as conn:
        newest = conn.execute(select(EVENTS.c.ts).where(EVENTS.c.user_id == user_id)
                              .order_by(EVENTS.c.ts.desc()).limit(1)).scalar()
        if newest is None:
            return None
        oldest = conn.execute(select(EVENTS.c.ts).where(EVENTS.c.user_id == user_id,
                                                        EVENTS.c.ts >= newest - window_days * DAY_S)
                              .order_by(EVENTS.c.ts.desc()).offset(max_events - 1).limit(1)
                              ).scalar()
    since = newest - window_days * DAY_S if oldest is None else oldest
    extractor = FeatureExtractor(max_users=1, devices_per_user=settings.devices_per_user,
                                 recent_window_s=settings.recent_window_s)
    parts: list[FeatureRows] = []
    ids: list[str] = []
    reasons: list[tuple[str, str]] = []
    region = None
    for events, stored, _, _ in stored_batches(engine, since, newest, user_id=user_id):
        parts.append(replay_rows(extractor, events, stored, context))
        ids += [e.event_id for e in events]
        reasons += [(r.code, r.detail) for rs in stored for r in rs]
        region = events[-1].region or region
    known, by_region = regulation_lookup()
    risk = regulation_at_risk(reasons, region, known, by_region(region))
    active = registry.load_active(engine, "predictor")
    if active is None:
        return UserPrediction(user_id, len(ids), None, None, None, settings.likely_threshold,
                              None, risk, "no active predictor yet: label confirmed "
                              "violations and run `ottwatch retrain predictor`")
    version, predictor = active
    likelihood = predictor.likelihood(FeatureRows.concat(parts).matrix())
    top = int(np.argmax(likelihood))
    return UserPrediction(user_id, len(ids), round(float(likelihood[top]), 4), ids[top],
                          round(float(likelihood[-1]), 4), settings.likely_threshold, version,
                          risk, f"highest likelihood over the user's last {len(ids)} events "
                                f"(within {window_days:g} days of the newest)")
