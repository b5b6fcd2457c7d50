"""The compliance report of a period: per regulation, the requests opened and how each
stands (fulfilled on time, late, open with time left), breaches and their
notification, consent coverage of the events it governs, and the law's sources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ottwatch.regulations.table import RegulationTable

KINDS = ("dsar", "deletion", "breach")


@dataclass(slots=True)
class KindStatus:
    """Requests (or breaches) of one kind opened in the period, as they stand at the
    report's time."""

    opened: int = 0
    on_time: int = 0  # closed by the deadline
    late: int = 0  # closed after it, or still open past it
    open: int = 0  # not closed, deadline still ahead
    least_time_left_s: float | None = None  # of the open ones
    late_requests: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"opened": self.opened, "on_time": self.on_time, "late": self.late,
                "open": self.open, "least_time_left_s": self.least_time_left_s,
                "late_requests": self.late_requests}


@dataclass(slots=True)
class RegulationStatus:
    regulation: str
    law: str
    kinds: dict[str, KindStatus]
    consent_events: int  # events under it that carry a consent flag
    consented: int
    sources: dict[str, str]  # deadline kind -> what the law says and where

    @property
    def consent_coverage(self) -> float | None:
        return self.consented / self.consent_events if self.consent_events else None

    def to_dict(self) -> dict[str, Any]:
        return {"regulation": self.regulation, "law": self.law,
                "requests": {kind: status.to_dict() for kind, status in self.kinds.items()},
                "consent": {"events": self.consent_events, "consented": self.consented,
                            "coverage": self.consent_coverage},
                "sources": self.sources}


@dataclass(slots=True)
class ComplianceReport:
    since: float
    until: float
    regulations: list[RegulationStatus]
    alerts_per_day: dict[int, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"report": "compliance", "since": self.since, "until": self.until,
                "regulations": [r.to_dict() for r in self.regulations],
                "alerts_per_day": {str(day): counts for day, counts
                                   in sorted(self.alerts_per_day.items())}}


def build_compliance(table: RegulationTable, timers: Iterable[Mapping[str, Any]],
                     consent: Mapping[tuple[str | None, bool], int], *, since: float,
                     until: float, alerts_per_day: Mapping[int, dict[str, int]] | None = None
                     ) -> ComplianceReport:
    """`timers`: those opened in [since, until); `consent`: events of the period with a
    consent flag, by (claimed region, flag). Status is as of `until`."""
    by_regulation: dict[str, dict[str, KindStatus]] = {
        r.id: {kind: KindStatus() for kind in KINDS} for r in table}
    for timer in timers:
        kinds = by_regulation.setdefault(timer["regulation"],
                                         {kind: KindStatus() for kind in KINDS})
        _count(kinds.setdefault(timer["kind"], KindStatus()), timer, until)
    coverage: dict[str, list[int]] = {}
    for (region, flag), n in consent.items():
        for regulation in table.regulations_for(region, None):
            counts = coverage.setdefault(regulation.id, [0, 0])
            counts[0] += n
            counts[1] += n if flag else 0
    rows = []
    for regulation in table:
        events, consented = coverage.get(regulation.id, (0, 0))
        sources = {kind: f"{regulation.deadline(kind).law} ({regulation.deadline(kind).source})"
                   for kind in KINDS}
        rows.append(RegulationStatus(regulation.id, regulation.law,
                                     by_regulation.get(regulation.id, {}), events, consented,
                                     sources))
    known = {r.id for r in table}
    for regulation_id, kinds in sorted(by_regulation.items()):
        if regulation_id not in known:  # a timer of a regulation since removed from the table
            rows.append(RegulationStatus(regulation_id, "(not in the regulation table)", kinds,
                                         0, 0, {}))
    return ComplianceReport(since, until, rows, dict(alerts_per_day or {}))


def _count(status: KindStatus, timer: Mapping[str, Any], at: float) -> None:
    status.opened += 1
    closed_at = timer.get("closed_at")
    deadline = timer["deadline"]
    if closed_at is not None and closed_at < at:
        if closed_at <= deadline:
            status.on_time += 1
        else:
            status.late += 1
            status.late_requests.append(timer["request_id"])
    elif deadline <= at:
        status.late += 1
        status.late_requests.append(timer["request_id"])
    else:
        status.open += 1
        left = deadline - at
        if status.least_time_left_s is None or left < status.least_time_left_s:
            status.least_time_left_s = left
