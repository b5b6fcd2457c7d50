"""The console's flows, driven by Textual's pilot against a real database copy."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, Tree

from storage import open_database
from tests.tui.conftest import HOSTILE_EVENT, HOSTILE_USER
from tui.app import OttwatchApp
from tui.views.drilldown import DrillDown

pytestmark = pytest.mark.anyio
LEVELS_AT_LEAST_MEDIUM = {"medium", "high", "critical"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle(pilot: Pilot) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if not any(w.is_running for w in pilot.app.workers):
            break
    await pilot.pause(0.1)


def app_on(db: Path, **kwargs) -> OttwatchApp:  # noqa: ANN003
    return OttwatchApp(open_database(f"sqlite:///{db}"), database="console.db",
                       refresh_s=3600, **kwargs)


def column(table: DataTable, name: str) -> list[str]:
    index = [c.label.plain for c in table.columns.values()].index(name)
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


def screen_text(screen) -> str:  # noqa: ANN001
    """What the screen's Static widgets hold, rendered as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    for widget in screen.query(Static):
        console.print(widget.content)
    return console.export_text()


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_filter_the_stream_by_level_and_user(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")  # every event, not only those that scored
        await settle(pilot)
        table = pilot.app.query_one("#stream", DataTable)
        everything = table.row_count
        await pilot.press("slash", *"level:medium", "enter")
        await settle(pilot)
        levels = set(column(table, "level"))
        assert levels and levels <= LEVELS_AT_LEAST_MEDIUM
        assert table.row_count < everything
        await pilot.press("slash")
        pilot.app.focused.value = ""
        await pilot.press(*"user:x-stuffed", "enter")
        await settle(pilot)
        assert set(column(table, "user")) == {"x-stuffed"} and table.row_count == 6
        await pilot.press("slash")
        pilot.app.focused.value = ""
        await pilot.press(*"colour:red", "enter")
        await settle(pilot)
        assert table.row_count == 6  # a bad filter is refused, the old one stays


async def test_drill_into_a_user_and_label_an_event(console_db: Path) -> None:
    async with app_on(console_db, user_id="x-ato").run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(pilot.app.screen, DrillDown)
        timeline = pilot.app.screen.query_one("#timeline", DataTable)
        assert timeline.row_count == 5
        assert "account.takeover_pattern" in column(timeline, "top reason")
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")  # the hostile event scored 0
        await settle(pilot)
        await pilot.press("enter")  # the newest row: the hostile event
        await settle(pilot)
        await pilot.press("b", *"looked fine", "enter")
        await settle(pilot)
    assert rows(console_db, "SELECT event_id, label, note FROM labels WHERE created_by != 'alice'"
                ) == [(HOSTILE_EVENT, "benign", "looked fine")]
    assert rows(console_db, "SELECT action, target FROM audit ORDER BY id DESC LIMIT 1") == [
        ("label", HOSTILE_EVENT)]


async def test_untrusted_strings_are_shown_literally(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")  # the hostile event scored 0
        await settle(pilot)
        assert HOSTILE_USER in column(pilot.app.query_one("#stream", DataTable), "user")
        await pilot.press("enter")
        await settle(pilot)
        shown = screen_text(pilot.app.screen)
        assert HOSTILE_USER in shown and "[bold]dev[/bold]" in shown
        assert "\\u001b]0;pwned\\u0007" in shown and "\x1b" not in shown  # JSON-escaped
        assert "[link=http://evil]" in shown


async def test_silence_an_alert(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = pilot.app.query_one("#alerts-table", DataTable)
        assert table.row_count > 0
        await pilot.press("s", *"forever and ever", "enter")  # no duration: refused
        await settle(pilot)
        assert rows(console_db, "SELECT COUNT(*) FROM silences") == [(0,)]
        pilot.app.focused.value = ""
        await pilot.press(*"2h known incident", "enter")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
    [(reason, span)] = rows(console_db, "SELECT reason, expires_at - created_at FROM silences")
    assert reason == "known incident" and span == 7200
    actions = [a for (a,) in rows(console_db, "SELECT action FROM audit ORDER BY id")]
    assert actions[-2:] == ["alert.silence", "alert.ack"]


async def test_expand_a_ring_and_open_a_member(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        tree = pilot.app.query_one("#rings-tree", Tree)
        ring = tree.root.children[0]
        assert "8 accounts" in str(ring.label)
        tree.move_cursor(ring)
        await pilot.press("enter")  # expand the ring under the cursor
        await settle(pilot)
        assert ring.is_expanded
        members = next(n for n in ring.children if str(n.label).startswith("members"))
        assert sorted(str(m.label) for m in members.children) == [f"x-ring-{n}" for n in range(8)]
        tree.select_node(members.children[0])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DrillDown)
        assert pilot.app.screen.user_id == "x-ring-0"


async def test_retrain_reaches_the_running_agent_and_the_new_version_shows(
        console_db: Path, tmp_path: Path, agent_process) -> None:  # noqa: ANN001
    log = tmp_path / "quiet.jsonl"
    log.write_text("", encoding="utf-8")
    agent = agent_process(str(log), "--db", str(console_db))
    agent.wait_for(lambda: rows(console_db, "SELECT COUNT(*) FROM heartbeat") == [(1,)],
                   what="the agent's heartbeat")
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        view = pilot.app.query_one("#models-view")
        table = pilot.app.query_one("#models-table", DataTable)
        assert table.row_count == 0
        await pilot.press("r")
        for _ in range(600):  # up to about two minutes on a loaded machine
            view.refresh_data()
            await settle(pilot)
            if "done" in str(pilot.app.query_one("#models-command", Static).content):
                break
            agent.assert_alive()
        status = str(pilot.app.query_one("#models-command", Static).content)
        assert "retrain #" in status and "done" in status, status
        assert "ensemble" in column(table, "model")
        assert "active" in column(table, "status")
    assert rows(console_db, "SELECT kind, status FROM commands") == [("retrain", "done")]
    assert agent.stop() == 0
