"""`export --since/--until` and the filters: which records of each kind an
investigator asked for. The window is applied in SQL on an indexed time column; the
filters on each record (an address in a network, a code among the reasons)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Table, and_

from ottwatch.forensics.filters import EventFilter
from ottwatch.forensics.window import Window
from ottwatch.pipeline import Assessment, Reason


@dataclass(frozen=True, slots=True)
class ExportScope:
    window: Window = field(default_factory=Window)
    only: EventFilter = field(default_factory=EventFilter)

    @property
    def everything(self) -> bool:
        return not self.window.bounded and self.only.empty

    def between(self, column: Any) -> ColumnElement[bool] | None:
        """`column` inside the window, or None when the window is open."""
        terms = []
        if self.window.since != -math.inf:
            terms.append(column >= self.window.since)
        if self.window.until != math.inf:
            terms.append(column < self.window.until)
        return and_(*terms) if terms else None

    def overlapping(self, table: Table, start: str, end: str) -> ColumnElement[bool] | None:
        """Records alive at some time in the window (started before its end, last seen
        after its start)."""
        terms = []
        if self.window.since != -math.inf:
            terms.append(table.c[end] >= self.window.since)
        if self.window.until != math.inf:
            terms.append(table.c[start] < self.window.until)
        return and_(*terms) if terms else None

    def event_matches(self, row: dict[str, Any], assessment: dict[str, Any] | None) -> bool:
        return self.only.matches(_event(row), _assessment(assessment))

    def assessment_matches(self, row: dict[str, Any], event: dict[str, Any] | None) -> bool:
        person = event or {"user_id": row["user_id"], "ip_address": None, "region": None}
        return self.only.matches(_event(person), _assessment(row))

    def alert_matches(self, row: dict[str, Any]) -> bool:
        only = self.only
        people = only.users | only.ring_members
        if people and row["user_id"] not in people:
            return False
        if only.codes and not only.codes & set(row["codes"] or []):
            return False
        if only.levels and row["severity"] not in only.levels:
            return False
        return not (only.networks or only.regions)  # an alert has no address or region

    def ring_matches(self, row: dict[str, Any]) -> bool:
        people = self.only.users | self.only.ring_members
        return not people or bool(people & set(row["members"] or []))


def _event(row: dict[str, Any]) -> Any:
    return SimpleNamespace(user_id=row.get("user_id"), ip_address=row.get("ip_address"),
                           region=row.get("region"))


def _assessment(row: dict[str, Any] | None) -> Assessment | None:
    if row is None:
        return None
    reasons = [Reason(r.get("code", ""), float(r.get("weight", 0)), "")
               for r in row.get("reasons") or []]
    return Assessment(row.get("event_id", ""), row.get("user_id", ""), 0.0, "", 0.0,
                      row.get("level", "low"), "", 0.0, reasons)


def paired(rows: Iterator[dict[str, Any]], lookup: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """Each row with what `lookup(page)` finds for a page of them (by event id)."""
    page: list[dict[str, Any]] = []
    for row in rows:
        page.append(row)
        if len(page) >= 2000:
            found = lookup([r["event_id"] for r in page])
            yield from ((r, found.get(r["event_id"])) for r in page)
            page = []
    if page:
        found = lookup([r["event_id"] for r in page])
        yield from ((r, found.get(r["event_id"])) for r in page)
