"""What the reports read: deadline timers alive in a period, consent flags by claimed
region, a subject's events with their assessments, alerts with who acknowledged them,
rings and models. Each bounded by the period and served by an index."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Engine, Subquery, and_, func, or_, select, union_all

from storage.tables import (
    AlertRow,
    AssessmentRow,
    AuditRow,
    EventRow,
    LabelRow,
    ModelRow,
    RingRow,
    TimerRow,
    UserIndexRow,
)
from storage.user_index import indexed_through

TIMERS = TimerRow.__table__
EVENTS = EventRow.__table__
ASSESSMENTS = AssessmentRow.__table__
ALERTS = AlertRow.__table__
AUDIT = AuditRow.__table__
RINGS = RingRow.__table__
MODELS = ModelRow.__table__
LABELS = LabelRow.__table__
USER_INDEX = UserIndexRow.__table__


def timers_opened(engine: Engine, since: float, until: float) -> list[dict[str, Any]]:
    """Deadline timers (requests, breaches) opened in [since, until)."""
    query = (select(TIMERS).where(TIMERS.c.opened_at >= since, TIMERS.c.opened_at < until)
             .order_by(TIMERS.c.opened_at, TIMERS.c.key))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def consent_by_region(engine: Engine, since: float, until: float
                      ) -> dict[tuple[str | None, bool], int]:
    """Events in [since, until) that carry a consent flag, by (claimed region, flag)."""
    query = (select(EVENTS.c.region, EVENTS.c.has_consent, func.count())
             .where(EVENTS.c.ts >= since, EVENTS.c.ts < until,
                    EVENTS.c.has_consent.is_not(None))
             .group_by(EVENTS.c.region, EVENTS.c.has_consent))
    with engine.connect() as conn:
        return {(region, bool(flag)): n for region, flag, n in conn.execute(query).all()}


def subject_events(engine: Engine, *, since: float, until: float,
                   users: Collection[str] = (), ips: Collection[str] = (),
                   limit: int = 10_000) -> list[dict[str, Any]]:
    """Scored events of `users` (found through `user_index`) and events from `ips`
    (a walk of the time index over the window) in [since, until), each with its
    assessment's score, level, decision and reasons; oldest first, at most `limit`."""
    columns = (EVENTS, ASSESSMENTS.c.score, ASSESSMENTS.c.level, ASSESSMENTS.c.decision,
               ASSESSMENTS.c.reasons)
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        if users:
            ids = _user_ids(conn, users, since, until)
            query = (select(*columns).join(ids, ids.c.id == ASSESSMENTS.c.id)
                     .join(EVENTS, EVENTS.c.event_id == ASSESSMENTS.c.event_id)
                     .order_by(ASSESSMENTS.c.ts, ASSESSMENTS.c.id).limit(limit))
            found.update((row["event_id"], dict(row)) for row in conn.execute(query).mappings())
        if ips:
            query = (select(*columns)
                     .join(ASSESSMENTS, ASSESSMENTS.c.event_id == EVENTS.c.event_id,
                           isouter=True)
                     .where(EVENTS.c.ip_address.in_(list(ips)), EVENTS.c.ts >= since,
                            EVENTS.c.ts < until)
                     .order_by(EVENTS.c.ts, EVENTS.c.id).limit(limit))
            found.update((row["event_id"], dict(row)) for row in conn.execute(query).mappings())
    return sorted(found.values(), key=lambda row: (row["ts"], row["id"]))[:limit]


def _user_ids(conn: Connection, users: Collection[str], since: float, until: float
              ) -> Subquery:
    """Assessment ids of `users` in [since, until): indexed up to the mark, the table's
    tail above it (storage/user_index.py)."""
    through = indexed_through(conn)
    indexed = select(USER_INDEX.c.id.label("id")).where(
        USER_INDEX.c.user_id.in_(list(users)), USER_INDEX.c.ts >= since,
        USER_INDEX.c.ts < until, USER_INDEX.c.id <= through)
    tail = select(ASSESSMENTS.c.id.label("id")).where(
        ASSESSMENTS.c.id > through, ASSESSMENTS.c.user_id.in_(list(users)),
        ASSESSMENTS.c.ts >= since, ASSESSMENTS.c.ts < until)
    return union_all(indexed, tail).subquery("subject_ids")


def subject_alerts(engine: Engine, *, since: float, until: float, users: Collection[str] = (),
                   ring_ids: Collection[str] = (), alert_ids: Collection[str] = ()
                   ) -> list[dict[str, Any]]:
    """Alerts about `users`, `ring_ids` or with `alert_ids` updated in [since, until),
    each with `acks`: who acknowledged or silenced it, and when."""
    terms = [column.in_(list(values)) for column, values in
             ((ALERTS.c.user_id, users), (ALERTS.c.ring_id, ring_ids),
              (ALERTS.c.alert_id, alert_ids)) if values]
    if not terms:
        return []
    query = (select(ALERTS).where(or_(*terms), ALERTS.c.updated_at >= since,
                                  ALERTS.c.created_at < until)
             .order_by(ALERTS.c.created_at, ALERTS.c.id))
    with engine.connect() as conn:
        alerts = [dict(row) for row in conn.execute(query).mappings()]
        ids = [a["alert_id"] for a in alerts]
        acks: dict[str, list[dict[str, Any]]] = {}
        if ids:
            for row in conn.execute(select(AUDIT.c.target, AUDIT.c.actor, AUDIT.c.action,
                                           AUDIT.c.at).where(AUDIT.c.target.in_(ids))
                                    .order_by(AUDIT.c.at)).mappings():
                acks.setdefault(row["target"], []).append(
                    {"actor": row["actor"], "action": row["action"], "at": row["at"]})
    for alert in alerts:
        alert["acks"] = acks.get(alert["alert_id"], [])
    return alerts


def rings_with(engine: Engine, *, user: str | None = None, ring_id: str | None = None
               ) -> list[dict[str, Any]]:
    """The ring `ring_id`, or the rings that hold `user` (members are a JSON list, so
    the user is found among the rings' rows: there are few of them)."""
    query = select(RINGS)
    if ring_id is not None:
        query = query.where(RINGS.c.ring_id == ring_id)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    if user is not None:
        rows = [row for row in rows if user in (row["members"] or [])]
    return sorted(rows, key=lambda row: (-row["risk"], row["ring_id"]))


def users_on_ips(engine: Engine, ips: Collection[str], since: float, until: float,
                 limit: int = 200) -> dict[str, int]:
    """The accounts seen on `ips` in [since, until), with how many events each."""
    if not ips:
        return {}
    query = (select(EVENTS.c.user_id, func.count()).where(
        EVENTS.c.ip_address.in_(list(ips)), EVENTS.c.ts >= since, EVENTS.c.ts < until)
        .group_by(EVENTS.c.user_id).order_by(func.count().desc()).limit(limit))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def models(engine: Engine) -> list[dict[str, Any]]:
    query = select(MODELS.c.name, MODELS.c.version, MODELS.c.status, MODELS.c.trained_at,
                   MODELS.c.samples, MODELS.c.metrics, MODELS.c.drift).order_by(
        MODELS.c.name, MODELS.c.version)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def label_counts(engine: Engine, since: float, until: float) -> dict[str, int]:
    query = (select(LABELS.c.label, func.count()).where(
        and_(LABELS.c.created_at >= since, LABELS.c.created_at < until))
        .group_by(LABELS.c.label))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def alerts_per_day(engine: Engine, since: float, until: float) -> dict[int, dict[str, int]]:
    """Alerts opened in [since, until) by UTC day (days since the epoch) and severity."""
    day = func.cast(ALERTS.c.created_at / 86400, ALERTS.c.count.type)
    query = (select(day, ALERTS.c.severity, func.count()).where(
        ALERTS.c.created_at >= since, ALERTS.c.created_at < until)
        .group_by(day, ALERTS.c.severity))
    out: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        for d, severity, n in conn.execute(query).all():
            out.setdefault(int(d), {})[severity] = n
    return out


def alert_codes(engine: Engine) -> list[list[str]]:
    """Each alert's codes (a replay's alerts, for the rule hit counts)."""
    with engine.connect() as conn:
        return [codes or [] for codes in conn.execute(select(ALERTS.c.codes)).scalars()]


def assessments_by_event(engine: Engine, event_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ASSESSMENTS.c.event_id, ASSESSMENTS.c.user_id,
                                   ASSESSMENTS.c.level, ASSESSMENTS.c.reasons)
                            .where(ASSESSMENTS.c.event_id.in_(list(event_ids)))).mappings()
        return {row["event_id"]: dict(row) for row in rows}


def events_by_id(engine: Engine, event_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(EVENTS.c.event_id, EVENTS.c.user_id, EVENTS.c.ip_address,
                                   EVENTS.c.region)
                            .where(EVENTS.c.event_id.in_(list(event_ids)))).mappings()
        return {row["event_id"]: dict(row) for row in rows}
