"""What a replay's database says happened: which reason codes fired on which events,
the events at high or critical, the alerts, the rings and the quarantine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from storage.queries import ASSESSMENTS, QUARANTINE
from storage.tables import AlertRow, RingRow

SEVERE = frozenset(("high", "critical"))
IP_SUBJECT = "|ip:"  # an alert keyed by an address: `code|ip:ADDRESS`
PAGE = 20_000


@dataclass(frozen=True)
class Alert:
    alert_id: str
    severity: str
    codes: tuple[str, ...]
    user_id: str | None
    ring_id: str | None
    request_id: str | None
    ip: str | None
    event_ids: frozenset[str]
    created_at: float
    updated_at: float


@dataclass
class Results:
    fired: dict[str, set[str]] = field(default_factory=dict)  # code -> event ids
    severe: set[str] = field(default_factory=set)  # events assessed high or critical
    assessed: int = 0
    alerts: list[Alert] = field(default_factory=list)
    rings: dict[str, frozenset[str]] = field(default_factory=dict)  # ring id -> members
    quarantine: Counter[str] = field(default_factory=Counter)  # reason -> lines


def _alert(row: Any) -> Alert:
    key: str = row.group_key
    ip = key.partition(IP_SUBJECT)[2] or None
    return Alert(row.alert_id, row.severity, tuple(row.codes or ()), row.user_id, row.ring_id,
                 row.request_id, ip, frozenset(row.event_ids or ()), row.created_at,
                 row.updated_at)


def read_results(engine: Engine) -> Results:
    results = Results()
    fired, severe = results.fired, results.severe
    with engine.connect() as conn:
        query = select(ASSESSMENTS.c.id, ASSESSMENTS.c.event_id, ASSESSMENTS.c.level,
                       ASSESSMENTS.c.reasons).order_by(ASSESSMENTS.c.id)
        last = None
        while True:
            page = query.limit(PAGE) if last is None else \
                query.where(ASSESSMENTS.c.id > last).limit(PAGE)
            rows = conn.execute(page).all()
            if not rows:
                break
            for _, event_id, level, reasons in rows:
                results.assessed += 1
                if level in SEVERE:
                    severe.add(event_id)
                for reason in reasons or ():
                    fired.setdefault(reason["code"], set()).add(event_id)
            last = rows[-1][0]
        alerts = AlertRow.__table__
        results.alerts = [_alert(row) for row in conn.execute(
            select(alerts).order_by(alerts.c.created_at, alerts.c.alert_id))]
        rings = RingRow.__table__
        results.rings = {row.ring_id: frozenset(row.members or ())
                         for row in conn.execute(select(rings.c.ring_id, rings.c.members))}
        results.quarantine = Counter(dict(conn.execute(
            select(QUARANTINE.c.reason, func.count()).group_by(QUARANTINE.c.reason)).all()))
    return results
