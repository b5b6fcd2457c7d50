"""Regulations: scope, violations, open deadline timers and consent coverage."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ottwatch.regulations.table import RegulationTable, load_table
from storage import console
from tui.safe import ago, clock, plain
from tui.views.tables import refill

DAY = 86400.0


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


class RegulationsView(Vertical):
    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.table = load_table()

    def compose(self) -> ComposeResult:
        yield Static("", id="regulations-summary")
        summary: DataTable[Any] = DataTable(id="regulations-table", cursor_type="row")
        summary.add_columns("regulation", "events 24h", "alerts today", "alerts 7d",
                            "open timers", "next deadline")
        yield summary
        yield Static("open timers, nearest deadline first", classes="caption")
        timers: DataTable[Any] = DataTable(id="timers-table", cursor_type="row")
        timers.add_columns("kind", "request", "user", "regulation", "opened", "deadline",
                           "time left")
        yield timers

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="regulations")
    def _load(self) -> None:
        now = console.newest_event_ts(self.engine) or 0.0
        data = {
            "now": now,
            "scope": scope_counts(self.table, console.events_by_region(
                self.engine, since=now - DAY, until=now)),
            "today": console.regulation_alert_counts(self.engine, since=now - DAY),
            "week": console.regulation_alert_counts(self.engine, since=now - 7 * DAY),
            "timers": console.open_timers(self.engine),
            "consent": console.consent_coverage(self.engine),
        }
        self.app.call_from_thread(self._show, data)

    def _show(self, data: dict[str, Any]) -> None:
        now, timers = data["now"], data["timers"]
        consent = data["consent"]
        known = consent.get(True, 0) + consent.get(False, 0)
        coverage = f"{consent.get(True, 0) / known:.0%}" if known else "-"
        self.query_one("#regulations-summary", Static).update(
            f"consent coverage {coverage} of {known:,} users with a known state   "
            f"{len(timers)} open timers   (time is the newest event's: {clock(now)})")
        by_regulation: dict[str, list[dict[str, Any]]] = {}
        for timer in timers:
            by_regulation.setdefault(timer["regulation"], []).append(timer)
        rows, keys = [], []
        for regulation in self.table:
            open_timers = by_regulation.get(regulation.id, [])
            nearest = min((t["deadline"] for t in open_timers), default=None)
            window = regulation.dsar.seconds
            rows.append((
                Text(regulation.id, style="bold"), f"{data['scope'].get(regulation.id, 0):,}",
                str(data["today"].get(regulation.id, 0)), str(data["week"].get(regulation.id, 0)),
                str(len(open_timers)),
                time_left(nearest, now, window) if nearest is not None else Text("-"),
            ))
            keys.append(regulation.id)
        refill(self.query_one("#regulations-table", DataTable), rows, keys)
        refill(self.query_one("#timers-table", DataTable), [
            (t["kind"], plain(t["request_id"]), plain(t["user_id"]), t["regulation"],
             clock(t["opened_at"]), clock(t["deadline"]),
             time_left(t["deadline"], now, t["deadline"] - t["opened_at"]))
            for t in timers], [t["key"] for t in timers])
