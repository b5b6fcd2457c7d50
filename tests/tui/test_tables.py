"""MeasuredTable: only what fits the screen is added at first, the rest as the cursor
or the scroll position comes near it; nothing is lost and columns do not jump."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import pytest
from textual.app import App, ComposeResult

from tui.views.tables import LOWEST_PRIORITY, MeasuredTable, at_low_priority, refill

SIZE = (80, 24)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table = MeasuredTable(id="t", cursor_type="row")
        table.add_columns("n", "name")
        yield table


def rows(count: int, wide_at: int | None = None) -> tuple[list[tuple[Any, ...]], list[str]]:
    names = ["x" * 40 if n == wide_at else f"row {n}" for n in range(count)]
    return [(str(n), name) for n, name in enumerate(names)], [f"k{n}" for n in range(count)]


@pytest.mark.anyio
async def test_only_the_first_screenful_is_added_then_the_rest_on_the_way_down() -> None:
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(MeasuredTable)
        data, keys = rows(300)
        table.set_rows(data, keys)
        await pilot.pause()
        first = table.row_count
        assert first == SIZE[1] + MARGIN and table.total_rows == 300
        table.focus()
        for _ in range(first - MARGIN // 2):
            await pilot.press("down")
        assert first < table.row_count < 300 and table.total_rows == 300
        await pilot.press("ctrl+end")
        assert table.row_count == 300 and not table.pending
        assert table.cursor_row == 299
        assert [str(table.get_row_at(n)[0]) for n in range(300)] == [str(n) for n in range(300)]


@pytest.mark.anyio
async def test_columns_are_as_wide_as_rows_not_added_yet() -> None:
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(MeasuredTable)
        table.set_rows(*rows(300, wide_at=250))
        await pilot.pause()
        assert table.row_count < 250
        assert table.ordered_columns[1].content_width == 40


@pytest.mark.anyio
async def test_refill_keeps_the_cursor_on_its_key_even_beyond_the_first_rows() -> None:
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(MeasuredTable)
        data, keys = rows(300)
        refill(table, data, keys)
        table.focus()
        await pilot.press("ctrl+end")
        assert table.cursor_row == 299
        # one new row on top: the selected row is now the 301st
        refill(table, [("new", "new"), *data], ["new", *keys])
        await pilot.pause()
        assert table.total_rows == 301 and table.cursor_row == 300
        assert str(table.get_row_at(table.cursor_row)[0]) == "299"


@pytest.mark.anyio
async def test_the_same_rows_again_leave_the_table_alone() -> None:
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(MeasuredTable)
        data, keys = rows(100)
        refill(table, data, keys)
        await pilot.pause()
        before = table._update_count  # noqa: SLF001 - DataTable's own change counter
        refill(table, list(data), list(keys))
        assert table._update_count == before  # noqa: SLF001


@pytest.mark.anyio
async def test_a_new_set_of_rows_drops_the_old_ones_kept_for_later() -> None:
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(MeasuredTable)
        table.set_rows(*rows(300))
        table.set_rows([("a", "a")], ["a"])
        await pilot.pause()
        assert table.row_count == 1 and table.total_rows == 1


MARGIN = MeasuredTable.MARGIN


def test_a_low_priority_read_runs_in_a_thread_of_its_own_and_hands_back_its_result() -> None:
    def read() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS,
                                                         threading.get_native_id())

    thread, niceness = at_low_priority(read)
    assert thread != threading.get_native_id()
    if sys.platform == "linux":
        assert niceness == LOWEST_PRIORITY
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOWEST_PRIORITY


def test_a_low_priority_read_that_fails_raises_in_the_caller() -> None:
    def read() -> None:
        raise ValueError("no such table")

    with pytest.raises(ValueError, match="no such table"):
        at_low_priority(read)
