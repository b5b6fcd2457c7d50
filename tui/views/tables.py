"""Small shared pieces for the table-based views."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import App
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

T = TypeVar("T")
LOWEST_PRIORITY = 19


class MeasuredTable(DataTable[Any]):
    """A DataTable that holds at first only the rows that fit the screen, plus a margin:
    the rest are added as the cursor or the scroll position comes near them (or all
    at once on End). Textual measures every new row's cells and keeps them, so a
    switch, a filter or a refresh of a 200-row view costs what is seen, not 200 rows.

    It is also drawn again once its new rows are measured. Textual measures them
    when idle; a frame drawn in between (columns as narrow as before) would stay in
    its render caches until the next change, so new column widths drop those caches."""

    MARGIN = 20  # rows beyond the screen's height added at once

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[tuple[tuple[Any, ...], str]] = []  # rows not added yet
        self.shown_rows: list[tuple[str, tuple[Any, ...]]] | None = None

    @property
    def total_rows(self) -> int:
        """Rows added and still to be added."""
        return self.row_count + len(self.pending)

    def first_rows(self) -> int:
        """How many rows to add now: the screen's height (the table is at most that
        tall; before its first layout its own height is 0), plus the margin."""
        return max(self.size.height, self.app.size.height) + self.MARGIN

    def set_rows(self, rows: list[tuple[Any, ...]], keys: list[str]) -> None:
        """Replace every row: the first ones added now, the rest kept for later."""
        self.pending = []  # before clear(): its cursor reset must not add the old ones
        self.clear()
        first = self.first_rows()
        for row, key in zip(rows[:first], keys[:first], strict=True):
            self.add_row(*row, key=key)
        self.pending = list(zip(rows[first:], keys[first:], strict=True))
        self._widen(rows[first:])

    def _widen(self, rows: list[tuple[Any, ...]]) -> None:
        """Columns as wide as the kept rows will need (their text's length: cheap, where
        Textual's measuring renders each cell), so they do not widen as rows come in."""
        for column, cells in zip(self.ordered_columns, zip(*rows, strict=False), strict=False):
            widest = max(cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))
                         for cell in cells)
            column.content_width = max(column.content_width, widest)

    def add_pending(self, upto: int) -> None:
        """Add kept rows until `upto` rows are in the table (or none are left)."""
        count = max(0, upto - self.row_count)
        if count and self.pending:
            chunk, self.pending = self.pending[:count], self.pending[count:]
            for row, key in chunk:
                self.add_row(*row, key=key)

    def _near_the_end(self) -> None:
        if self.pending:
            seen = max(self.cursor_row, round(self.scroll_y) + self.size.height)
            if seen + self.MARGIN >= self.row_count:
                self.add_pending(seen + self.first_rows())

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        self._near_the_end()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._near_the_end()

    def action_scroll_bottom(self) -> None:
        self.add_pending(self.total_rows)
        super().action_scroll_bottom()

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        if new.width != old.width:
            self.notify_style_update()


def refill(table: MeasuredTable, rows: list[tuple[Any, ...]], keys: list[str]) -> None:
    """Replace the rows, keeping the cursor on the same key when it is still there.
    Rows equal to those shown are left alone: no table is rebuilt (and drawn again)
    on every refresh only to show the same thing."""
    shown = list(zip(keys, rows, strict=True))
    if table.shown_rows == shown and table.total_rows == len(rows):
        return
    table.shown_rows = shown
    current = None
    if table.row_count and table.cursor_row < table.row_count:
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.set_rows(rows, keys)
    if current in keys:
        row = keys.index(current)
        table.add_pending(row + 1)
        table.move_cursor(row=row)


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


def deliver(app: App[Any], show: Callable[..., Any], *args: Any) -> bool:
    """From a loading worker: hand its result to the UI thread, unless the worker was
    cancelled (a newer load of the same view replaced it, and its result would be
    stale). False when cancelled."""
    if get_current_worker().is_cancelled:
        return False
    app.call_from_thread(show, *args)
    return True


def show_text(widget: Static, content: VisualType, *, fixed_size: bool = False) -> None:
    """Update `widget` only when its content changed; one whose size the stylesheet
    fixes is redrawn without laying the screen out again."""
    if widget.content != content:
        widget.update(content, layout=not fixed_size)


def at_low_priority(read: Callable[[], T]) -> T:
    """From a loading worker: run `read` (a database read nobody waits for, such as
    the aggregates refreshed every half minute) in a thread of its own at the lowest
    CPU priority, and wait for it. On a busy core it then takes the time the console
    and the agent leave, instead of sharing the core with a key press being drawn.
    (Linux gives each thread its own priority; elsewhere it runs as usual. A thread of
    its own, as a lowered priority cannot be raised again by an unprivileged user.)"""
    result: Future[T] = Future()

    def run() -> None:
        if sys.platform == "linux":
            with suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
        try:
            result.set_result(read())
        except BaseException as exc:  # handed to the waiting worker
            result.set_exception(exc)

    threading.Thread(target=run, name="ottwatch-low-priority", daemon=True).start()
    return result.result()
