"""Small shared pieces for the table-based views."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


def refill(table: DataTable[Any], rows: list[tuple[Any, ...]], keys: list[str]) -> None:
    """Replace the rows, keeping the cursor on the same key when it is still there."""
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
