"""Live: the risk stream, newest first, following new rows."""

from __future__ import annotations

import shlex
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Sparkline, Static

from storage import console
from storage.console import StreamFilter
from tui.safe import clock, level_text, plain

STREAM_LIMIT = 200
FILTER_HELP = "filter: level:high code:geo.anonymizer user:ID region:DE  (empty clears)"


def parse_filter(text: str) -> StreamFilter:
    """`level:high user:u1` -> StreamFilter; unknown words are an error."""
    fields: dict[str, str] = {}
    for word in shlex.split(text):
        key, sep, value = word.partition(":")
        if not sep or key not in ("level", "code", "user", "region") or not value:
            raise ValueError(f"not a filter: {word!r} ({FILTER_HELP})")
        if key == "level" and value not in console.LEVEL_ORDER:
            raise ValueError(f"level is one of {', '.join(console.LEVEL_ORDER)}")
        fields[key] = value
    return StreamFilter(**fields)


class LiveView(Vertical):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("p", "toggle_follow", "Pause/follow"),
    ]

    class Open(Message):
        def __init__(self, event_id: str, user_id: str) -> None:
            super().__init__()
            self.event_id = event_id
            self.user_id = user_id

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.where = StreamFilter()
        self.following = True
        self.newest_id = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="live-stats"):
            with Vertical(classes="spark"):
                yield Static("events/s", classes="caption", id="eps-caption")
                yield Sparkline([], id="eps")
            with Vertical(classes="spark"):
                yield Static("alerts/min", classes="caption", id="apm-caption")
                yield Sparkline([], id="apm")
            yield Static("", id="live-levels")
            yield Static("", id="live-reasons")
        yield Input(placeholder=FILTER_HELP, id="filter")
        yield Static("", id="live-state")
        table: DataTable[Any] = DataTable(id="stream", cursor_type="row", zebra_stripes=True)
        table.add_columns("time", "user", "type", "region", "score", "level", "top reason")
        yield table

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._show_state()
        self.query_one(DataTable).focus()

    # -- data -------------------------------------------------------------------
    def refresh_data(self) -> None:
        if self.following:
            self._load()

    @work(thread=True, exclusive=True, group="live")
    def _load(self) -> None:
        rows = console.stream(self.engine, limit=STREAM_LIMIT, where=self.where)
        profile = console.recent_profile(self.engine)
        rates = console.rate_series(self.engine)
        self.app.call_from_thread(self._show, rows, profile, rates)

    def _show(self, rows: list[dict[str, Any]], profile: dict[str, dict[str, int]],
              rates: tuple[list[float], list[float]]) -> None:
        eps, apm = rates
        self.query_one("#eps", Sparkline).data = eps or [0]
        self.query_one("#apm", Sparkline).data = apm or [0]
        self.query_one("#eps-caption", Static).update(f"events/s {eps[-1] if eps else 0:,.0f}")
        self.query_one("#apm-caption", Static).update(f"alerts/min {apm[-1] if apm else 0:,.0f}")
        levels = Text("levels  ")
        total = sum(profile["levels"].values()) or 1
        for level in console.LEVEL_ORDER:
            share = profile["levels"].get(level, 0) / total
            levels.append_text(level_text(f"{level} {share:.0%}"[:14]))
            levels.append("  ")
        self.query_one("#live-levels", Static).update(levels)
        reasons = Text("top reasons  ")
        for code, count in profile["codes"].items():
            reasons.append_text(plain(f"{code} {count}  "))
        self.query_one("#live-reasons", Static).update(reasons)
        top = rows[0]["id"] if rows else 0
        if top == self.newest_id and self.query_one(DataTable).row_count:
            return
        self.newest_id = top
        self._fill(rows)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(
                clock(row["ts"]), plain(row["user_id"]), plain(row["event_type"]),
                plain(row["region"] or "-"), Text(f"{row['score']:.0f}", justify="right"),
                level_text(row["level"]), plain(row["top_code"] or ""),
                key=f"{row['event_id']}\x00{row['user_id']}",
            )
        if rows and not self.following:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    # -- actions ------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, message: Input.Submitted) -> None:
        try:
            self.where = parse_filter(message.value)
        except ValueError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        message.input.display = False
        self.query_one(DataTable).focus()
        self.newest_id = -1
        self._show_state()
        self._load()

    def apply_filter(self, text: str) -> None:
        self.where = parse_filter(text)
        self.newest_id = -1
        self._show_state()
        self._load()

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        self._show_state()
        if self.following:
            self._load()

    def _show_state(self) -> None:
        state = Text("following" if self.following else "paused (p to follow)",
                     style="green" if self.following else "yellow")
        if self.where.active:
            parts = [f"{k}:{v}" for k, v in (("level", self.where.level),
                                             ("code", self.where.code),
                                             ("user", self.where.user),
                                             ("region", self.where.region)) if v]
            state.append("   filter ")
            state.append_text(plain(" ".join(parts)))
        self.query_one("#live-state", Static).update(state)

    @on(DataTable.RowSelected, "#stream")
    def _selected(self, message: DataTable.RowSelected) -> None:
        event_id, _, user_id = str(message.row_key.value).partition("\x00")
        self.post_message(self.Open(event_id, user_id))
