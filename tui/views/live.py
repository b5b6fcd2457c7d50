"""Live: the risk stream, newest first, following new rows."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Sparkline, Static

from storage import console
from storage.console import StreamFilter, StreamSearch
from tui.report_key import write_incident_report
from tui.safe import clock, level_text, plain
from tui.views.tables import MeasuredTable, at_low_priority, deliver, selected_key, show_text

STREAM_LIMIT = 200
SLICE_S = 0.08  # a filter's search shows what it found at least this often
STATS_EVERY_S = 5.0  # level mix, top reasons and rate sparklines (10-second buckets)
Stats = tuple[dict[str, dict[str, int]], tuple[list[float], list[float]]]
FILTER_HELP = ("filter: level:high code:geo.anonymizer user:ID region:DE ip:ADDR ring:ID "
               "since:-2h until:2026-09-03T04:00Z  (empty clears)")
WORDS = ("level", "code", "user", "region", "ip", "ring", "since", "until")


def parse_filter(text: str, *, scored: bool = True, now: float | None = None,
                 members: Callable[[str], tuple[str, ...]] | None = None) -> StreamFilter:
    """`level:high user:u1 since:-2h` -> StreamFilter; unknown words are an error.
    `scored` keeps the stream to events that scored above 0 (the `e` key shows every
    event); `members` gives a ring's accounts (read from the database)."""
    from ottwatch.forensics.window import parse_instant

    fields: dict[str, Any] = {}
    for word in shlex.split(text):
        key, sep, value = word.partition(":")
        if not sep or key not in WORDS or not value:
            raise ValueError(f"not a filter: {word!r} ({FILTER_HELP})")
        if key == "level" and value not in console.LEVEL_ORDER:
            raise ValueError(f"level is one of {', '.join(console.LEVEL_ORDER)}")
        if key in ("since", "until"):
            fields[key] = parse_instant(value, time.time() if now is None else now)
        elif key == "ring":
            found = members(value) if members is not None else ()
            if not found:
                raise ValueError(f"no ring {value!r} in the database")
            fields["members"] = found
        else:
            fields[key] = value
    return StreamFilter(**fields, scored=scored)


class LiveView(Vertical):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("p", "toggle_follow", "Pause/follow"),
        Binding("e", "toggle_every", "Every event/scored"),
        Binding("i", "report", "Incident report"),
    ]

    class Open(Message):
        def __init__(self, event_id: str, user_id: str) -> None:
            super().__init__()
            self.event_id = event_id
            self.user_id = user_id

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.search = StreamSearch(StreamFilter(scored=True), limit=STREAM_LIMIT)
        self.filter_text = ""
        self.shown_search: StreamSearch | None = None  # the search whose rows are shown
        self.following = True
        self.shown_ids: list[int] = []
        self.profiled_id = -1  # the newest assessment id the stats were read at
        self.stats_due = 0.0  # monotonic time from which the stats may be read again
        self.load_lock = threading.Lock()
        self.box_closing = False

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
        table: DataTable[Any] = MeasuredTable(id="stream", cursor_type="row", zebra_stripes=True)
        table.add_columns("time", "user", "type", "region", "score", "level", "top reason")
        yield table

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._show_state()
        self.query_one(DataTable).focus()

    @property
    def where(self) -> StreamFilter:
        return self.search.where

    # -- data -------------------------------------------------------------------
    def refresh_data(self) -> None:
        if self.following:
            self._load()

    @work(thread=True, exclusive=True, group="live")
    def _load(self) -> None:
        """Rows above the watermark; then, while the filter has too few rows, older
        windows a time slice at a time, each slice shown as it comes."""
        with self.load_lock:  # a replaced load stops at its next delivery
            self._load_locked(self.search)

    def _load_locked(self, search: StreamSearch) -> None:
        newest = console.newest_assessment_id(self.engine)
        changed = search.refresh(self.engine, newest)
        if (changed or not search.complete or not self._on_screen(search)) \
                and not self._deliver_rows(search):
            return
        if newest != self.profiled_id and time.monotonic() >= self.stats_due:
            # after the rows, which never wait for these (they read at a low priority);
            # the rates are counted in 10-second buckets: read every STATS_EVERY_S at most
            self.stats_due = time.monotonic() + STATS_EVERY_S
            deliver(self.app, self._show_stats, self._stats(), newest)

    def _deliver_rows(self, search: StreamSearch) -> bool:
        """The search's rows, deepened a time slice at a time and each slice shown as it
        comes; False if this load was replaced meanwhile."""
        while True:
            deadline = time.monotonic() + SLICE_S
            while not search.complete and time.monotonic() < deadline:
                search.deepen(self.engine)
            if not deliver(self.app, self._show, search, list(search.rows)):
                return False
            if search.complete:
                return True

    def _on_screen(self, search: StreamSearch) -> bool:
        """The table shows this search's rows (a cancelled load may have read rows it
        never delivered)."""
        return search is self.shown_search and \
            [row["id"] for row in search.rows] == self.shown_ids

    def _stats(self) -> Stats:
        """The level mix, top reasons and rates (they do not depend on the filter), read
        when there are new rows since the last read."""
        return at_low_priority(lambda: (console.recent_profile(self.engine),
                                        console.rate_series(self.engine)))

    def _show(self, search: StreamSearch, rows: list[dict[str, Any]]) -> None:
        if search is not self.search:
            return  # a filter that was replaced meanwhile
        self.shown_search = search
        self._close_box()
        self._show_state()
        ids = [row["id"] for row in rows]
        if ids == self.shown_ids and self.query_one(MeasuredTable).total_rows == len(rows):
            return
        self.shown_ids = ids
        self._fill(rows)

    def _show_stats(self, stats: Stats, newest: int) -> None:
        profile, (eps, apm) = stats
        self.profiled_id = newest
        self.query_one("#eps", Sparkline).data = eps or [0]
        self.query_one("#apm", Sparkline).data = apm or [0]
        show_text(self.query_one("#eps-caption", Static),
                  f"events/s {eps[-1] if eps else 0:,.0f}", fixed_size=True)
        show_text(self.query_one("#apm-caption", Static),
                  f"alerts/min {apm[-1] if apm else 0:,.0f}", fixed_size=True)
        levels = Text("levels  ")
        total = sum(profile["levels"].values()) or 1
        for level in console.LEVEL_ORDER:
            share = profile["levels"].get(level, 0) / total
            levels.append_text(level_text(f"{level} {share:.0%}"[:14]))
            levels.append("  ")
        show_text(self.query_one("#live-levels", Static), levels, fixed_size=True)
        reasons = Text("top reasons  ")
        for code, count in profile["codes"].items():
            reasons.append_text(plain(f"{code} {count}  "))
        show_text(self.query_one("#live-reasons", Static), reasons, fixed_size=True)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(MeasuredTable)
        cursor = table.cursor_row
        table.set_rows([
            (clock(row["ts"]), plain(row["user_id"]), plain(row["event_type"]),
             plain(row["region"] or "-"), Text(f"{row['score']:.0f}", justify="right"),
             level_text(row["level"]), plain(row["top_code"] or ""))
            for row in rows], [f"{row['event_id']}\x00{row['user_id']}" for row in rows])
        if rows and not self.following:
            row = min(cursor, len(rows) - 1)
            table.add_pending(row + 1)
            table.move_cursor(row=row)

    # -- actions ------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, message: Input.Submitted) -> None:
        try:
            self.apply_filter(message.value)
        except ValueError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        self.box_closing = True

    def _close_box(self) -> None:
        """The filter box closes when the filter's first rows arrive: the screen is
        laid out and drawn once for both, not once for each."""
        if self.box_closing:
            self.box_closing = False
            self.query_one("#filter", Input).display = False
            self.query_one(DataTable).focus()

    def apply_filter(self, text: str) -> None:
        where = self._parse(text, scored=self.where.scored)
        self.filter_text = text
        self._search(where)

    def _parse(self, text: str, *, scored: bool) -> StreamFilter:
        return parse_filter(text, scored=scored,
                            members=lambda ring: console.ring_members(self.engine, ring))

    def action_toggle_every(self) -> None:
        """Between the events that scored (the default) and every event."""
        self._search(self._parse(self.filter_text, scored=not self.where.scored))

    def _search(self, where: StreamFilter) -> None:
        self.search = StreamSearch(where, limit=STREAM_LIMIT)
        self.shown_ids = []
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
        state.append("   scored events (e: every event)" if self.where.scored
                     else "   every event (e: scored only)")
        if self.where.active:
            state.append("   filter ")
            state.append_text(plain(self.filter_text))
        if self.search.floor is not None and not self.search.complete:
            state.append(f"   searching: {self.search.looked_at:,} newest events looked at",
                         style="yellow")
        show_text(self.query_one("#live-state", Static), state, fixed_size=True)

    def action_report(self) -> None:
        """The selected row's user."""
        key = selected_key(self.query_one("#stream", DataTable))
        if key:
            write_incident_report(self.app, self.engine, "user", key.partition("\x00")[2])

    @on(DataTable.RowSelected, "#stream")
    def _selected(self, message: DataTable.RowSelected) -> None:
        event_id, _, user_id = str(message.row_key.value).partition("\x00")
        self.post_message(self.Open(event_id, user_id))
