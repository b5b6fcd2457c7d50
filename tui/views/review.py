"""Review queue: events whose decision is `review`, oldest first, to label."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from storage import console, operator
from tui.safe import clock, level_text, plain, visible
from tui.views.live import LiveView
from tui.views.tables import MeasuredTable, deliver, refill, selected_key, show_text


class ReviewView(Vertical):
    BINDINGS = [
        Binding("v", "label('violation')", "Violation"),
        Binding("b", "label('benign')", "Benign"),
    ]

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.pending: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="review-summary")
        table: DataTable[Any] = MeasuredTable(id="review-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("time", "user", "type", "score", "level", "top reason")
        yield table
        yield Input(placeholder="note (enter saves the label, escape cancels)", id="review-note")

    def on_mount(self) -> None:
        self.query_one("#review-note", Input).display = False

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="review")
    def _load(self) -> None:
        rows = console.review_queue(self.engine)
        deliver(self.app, self._show, rows)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        show_text(self.query_one("#review-summary", Static),
                  f"{len(rows)}{'+' if len(rows) >= 200 else ''} events to review, "
                  "oldest first (v violation, b benign, enter drill down)")
        refill(self.query_one(MeasuredTable),
               [(clock(r["ts"]), plain(r["user_id"]), plain(r["event_type"]),
                 Text(f"{r['score']:.0f}", justify="right"), level_text(r["level"]),
                 plain(r["top_code"] or "")) for r in rows],
               [f"{r['event_id']}\x00{r['user_id']}" for r in rows])

    def action_label(self, label: str) -> None:
        key = selected_key(self.query_one(DataTable))
        if key is None:
            return
        event_id, _, _user = key.partition("\x00")
        self.pending = (event_id, label)
        note = self.query_one("#review-note", Input)
        note.value = ""
        note.display = True
        note.focus()

    @on(Input.Submitted, "#review-note")
    def _save(self, message: Input.Submitted) -> None:
        assert self.pending is not None
        event_id, label = self.pending
        operator.add_label(self.engine, event_id, label, message.value)
        message.input.display = False
        self.query_one(DataTable).focus()
        self.notify(f"labelled {visible(event_id)} {label}", markup=False)
        self.pending = None
        self._load()

    @on(DataTable.RowSelected, "#review-table")
    def _open(self, message: DataTable.RowSelected) -> None:
        event_id, _, user_id = str(message.row_key.value).partition("\x00")
        self.post_message(LiveView.Open(event_id, user_id))
