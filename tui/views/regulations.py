"""Regulations: scope, violations, open deadline timers and consent coverage."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ottwatch.regulations.table import RegulationTable, load_table
from ottwatch.vocabulary import DAY_S as DAY
from storage import console
from tui.safe import ago, clock, plain
from tui.views.tables import MeasuredTable, at_low_priority, deliver, refill, show_text

SLOW_EVERY_S = 30.0  # a day's counts by region: half a minute late is still right
PENDING = "…"


def time_left(deadline: float, now: float, window: float) -> Text:
    left = deadline - now
    if left <= 0:
        return Text(f"overdue {ago(left)}", style="bold white on red")
    style = "red" if left < 0.2 * window else "yellow" if left < 0.5 * window else "green"
    return Text(f"{ago(left)} left", style=style)


def scope_counts(table: RegulationTable, by_region: dict[str | None, int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for region, count in by_region.items():
        for regulation in table.regulations_for(region, None):
            counts[regulation.id] = counts.get(regulation.id, 0) + count
    return counts


def consent_text(consent: dict[bool | None, int] | None) -> str:
    if consent is None:
        return f"consent coverage {PENDING}"
    known = consent.get(True, 0) + consent.get(False, 0)
    coverage = f"{consent.get(True, 0) / known:.0%}" if known else "-"
    return f"consent coverage {coverage} of {known:,} users with a known state"


def scope_text(scope: dict[str, int] | None, regulation: str) -> str:
    return PENDING if scope is None else f"{scope.get(regulation, 0):,}"


class RegulationsView(Vertical):
    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.table = load_table()
        self.aggregates: dict[str, Any] | None = None
        self.aggregated_at = 0.0
        self.aggregating = False
        self.shown: dict[str, Any] | None = None  # the indexed reads last shown

    def compose(self) -> ComposeResult:
        yield Static("", id="regulations-summary")
        summary: DataTable[Any] = MeasuredTable(id="regulations-table", cursor_type="row")
        summary.add_columns("regulation", "events 24h", "alerts today", "alerts 7d",
                            "open timers", "next deadline")
        yield summary
        yield Static("open timers, nearest deadline first", classes="caption")
        timers: DataTable[Any] = MeasuredTable(id="timers-table", cursor_type="row")
        timers.add_columns("kind", "request", "user", "regulation", "opened", "deadline",
                           "time left")
        yield timers

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="regulations")
    def _load(self) -> None:
        """The indexed reads, shown at once; then, at most every SLOW_EVERY_S, the two
        aggregates that read many rows (a day of events by region, every user's
        consent) are read by a worker of their own, at a low priority, shown when they
        land and kept until the next time: a later visit does not wait for them."""
        now = console.newest_event_ts(self.engine) or 0.0
        data = {
            "now": now,
            "today": console.regulation_alert_counts(self.engine, since=now - DAY),
            "week": console.regulation_alert_counts(self.engine, since=now - 7 * DAY),
            "timers": console.open_timers(self.engine),
        }
        if deliver(self.app, self._show, data) and self._aggregates_due():
            self.app.call_from_thread(self._start_aggregates, now)

    def _start_aggregates(self, now: float) -> None:
        if not self.aggregating:
            self.aggregating = True
            self._aggregate(now)

    @work(thread=True, exclusive=True, group="regulations-aggregates")
    def _aggregate(self, now: float) -> None:
        try:
            self.aggregates = at_low_priority(lambda: {
                "scope": scope_counts(self.table, console.events_by_region(
                    self.engine, since=now - DAY, until=now)),
                "consent": console.consent_coverage(self.engine),
            })
            self.aggregated_at = time.monotonic()
        finally:
            self.aggregating = False
        deliver(self.app, self._show_aggregates)

    def _show_aggregates(self) -> None:
        if self.shown is not None:
            self._show(self.shown)

    def _aggregates_due(self) -> bool:
        return self.aggregates is None or \
            time.monotonic() - self.aggregated_at >= SLOW_EVERY_S

    def _show(self, data: dict[str, Any]) -> None:
        self.shown = data
        data = {**data, **(self.aggregates or {"scope": None, "consent": None})}
        now, timers = data["now"], data["timers"]
        show_text(self.query_one("#regulations-summary", Static),
                  f"{consent_text(data['consent'])}   {len(timers)} open timers   "
                  f"(time is the newest event's: {clock(now)})")
        by_regulation: dict[str, list[dict[str, Any]]] = {}
        for timer in timers:
            by_regulation.setdefault(timer["regulation"], []).append(timer)
        rows, keys = [], []
        for regulation in self.table:
            open_timers = by_regulation.get(regulation.id, [])
            nearest = min((t["deadline"] for t in open_timers), default=None)
            window = regulation.dsar.seconds
            rows.append((
                Text(regulation.id, style="bold"), scope_text(data["scope"], regulation.id),
                str(data["today"].get(regulation.id, 0)), str(data["week"].get(regulation.id, 0)),
                str(len(open_timers)),
                time_left(nearest, now, window) if nearest is not None else Text("-"),
            ))
            keys.append(regulation.id)
        refill(self.query_one("#regulations-table", MeasuredTable), rows, keys)
        refill(self.query_one("#timers-table", MeasuredTable), [
            (t["kind"], plain(t["request_id"]), plain(t["user_id"]), t["regulation"],
             clock(t["opened_at"]), clock(t["deadline"]),
             time_left(t["deadline"], now, t["deadline"] - t["opened_at"]))
            for t in timers], [t["key"] for t in timers])
