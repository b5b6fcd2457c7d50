"""Retention of alerts and their outbox: an alert holds a user id, event ids and a
body that quotes event data, so it goes once it has not been updated for the
retention period, with its deliveries. Chunked like the event purge."""

from __future__ import annotations

from sqlalchemy import Engine, and_, delete, select

from storage.tables import AlertRow, DeliveryRow

ALERTS = AlertRow.__table__
DELIVERIES = DeliveryRow.__table__
FINISHED = ("sent", "failed")  # a delivery the sender will not take again


def purge_alerts(engine: Engine, cutoff: float, chunk: int) -> tuple[int, int]:
    """Delete alerts last updated before `cutoff` with their deliveries, then finished
    deliveries from before `cutoff` whose alert is gone; returns (alerts, deliveries)."""
    alerts = deliveries = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(select(ALERTS.c.id, ALERTS.c.alert_id)
                                .where(ALERTS.c.updated_at < cutoff)
                                .order_by(ALERTS.c.updated_at).limit(chunk)).all()
            if not rows:
                break
            deliveries += conn.execute(delete(DELIVERIES).where(
                DELIVERIES.c.alert_id.in_([alert_id for _, alert_id in rows]))).rowcount
            alerts += conn.execute(delete(ALERTS).where(
                ALERTS.c.id.in_([id_ for id_, _ in rows]))).rowcount
        if len(rows) < chunk:
            break
    while True:
        with engine.begin() as conn:
            ids = conn.execute(select(DELIVERIES.c.id).where(and_(
                DELIVERIES.c.state.in_(FINISHED), DELIVERIES.c.next_attempt_at < cutoff))
                .limit(chunk)).scalars().all()
            if not ids:
                return alerts, deliveries
            deliveries += conn.execute(delete(DELIVERIES).where(
                DELIVERIES.c.id.in_(ids))).rowcount
        if len(ids) < chunk:
            return alerts, deliveries
