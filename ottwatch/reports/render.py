"""A report as Markdown, one self-contained HTML file (Jinja2, every value escaped;
plots inline) or JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ottwatch.reports import plots
from ottwatch.reports.compliance import ComplianceReport
from ottwatch.reports.incident import IncidentReport
from ottwatch.reports.models import ModelsReport
from ottwatch.reports.text import md, md_table, share, span, when
from ottwatch.safe_text import dumps
from ottwatch.vocabulary import LEVELS

Report = IncidentReport | ComplianceReport | ModelsReport
FORMATS = ("md", "html", "json")
TITLES = {IncidentReport: "Incident report", ComplianceReport: "Compliance report",
          ModelsReport: "Models report"}
TEMPLATES = {IncidentReport: "incident.html", ComplianceReport: "compliance.html",
             ModelsReport: "models.html"}


def render(report: Report, fmt: str, *, written: float) -> str:
    if fmt == "json":
        return dumps({**report.to_dict(), "written": written}, indent=True) + "\n"
    if fmt == "html":
        return _html(report, written)
    if fmt == "md":
        return "\n".join(_markdown(report, written)) + "\n"
    raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")


def title_of(report: Report) -> str:
    title = TITLES[type(report)]
    return f"{title}: {report.subject}" if isinstance(report, IncidentReport) else title


def period(report: Report) -> str:
    return f"{when(report.since)} to {when(report.until)}"


def _html(report: Report, written: float) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(loader=PackageLoader("ottwatch.reports", "templates"),
                              autoescape=select_autoescape(default=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = environment.get_template(TEMPLATES[type(report)])
    extra: dict[str, Any] = {"plot": None, "alerts_plot": None}
    if isinstance(report, IncidentReport) and report.timeline:
        extra["plot"] = plots.stacked_by_day(levels_per_day(report), (*LEVELS, "not scored"),
                                             plots.LEVEL_COLOURS, "events")
    if isinstance(report, ComplianceReport):
        status = {r.regulation: {"on time": sum(s.on_time for s in r.kinds.values()),
                                 "open": sum(s.open for s in r.kinds.values()),
                                 "late": sum(s.late for s in r.kinds.values())}
                  for r in report.regulations}
        if any(sum(counts.values()) for counts in status.values()):
            extra["plot"] = plots.deadline_status(status)
        if report.alerts_per_day:
            extra["alerts_plot"] = plots.stacked_by_day(report.alerts_per_day, LEVELS,
                                                        plots.LEVEL_COLOURS, "alerts")
    return template.render(report=report, title=title_of(report), period=period(report),
                           written=when(written), when=when, span=span, share=share, **extra)


def levels_per_day(report: IncidentReport) -> dict[int, dict[str, int]]:
    days: dict[int, Counter[str]] = {}
    for event in report.timeline:
        days.setdefault(int(event["ts"] // 86_400), Counter())[event["level"] or "not scored"] += 1
    return {day: dict(counts) for day, counts in days.items()}


def _markdown(report: Report, written: float) -> list[str]:
    lines = [f"# {md(title_of(report))}", "", f"{period(report)}, written {when(written)}", ""]
    if isinstance(report, ComplianceReport):
        lines += _compliance_md(report)
    elif isinstance(report, IncidentReport):
        lines += _incident_md(report)
    else:
        lines += _models_md(report)
    return lines


def _compliance_md(report: ComplianceReport) -> list[str]:
    rows = [[r.regulation, kind, s.opened, s.on_time, s.late, s.open, span(s.least_time_left_s),
             ", ".join(s.late_requests[:10])]
            for r in report.regulations for kind, s in r.kinds.items() if s.opened]
    lines = ["## Deadline status", ""]
    lines += md_table(["Regulation", "Kind", "Opened", "On time", "Late", "Open",
                       "Least time left", "Late requests"], rows) if rows else \
        ["No request or breach opened in the period."]
    lines += ["", "## Consent coverage", ""]
    lines += md_table(["Regulation", "Events with a consent flag", "Consented", "Coverage"],
                      [[r.regulation, r.consent_events, r.consented, share(r.consent_coverage)]
                       for r in report.regulations if r.consent_events])
    lines += ["", "## Sources", ""]
    lines += md_table(["Regulation", "Law", "Breach", "Access (DSAR)", "Deletion"],
                      [[r.regulation, r.law, r.sources.get("breach", ""),
                        r.sources.get("dsar", ""), r.sources.get("deletion", "")]
                       for r in report.regulations])
    return lines


def _incident_md(report: IncidentReport) -> list[str]:
    lines = ["## Summary", ""]
    lines += md_table(["Level", "Events"], [[level, n] for level, n in report.levels.items()])
    if report.truncated:
        lines += ["", f"Only the first {len(report.timeline)} events of the period are shown."]
    lines += ["", "## Reasons", ""]
    lines += md_table(["Code", "Events"], [[code, n] for code, n in report.reasons.items()])
    lines += ["", "## Linked accounts", ""]
    lines += md_table(["Account", "Events tying it in"],
                      [[user, n] for user, n in report.linked.items()]) if report.linked else \
        ["None found in the period."]
    for ring in report.rings:
        lines += ["", f"Ring {md(ring['ring_id'])}: {ring['size']} accounts, "
                      f"risk {ring['risk']:.0f}: {md(', '.join(ring['members'] or []))}"]
    lines += ["", "## Alerts", ""]
    lines += md_table(["Opened", "Severity", "Alert", "Status", "Acknowledged"], [
        [when(a["created_at"]), a["severity"], a["title"], a["status"],
         "; ".join(f"{k['action']} by {k['actor']} at {when(k['at'])}" for k in a["acks"])
         or "-"] for a in report.alerts]) if report.alerts else ["No alert in the period."]
    lines += ["", "## Timeline", ""]
    lines += md_table(["Time", "User", "Type", "IP", "Region", "Level", "Codes"], [
        [e["timestamp"], e["user_id"], e["event_type"], e["ip_address"] or "",
         e["region"] or "", e["level"] or "not scored", ", ".join(e["codes"])]
        for e in report.timeline])
    lines += ["", "## Evidence", ""]
    for event in report.evidence:
        lines += md_table(["Field", "Value"], [[name, value] for name, value in event.items()
                                               if name != "reasons" and value is not None] +
                          [["reason", f"{r['code']} +{r['weight']}: {r['detail']}"]
                           for r in event["reasons"]])
        lines.append("")
    return lines


def _models_md(report: ModelsReport) -> list[str]:
    lines = ["## Versions", ""]
    lines += md_table(["Model", "Version", "Status", "Trained", "Samples", "Held-out metrics",
                       "Drift"], [
        [v["name"], v["version"], v["status"], when(v["trained_at"]), v["samples"],
         ", ".join(f"{k} {m}" for k, m in (v["metrics"] or {}).items()),
         ", ".join(f"{k} {m}" for k, m in (v["drift"] or {}).items())]
        for v in report.versions]) if report.versions else ["No model trained yet."]
    lines += ["", "## Labels given in the period", ""]
    lines += md_table(["Label", "Events"], [[k, n] for k, n in report.labels.items()])
    return lines
