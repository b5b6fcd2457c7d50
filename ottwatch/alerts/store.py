"""Alert rows, silences, acknowledgements and the outbox in the database: what the
CLI changes (with an audit row naming the OS user) and what the running agent
reloads into its sink."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, func, select, update

from ottwatch.alerts.silences import Silence, canonical_matchers
from ottwatch.alerts.sink import LIVE, AlertSink
from ottwatch.vocabulary import DAY_S
from storage import operator
from storage.tables import AlertRow, AuditRow, DeliveryRow, SilenceRow

log = logging.getLogger("ottwatch.alerts")

ALERTS = AlertRow.__table__
AUDIT = AuditRow.__table__
DELIVERIES = DeliveryRow.__table__
SILENCES = SilenceRow.__table__

ACK, SILENCE, UNSILENCE = "alert.ack", "alert.silence", "alert.unsilence"
CHUNK = 500
MAX_SILENCES = 1000


def os_user() -> str:
    return operator.actor()


# -- what the agent reloads ------------------------------------------------------------
def load_silences(engine: Engine, now: float | None = None) -> list[Silence]:
    now = time.time() if now is None else now
    query = (select(SILENCES).where(SILENCES.c.expires_at > now)
             .order_by(SILENCES.c.expires_at).limit(MAX_SILENCES))
    with engine.connect() as conn:
        return [Silence.from_row(r) for r in conn.execute(query).mappings()]


def load_acked(engine: Engine, since: float) -> set[str]:
    query = select(AUDIT.c.target).where(AUDIT.c.at >= since, AUDIT.c.action == ACK)
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def refresh_sink(sink: AlertSink, engine: Engine, now: float | None = None) -> None:
    """Silences and acks as the database has them now (the runner calls this every
    `refresh_s` seconds, off the event loop); a change of silences is logged."""
    now = time.time() if now is None else now
    silences = load_silences(engine, now)
    if {s.id for s in silences} != {s.id for s in sink.silences}:
        log.info("alerts: %d silence(s) in force", len(silences))
    sink.set_silences(silences)
    sink.set_acked(load_acked(engine, now - sink.settings.ack_lookback_days * DAY_S))


def highest_delivery_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.max(DELIVERIES.c.id))).scalar() or 0


def live_alert_rows(engine: Engine, limit: int) -> list[dict[str, Any]]:
    query = (select(ALERTS).where(ALERTS.c.status.in_(LIVE))
             .order_by(ALERTS.c.created_at.desc()).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def alert_ids_with_deliveries(engine: Engine, alert_ids: Iterable[str]) -> set[str]:
    ids = list(alert_ids)
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            found.update(conn.execute(select(DELIVERIES.c.alert_id).distinct()
                                      .where(DELIVERIES.c.alert_id.in_(chunk))).scalars())
    return found


def prepare_sink(sink: AlertSink, engine: Engine, now: float | None = None) -> None:
    """At agent start, after the pipeline restored its state: outbox ids continue after
    the stored ones, live alerts the snapshot missed are adopted, silences and acks
    loaded."""
    now = time.time() if now is None else now
    sink.reserve_delivery_ids(highest_delivery_id(engine))
    rows = live_alert_rows(engine, limit=sink.settings.max_groups * 2)
    sink.adopt(rows, alert_ids_with_deliveries(engine, (r["alert_id"] for r in rows)), now)
    refresh_sink(sink, engine, now)


# -- what the CLI changes ----------------------------------------------------------------
def _audit(conn: Any, *, actor: str, action: str, target: str, detail: dict[str, Any],
           now: float) -> None:
    operator.audit(conn, action, target, detail, who=actor, at=now)


def ack_alert(engine: Engine, alert_id: str, *, actor: str, note: str = "",
              now: float | None = None) -> bool:
    """Acknowledge an alert: no more notifications for its episode unless it gets worse."""
    now = time.time() if now is None else now
    with engine.begin() as conn:
        status = conn.execute(select(ALERTS.c.status).where(ALERTS.c.alert_id == alert_id)
                              ).scalar()
        if status is None:
            return False
        if status in LIVE:
            conn.execute(update(ALERTS).where(ALERTS.c.alert_id == alert_id)
                         .values(status="acked", updated_at=now))
        _audit(conn, actor=actor, action=ACK, target=alert_id,
               detail={"note": note, "status_before": status}, now=now)
    return True


def create_silence(engine: Engine, matchers: Mapping[str, Any], *, duration_s: float,
                   reason: str, actor: str, now: float | None = None) -> int:
    now = time.time() if now is None else now
    canonical = canonical_matchers(matchers)
    if duration_s <= 0:
        raise ValueError("a silence needs a positive duration")
    with engine.begin() as conn:
        silence_id = conn.execute(SILENCES.insert().values(
            matchers=canonical, reason=reason, created_by=actor, created_at=now,
            expires_at=now + duration_s)).inserted_primary_key[0]
        _audit(conn, actor=actor, action=SILENCE, target=f"silence:{silence_id}",
               detail={"matchers": canonical, "reason": reason, "expires_at": now + duration_s},
               now=now)
    return int(silence_id)


def expire_silence(engine: Engine, silence_id: int, *, actor: str,
                   now: float | None = None) -> bool:
    """End a silence now (the row stays, for the record)."""
    now = time.time() if now is None else now
    with engine.begin() as conn:
        row = conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id)
                           ).mappings().first()
        if row is None:
            return False
        if row["expires_at"] > now:
            conn.execute(update(SILENCES).where(SILENCES.c.id == silence_id)
                         .values(expires_at=now))
        _audit(conn, actor=actor, action=UNSILENCE, target=f"silence:{silence_id}",
               detail={"matchers": row["matchers"], "was_expiring_at": row["expires_at"]},
               now=now)
    return True


# -- reading -------------------------------------------------------------------------------
def list_alerts(engine: Engine, *, status: str | None = None, limit: int = 50
                ) -> list[dict[str, Any]]:
    query = select(ALERTS).order_by(ALERTS.c.created_at.desc(), ALERTS.c.id.desc())
    if status:
        query = query.where(ALERTS.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]


def get_alert(engine: Engine, alert_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(ALERTS).where(ALERTS.c.alert_id == alert_id)
                           ).mappings().first()
    return dict(row) if row else None


def alert_deliveries(engine: Engine, alert_id: str) -> list[dict[str, Any]]:
    query = select(DELIVERIES).where(DELIVERIES.c.alert_id == alert_id).order_by(DELIVERIES.c.id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def list_silences(engine: Engine, *, include_expired: bool = False,
                  now: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    query = select(SILENCES).order_by(SILENCES.c.id.desc()).limit(limit)
    if not include_expired:
        query = query.where(SILENCES.c.expires_at > now)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def audit_rows(engine: Engine, target: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """What was done to an alert (or `silence:ID`), oldest first."""
    query = (select(AUDIT).where(AUDIT.c.target == target,
                                 AUDIT.c.action.in_((ACK, SILENCE, UNSILENCE)))
             .order_by(AUDIT.c.id).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
