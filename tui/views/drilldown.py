"""Drill-down: one event's assessment explained, and its user's story."""

from __future__ import annotations

from typing import Any

import orjson
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from storage import console, operator
from tui.safe import ago, clock, level_text, plain, visible
from tui.views.tables import MeasuredTable


def reasons_table(assessment: dict[str, Any] | None) -> Table:
    table = Table(title="assessment", title_justify="left", expand=True)
    table.add_column("code", no_wrap=True)
    table.add_column("weight", justify="right")
    table.add_column("detail")
    if assessment is None:
        table.add_row("not scored", "", "")
        return table
    for reason in assessment["reasons"] or []:
        code = plain(reason.get("code"))
        if reason.get("shadow"):
            code.append(" (shadow)", style="dim")
        table.add_row(code, f"{reason.get('weight', 0):.0f}",
                      Text(visible(reason.get("detail", ""))),
                      style="dim" if reason.get("shadow") else None)
    if not assessment["reasons"]:
        table.add_row("-", "", Text("no detector fired", style="dim"))
    table.caption = (f"score {assessment['score']:.0f}  level {assessment['level']}  "
                     f"decision {assessment['decision']}  threshold {assessment['threshold']:.0f}")
    return table


def event_table(event: dict[str, Any] | None) -> Table:
    table = Table(title="event", title_justify="left", show_header=False, expand=True)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    if event is None:
        table.add_row("", "unknown event")
        return table
    for key in ("event_id", "timestamp", "user_id", "event_type", "device_id", "ip_address",
                "region", "has_consent", "subscription_plan", "session_id", "request_id",
                "bytes", "error_code", "source"):
        if event.get(key) is not None:
            table.add_row(key, plain(event[key]))
    if event.get("extra_metadata"):
        table.add_row("extra_metadata",
                      Text(visible(orjson.dumps(event["extra_metadata"]).decode())))
    return table


def user_table(user_id: str, timeline: list[dict[str, Any]]) -> Table:
    """The top-left panel when the drill-down was opened on a user, not an event."""
    table = Table(title="user", title_justify="left", show_header=False, expand=True)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("user_id", plain(user_id))
    table.add_row("events", f"{len(timeline)}{'+' if len(timeline) >= 200 else ''}")
    if timeline:
        table.add_row("newest", clock(timeline[0]["ts"]))
        table.add_row("highest score", f"{max(row['score'] for row in timeline):.0f}")
    return table


def user_reasons(timeline: list[dict[str, Any]]) -> Table:
    """The user's top reasons over the timeline, for a drill-down opened on a user."""
    counts: dict[str, int] = {}
    for row in timeline:
        if row["top_code"]:
            counts[row["top_code"]] = counts.get(row["top_code"], 0) + 1
    table = Table(title="top reasons", title_justify="left", expand=True)
    table.add_column("code", no_wrap=True)
    table.add_column("events", justify="right")
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(plain(code), str(count))
    if not counts:
        table.add_row("-", Text("no detector fired", style="dim"))
    return table


def user_summary(user_id: str, state: dict[str, Any] | None, rings: list[dict[str, Any]],
                 timers: list[dict[str, Any]], now: float) -> Text:
    text = Text("user ", style="bold")
    text.append_text(plain(user_id))
    if state:
        text.append(f"   segment {state['segment']}   first seen {clock(state['first_seen'])}"
                    f"   last seen {clock(state['last_seen'])}   consent "
                    f"{ {True: 'given', False: 'withdrawn', None: 'unknown'}[state['consent']] }")
    for ring in rings:
        text.append(f"\nring {visible(ring['ring_id'])}: {ring['size']} accounts, "
                    f"risk {ring['risk']:.2f}", style="bold red")
    for timer in timers:
        left = timer["deadline"] - now
        when = f"due in {ago(left)}" if left > 0 else f"overdue by {ago(left)}"
        text.append(f"\n{timer['kind']} {visible(timer['request_id'])} ({timer['regulation']}): "
                    f"{timer['state']}, {when}", style="yellow" if left > 0 else "red")
    return text


class DrillDown(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("v", "label('violation')", "Label violation"),
        Binding("b", "label('benign')", "Label benign"),
    ]

    def __init__(self, engine: Any, *, event_id: str | None, user_id: str | None) -> None:
        super().__init__()
        self.engine = engine
        self.event_id = event_id
        self.user_id = user_id
        self.pending_label: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            with Horizontal(id="drill-top"):
                yield Static(id="event")
                yield Static(id="reasons")
            yield Static(id="user")
            yield Static("timeline (newest first)", classes="caption")
            table: DataTable[Any] = MeasuredTable(id="timeline", cursor_type="row")
            table.add_columns("time", "type", "device", "ip", "region", "score", "level",
                              "top reason")
            yield table
        yield Input(placeholder="note for the label (enter to save, escape to cancel)",
                    id="note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#note", Input).display = False
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        event = console.event(self.engine, self.event_id) if self.event_id else None
        assessment = console.assessment(self.engine, self.event_id) if self.event_id else None
        user_id = self.user_id or (event or {}).get("user_id")
        data: dict[str, Any] = {"event": event, "assessment": assessment, "user_id": user_id}
        if user_id:
            data["state"] = console.user_state(self.engine, user_id)
            data["rings"] = console.user_rings(self.engine, user_id)
            data["timers"] = console.user_timers(self.engine, user_id)
            data["timeline"] = console.user_timeline(self.engine, user_id)
        self.app.call_from_thread(self._show, data)

    def _show(self, data: dict[str, Any]) -> None:
        user_id = data["user_id"]
        if self.event_id is None and user_id:
            self.query_one("#event", Static).update(user_table(user_id, data["timeline"]))
            self.query_one("#reasons", Static).update(user_reasons(data["timeline"]))
        else:
            self.query_one("#event", Static).update(event_table(data["event"]))
            self.query_one("#reasons", Static).update(reasons_table(data["assessment"]))
        if not user_id:
            self.query_one("#user", Static).update("unknown event and user")
            return
        timeline = data["timeline"]
        now = timeline[0]["ts"] if timeline else 0.0
        self.query_one("#user", Static).update(
            user_summary(user_id, data["state"], data["rings"], data["timers"], now))
        self.query_one("#timeline", MeasuredTable).set_rows(
            [(clock(row["ts"]), plain(row["event_type"]), plain(row["device_id"]),
              plain(row["ip_address"]), plain(row["region"]), f"{row['score']:.0f}",
              level_text(row["level"]), plain(row["top_code"] or "")) for row in timeline],
            [str(n) for n in range(len(timeline))])

    def action_label(self, label: str) -> None:
        if not self.event_id:
            self.notify("open an event to label it", severity="warning")
            return
        self.pending_label = label
        note = self.query_one("#note", Input)
        note.display = True
        note.value = ""
        note.focus()

    @on(Input.Submitted, "#note")
    def _save_label(self, message: Input.Submitted) -> None:
        assert self.event_id and self.pending_label
        operator.add_label(self.engine, self.event_id, self.pending_label, message.value)
        message.input.display = False
        self.notify(f"labelled {visible(self.event_id)} as {self.pending_label}", markup=False)
        self.pending_label = None
