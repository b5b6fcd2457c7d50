"""Small shared pieces for the table-based views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from textual.app import App
from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker


class MeasuredTable(DataTable[Any]):
    """A DataTable drawn again once its new rows are measured. Textual measures them
    when idle; a frame drawn in between (columns as narrow as before) would stay in
    its render caches until the next change, so new column widths drop those caches."""

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        if new.width != old.width:
            self.notify_style_update()


_SHOWN: WeakKeyDictionary[DataTable[Any], list[tuple[str, tuple[Any, ...]]]] = \
    WeakKeyDictionary()


def refill(table: DataTable[Any], rows: list[tuple[Any, ...]], keys: list[str]) -> None:
    """Replace the rows, keeping the cursor on the same key when it is still there.
    Rows equal to those shown are left alone: no table is rebuilt (and drawn again)
    on every refresh only to show the same thing."""
    shown = list(zip(keys, rows, strict=True))
    if _SHOWN.get(table) == shown and table.row_count == len(rows):
        return
    _SHOWN[table] = shown
    current = None
    if table.row_count and table.cursor_row < table.row_count:
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for row, key in zip(rows, keys, strict=True):
        table.add_row(*row, key=key)
    if current in keys:
        table.move_cursor(row=keys.index(current))


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
