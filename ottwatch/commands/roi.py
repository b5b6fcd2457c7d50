"""`ottwatch roi`: avoided fines, churn and legal costs against running costs,
from the violations and incidents in the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine, func, or_, select

from ottwatch.commands.common import config_option, db_option, load, open_existing
from ottwatch.config import Config
from ottwatch.events import ts_to_text
from ottwatch.roi import (
    COUNTRY_REGULATIONS,
    DAYS_PER_MONTH,
    UNKNOWN_REGULATION,
    RoiInputs,
    RoiReport,
    RoiSettings,
    compute_roi,
    fine_figures,
    months_between,
    regulation_for_region,
    regulation_named,
)
from ottwatch.safe_text import dumps, plain
from storage.tables import AlertRow, AssessmentRow, EventRow, LabelRow

ASSESSMENTS = AssessmentRow.__table__
EVENTS = EventRow.__table__
LABELS = LabelRow.__table__
ALERTS = AlertRow.__table__
MONTH_S = DAYS_PER_MONTH * 86_400.0


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float
    months: float


def data_window(engine: Engine, months: int | None) -> Window | None:
    """The last `months` months up to the newest assessment or alert (all of the data
    when `months` is None, at least one day); None on an empty database."""
    with engine.connect() as conn:
        first_a, last_a = conn.execute(
            select(func.min(ASSESSMENTS.c.ts), func.max(ASSESSMENTS.c.ts))).one()
        first_b, last_b = conn.execute(
            select(func.min(ALERTS.c.created_at), func.max(ALERTS.c.created_at))).one()
    ends = [t for t in (last_a, last_b) if t is not None]
    if not ends:
        return None
    end = max(ends)
    if months is not None:
        return Window(end - months * MONTH_S, end, float(months))
    start = min(t for t in (first_a, first_b) if t is not None)
    return Window(start, end, max(months_between(start, end), 1 / DAYS_PER_MONTH))


RegionLookup = Callable[[str | None], str | None]


@dataclass(frozen=True, slots=True)
class Regulations:
    """What ROI needs from the regulation table: fines and the region mapping."""

    fines: dict[str, tuple[float | None, str | None]]
    region_of: RegionLookup


def regulations(config: Config) -> Regulations:
    """The effective regulation table (with the config's overrides); the built-in
    figures and mapping of `ottwatch.roi` while `ottwatch.regulations` is not installed."""
    try:
        from ottwatch.regulations.settings import settings_from_config
        from ottwatch.regulations.table import load_table
    except ImportError:
        return Regulations(fines={}, region_of=regulation_for_region)
    table = load_table(settings_from_config(config))

    def region_of(region: str | None) -> str | None:
        scope = table.scope(region, None)
        return scope[0].id if scope else regulation_for_region(region)

    return Regulations(fines={r.id: (r.fine.amount, r.fine.currency) for r in table},
                       region_of=region_of)


def roi_inputs(engine: Engine, settings: RoiSettings, window: Window,
               regulation_ids: tuple[str, ...],
               region_of: RegionLookup = regulation_for_region) -> RoiInputs:
    """Prevented violations: distinct (user, regulation) among flagged or confirmed
    events with a regulation-related reason, and (user or alert group, regulation)
    among alerts with a regulation. Fraud incidents: distinct users with a flagged
    or confirmed event for any other reason. Events labelled benign never count."""
    newest = (select(func.max(LABELS.c.id).label("id"))
              .group_by(LABELS.c.event_id).subquery("newest"))
    label = (select(LABELS.c.event_id, LABELS.c.label)
             .join(newest, LABELS.c.id == newest.c.id).subquery("label"))
    flagged = (
        select(ASSESSMENTS.c.user_id, ASSESSMENTS.c.reasons, EVENTS.c.region, label.c.label)
        .select_from(ASSESSMENTS)
        .join(EVENTS, EVENTS.c.event_id == ASSESSMENTS.c.event_id)
        .outerjoin(label, label.c.event_id == ASSESSMENTS.c.event_id)
        .where(ASSESSMENTS.c.ts >= window.start, ASSESSMENTS.c.ts <= window.end,
               or_(ASSESSMENTS.c.decision.in_(("block", "review")),
                   label.c.label == "violation"))
    )
    alerts = (
        select(ALERTS.c.group_key, ALERTS.c.user_id, ALERTS.c.regulation)
        .where(ALERTS.c.regulation.is_not(None), ALERTS.c.created_at >= window.start,
               ALERTS.c.created_at <= window.end)
    )
    violations: set[tuple[str, str]] = set()
    fraud_users: set[str] = set()
    with engine.connect() as conn:
        for user_id, reasons, region, verdict in conn.execute(flagged):
            if verdict == "benign":
                continue
            codes = [(r.get("code", ""), r.get("detail", "")) for r in reasons or []]
            regulated = [detail for code, detail in codes if settings.is_regulation_code(code)]
            if regulated:
                named = next((r for d in regulated if (r := regulation_named(d, regulation_ids))),
                             None)
                violations.add((user_id, named or region_of(region) or UNKNOWN_REGULATION))
            if len(regulated) < len(codes) or (not codes and verdict == "violation"):
                fraud_users.add(user_id)
        for group_key, user_id, regulation in conn.execute(alerts):
            violations.add((user_id or f"alert:{group_key}", regulation))
    per_regulation = Counter(regulation for _, regulation in violations)
    return RoiInputs(violations=dict(per_regulation), fraud_incidents=len(fraud_users),
                     months=window.months)


def _money(value: float, currency: str) -> Text:
    return Text(f"{value:,.2f} {currency}")


def _render(report: RoiReport, inputs: RoiInputs, window: Window | None,
            settings: RoiSettings, fines: dict[str, float]) -> Table:
    table = Table(title="Return on investment", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    cur = report.currency
    if window is not None:
        unit = "month" if report.months == 1 else "months"
        table.add_row("period", Text(f"{ts_to_text(window.start)[:10]} .. "
                                     f"{ts_to_text(window.end)[:10]} ({report.months:g} {unit})"))
    table.add_row("prevented violations", Text(f"{report.violations:,}"))
    for regulation, amount in report.fines_by_regulation.items():
        figure = fines.get(regulation, settings.default_fine)
        count = inputs.violations[regulation]
        table.add_row(plain(f"  {regulation}"),
                      Text(f"{amount:,.2f} {cur}  ({count:,} x "
                           f"{settings.enforcement_probability:g} x {figure:,.0f})"))
    table.add_row("fraud incidents", Text(f"{report.fraud_incidents:,}"))
    table.add_row("avoided fines", _money(report.avoided_fines, cur))
    table.add_row("avoided churn", _money(report.avoided_churn, cur))
    table.add_row("avoided legal costs", _money(report.avoided_legal, cur))
    table.add_row("benefit", _money(report.benefit, cur))
    table.add_row("cost", Text(f"{report.cost:,.2f} {cur}  ({report.monthly_cost:,.0f}/month)"))
    table.add_row("net benefit", _money(report.net_benefit, cur))
    table.add_row("ROI", Text("-" if report.roi_pct is None else f"{report.roi_pct:,.1f} %"))
    table.add_row("payback", Text(payback_text(report)))
    add_assumptions(table, settings)
    return table


def payback_text(report: RoiReport) -> str:
    if report.payback_months is not None:
        return f"{report.payback_months:,.2f} months"
    if report.benefit <= 0:
        return "never (no benefit)"
    return "never (the benefit is below the cost)"


def add_assumptions(table: Table, settings: RoiSettings) -> None:
    """The figures the result rests on, all from `[scoring.roi]` in the config."""
    cur = settings.currency
    table.add_section()
    table.add_row("assumptions", Text("[scoring.roi] in the config", style="dim"))
    table.add_row("  enforcement probability", Text(f"{settings.enforcement_probability:g}"))
    table.add_row("  churn cost per incident", _money(settings.churn_cost_per_incident, cur))
    table.add_row("  legal cost per violation", _money(settings.legal_cost_per_incident, cur))
    table.add_row("  fine without a figure", _money(settings.default_fine, cur))
    for name, amount in settings.monthly_costs.items():
        table.add_row(plain(f"  monthly {name}"), _money(amount, cur))


@click.command("roi")
@config_option
@db_option
@click.option("--months", type=click.IntRange(min=1), default=None,
              help="Months to count, ending at the newest data (default: all the data).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(config_path: str | None, db: str | None, months: int | None, as_json: bool) -> None:
    """Avoided fines, churn and legal costs from the violations and incidents in the
    database, against the running costs: ROI %, net benefit and payback months."""
    config = load(config_path, db)
    try:
        settings = config.scoring.roi
        table = regulations(config)
    except ValueError as exc:
        raise click.ClickException(f"[scoring]: {exc}") from exc
    engine = open_existing(config.storage.url)
    fines = fine_figures(settings, table.fines)
    ids = tuple(sorted({*fines, *table.fines, *COUNTRY_REGULATIONS.values(), "CCPA"}))
    window = data_window(engine, months)
    inputs = (roi_inputs(engine, settings, window, ids, table.region_of) if window is not None
              else RoiInputs(violations={}, fraud_incidents=0, months=float(months or 0)))
    report = compute_roi(inputs, settings, fines)
    engine.dispose()
    if as_json:
        payload: dict[str, Any] = report.to_dict()
        payload["window"] = (None if window is None else
                             {"start": ts_to_text(window.start), "end": ts_to_text(window.end)})
        payload["assumptions"] = {
            "enforcement_probability": settings.enforcement_probability,
            "fines": {r: fines.get(r, settings.default_fine) for r in report.fines_by_regulation},
            "churn_cost_per_incident": settings.churn_cost_per_incident,
            "legal_cost_per_incident": settings.legal_cost_per_incident,
            "monthly_costs": settings.monthly_costs,
            "default_fine": settings.default_fine,
            "currency": settings.currency,
        }
        click.echo(dumps(payload, indent=True))
        return
    Console(highlight=False).print(_render(report, inputs, window, settings, fines))
