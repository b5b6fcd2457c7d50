"""The compliance and models reports of a period, read through storage's queries (the
CLI and the agent's scheduled reports both make them here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from ottwatch.reports.compliance import ComplianceReport, build_compliance
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
