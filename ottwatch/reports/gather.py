"""The compliance and models reports of a period, read through storage's queries (the
CLI and the agent's scheduled reports both make them here)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine

from ottwatch.reports.compliance import ComplianceReport, build_compliance
from ottwatch.reports.incident import IncidentReport, build_incident
from ottwatch.reports.models import ModelsReport, build_models


def compliance_report(engine: Engine, config: Any, since: float, until: float
                      ) -> ComplianceReport:
    from ottwatch.regulations.settings import settings_from_config
    from ottwatch.regulations.table import load_table
    from storage import report_queries as q

    span = {"since": since, "until": until}
    return build_compliance(load_table(settings_from_config(config)),
                            q.timers_opened(engine, **span), q.consent_by_region(engine, **span),
                            alerts_per_day=q.alerts_per_day(engine, **span), **span)


def models_report(engine: Engine, since: float, until: float) -> ModelsReport:
    from storage import report_queries as q

    return build_models(q.models(engine), q.label_counts(engine, since, until), since=since,
                        until=until)


def period_report(kind: str, engine: Engine, config: Any, since: float, until: float
                  ) -> ComplianceReport | ModelsReport:
    if kind == "compliance":
        return compliance_report(engine, config, since, until)
    if kind == "models":
        return models_report(engine, since, until)
    raise ValueError(f"no period report {kind!r}")


TIMELINE_LIMIT = 2_000


class SubjectNotFound(LookupError):
    pass


def incident_report(engine: Engine, kind: str, value: str, since: float = -math.inf,
                    until: float = math.inf) -> IncidentReport:
    """The incident report of a user, ring, ip or alert (`kind`) in [since, until)."""
    from storage import report_queries as q

    span = {"since": since, "until": until}
    users: set[str] = set()
    ips: set[str] = set()
    rings: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    if kind == "user":
        users = {value}
        rings = q.rings_with(engine, user=value)
    elif kind == "ring":
        rings = q.rings_with(engine, ring_id=value)
        if not rings:
            raise SubjectNotFound(f"no ring {value!r} in the database (`ottwatch rings` "
                                  "lists them)")
        users = set(rings[0]["members"] or [])
    elif kind == "ip":
        ips = {value}
    elif kind == "alert":
        alerts = q.subject_alerts(engine, alert_ids=[value], since=-math.inf, until=math.inf)
        if not alerts:
            raise SubjectNotFound(f"no alert {value!r} in the database (`ottwatch alerts` "
                                  "lists them)")
        users = {alerts[0]["user_id"]} if alerts[0]["user_id"] else set()
        if alerts[0]["ring_id"]:
            rings = q.rings_with(engine, ring_id=alerts[0]["ring_id"])
            users |= set(rings[0]["members"] or []) if rings else set()
    else:
        raise ValueError(f"no subject kind {kind!r}")
    events = q.subject_events(engine, users=users, ips=ips, limit=TIMELINE_LIMIT, **span)
    if kind != "alert":
        alerts = q.subject_alerts(engine, users=users, ring_ids=[r["ring_id"] for r in rings],
                                  **span)
    seen_ips = {e["ip_address"] for e in events if e["ip_address"]}
    linked = {user: n for user, n in q.users_on_ips(engine, seen_ips, **span).items()
              if user not in users}
    # An open window is shown as the span of the subject's events.
    last = events[-1]["ts"] if events else (until if math.isfinite(until) else 0.0)
    first = events[0]["ts"] if events else last
    return build_incident(f"{kind} {value}", events, alerts, rings, linked,
                          since=since if math.isfinite(since) else first,
                          until=until if math.isfinite(until) else last, limit=TIMELINE_LIMIT)
