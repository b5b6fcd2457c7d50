"""Read-only figures of the agent's health that live in the database: the outbox,
open deadline timers, models, new alerts. Each query is served by an index (or reads
a small table), so `/metrics` and `ottwatch status` can ask them at every scrape."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from storage.tables import AlertRow, Checkpoint, DeliveryRow, ModelRow, TimerRow

ALERTS = AlertRow.__table__
CHECKPOINTS = Checkpoint.__table__
DELIVERIES = DeliveryRow.__table__
MODELS = ModelRow.__table__
TIMERS = TimerRow.__table__

DUE_STATES = ("pending", "retrying", "digest")  # as the sender takes them
OPEN_TIMER_STATES = ("open", "warned", "overdue")


def outbox_backlog(engine: Engine) -> int:
    query = select(func.count()).where(DELIVERIES.c.state.in_(DUE_STATES))
    with engine.connect() as conn:
        return conn.execute(query).scalar() or 0


def open_timers(engine: Engine) -> dict[str, int]:
    query = (select(TIMERS.c.regulation, func.count())
             .where(TIMERS.c.state.in_(OPEN_TIMER_STATES)).group_by(TIMERS.c.regulation))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def active_models(engine: Engine) -> dict[str, dict[str, Any]]:
    """Each model's active version and when it was trained."""
    query = select(MODELS.c.name, MODELS.c.version, MODELS.c.trained_at).where(
        MODELS.c.status == "active")
    with engine.connect() as conn:
        return {name: {"version": version, "trained_at": trained_at}
                for name, version, trained_at in conn.execute(query).all()}


def last_retrain(engine: Engine) -> float | None:
    """When the newest model version (of any model, any status) was trained."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(MODELS.c.trained_at))).scalar()


def alerts_after(engine: Engine, after_id: int, limit: int = 10_000
                 ) -> list[tuple[int, str, str | None]]:
    """(id, severity, first code) of the alerts stored after `after_id`, oldest first."""
    query = (select(ALERTS.c.id, ALERTS.c.severity, ALERTS.c.codes)
             .where(ALERTS.c.id > after_id).order_by(ALERTS.c.id).limit(limit))
    with engine.connect() as conn:
        return [(id_, severity, (codes or [None])[0])
                for id_, severity, codes in conn.execute(query).all()]


def newest_alert_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.max(ALERTS.c.id))).scalar() or 0


def positions(engine: Engine) -> dict[str, int]:
    """Where each file source has been read up to (bytes), from its checkpoint."""
    with engine.connect() as conn:
        return dict(conn.execute(select(CHECKPOINTS.c.source, CHECKPOINTS.c.offset)).all())
